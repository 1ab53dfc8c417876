import { execFileSync } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

/** A target: what is checked, whether it held, and what was measured. */
export type Check = [name: string, ok: boolean, measured: string]

/** The short commit the measured code came from. */
export const currentCommit = () =>
  execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: join(import.meta.dirname, '..') }).toString().trim()

/** The markdown table of the targets. */
export function checksTable (checks: Check[], heading = 'target'): string[] {
  return [
    `| ${heading} | met | measured |`,
    '|---|---|---|',
    ...checks.map(([name, ok, detail]) => `| ${name} | ${ok ? 'yes' : '**no**'} | ${detail} |`)
  ]
}

/** Writes `bench/results/<name>.md` and `<name>.json` (the folder is not in git). */
export function writeResults (name: string, markdown: string, json: unknown): void {
  const out = join(import.meta.dirname, 'results')
  mkdirSync(out, { recursive: true })
  writeFileSync(join(out, `${name}.md`), markdown)
  writeFileSync(join(out, `${name}.json`), JSON.stringify(json, null, 2))
}
