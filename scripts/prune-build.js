// Before an incremental `tsc`: removes from its output folder (dist/, or the one named) each
// compiled file whose source is gone (moved or deleted), which the build leaves behind and
// autoload would still load as a plugin or route.
import { existsSync, readdirSync, rmSync } from 'node:fs'
import { join, relative } from 'node:path'

const root = join(import.meta.dirname, '..')
const output = join(root, process.argv[2] ?? 'dist')

if (existsSync(output)) {
  for (const entry of readdirSync(output, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || !entry.name.endsWith('.js')) continue
    const compiled = join(entry.parentPath, entry.name)
    const source = join(root, relative(output, compiled))
    if (!existsSync(source.replace(/\.js$/, '.ts')) && !existsSync(source)) rmSync(compiled)
  }
}
