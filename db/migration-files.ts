import { readdir } from 'node:fs/promises'
import { resolve } from 'node:path'

const RUNNING_TYPESCRIPT = import.meta.url.endsWith('.ts')

/** Where the migrations live: beside this file, as TypeScript in the sources and JavaScript once built. */
export const MIGRATIONS_PATH = resolve(import.meta.dirname, 'migrations')
export const MIGRATIONS_GLOB = RUNNING_TYPESCRIPT ? '!(*.d).ts' : '!(*.d).js'
export const MIGRATIONS_PREFER_TS = RUNNING_TYPESCRIPT

const MIGRATION_FILE = RUNNING_TYPESCRIPT ? /^(Migration\w+)\.ts$/ : /^(Migration\w+)\.js$/

/** The names of the migrations this checkout or build ships, as MikroORM records them (no extension). */
export async function shippedMigrations (): Promise<string[]> {
  const files = await readdir(MIGRATIONS_PATH)
  return files.flatMap(file => MIGRATION_FILE.exec(file)?.[1] ?? []).sort()
}
