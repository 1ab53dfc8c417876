// Before `tsc -b`: removes from dist/ each compiled file whose source is gone (moved or deleted),
// which an incremental build leaves behind and autoload would still load as a plugin or route.
import { existsSync, readdirSync, rmSync } from 'node:fs'
import { join, relative } from 'node:path'

const root = join(import.meta.dirname, '..')
const dist = join(root, 'dist')

if (existsSync(dist)) {
  for (const entry of readdirSync(dist, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || !entry.name.endsWith('.js')) continue
    const compiled = join(entry.parentPath, entry.name)
    const source = join(root, relative(dist, compiled))
    if (!existsSync(source.replace(/\.js$/, '.ts')) && !existsSync(source)) rmSync(compiled)
  }
}
