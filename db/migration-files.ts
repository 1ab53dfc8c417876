import { readdir } from 'node:fs/promises'
import { resolve } from 'node:path'

/** The migrations are TypeScript in the sources and JavaScript once built, like this file. */
export const MIGRATIONS_PREFER_TS = import.meta.url.endsWith('.ts')
const EXTENSION = MIGRATIONS_PREFER_TS ? 'ts' : 'js'

/** Where the migrations live (beside this file), and which of its files they are. */
export const MIGRATIONS_PATH = resolve(import.meta.dirname, 'migrations')
export const MIGRATIONS_GLOB = `!(*.d).${EXTENSION}`
const MIGRATION_FILE = new RegExp(`^(Migration\\w+)\\.${EXTENSION}$`)

/** Where MikroORM records the migrations applied. */
export const MIGRATIONS_TABLE = 'mikro_orm_migrations'

/** The names of the migrations this checkout or build ships, as MikroORM records them (no extension). */
export async function shippedMigrations (): Promise<string[]> {
  const files = await readdir(MIGRATIONS_PATH)
  return files.flatMap(file => MIGRATION_FILE.exec(file)?.[1] ?? []).sort()
}
