import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'

/** The folder holding package.json: the project's, whether it runs from its sources or from dist/. */
export function projectRoot (from = import.meta.dirname): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir
    if (dirname(dir) === dir) throw new Error(`no package.json above ${from}`)
  }
}
