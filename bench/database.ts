import { resolveDatabase, type Database } from '../db/database.js'
import { ensureDatabase } from '../db/embedded-postgres.js'
import { migrateUrl } from '../db/migrate.js'
import { loadConfig } from '../lib/config.js'

const BENCH_DATABASE = 'postline_bench'

/**
 * The database the benchmarks seed and serve: BENCH_DATABASE_URL when set, otherwise
 * a `postline_bench` database next to the configured one (the embedded PostgreSQL when
 * none is configured), so that seeding never wipes the data the server normally uses.
 * The schema is migrated to the latest version before it is returned.
 */
export async function openBenchDatabase (log: (message: string) => void = console.error): Promise<Database> {
  let database: Database
  if (process.env.BENCH_DATABASE_URL) {
    database = { url: process.env.BENCH_DATABASE_URL, directUrl: process.env.BENCH_DATABASE_URL }
  } else {
    const configured = await resolveDatabase(loadConfig(), log)
    const url = new URL(configured.url)
    url.pathname = `/${BENCH_DATABASE}`
    database = { url: url.toString(), directUrl: url.toString(), stop: configured.stop }
  }
  try {
    await ensureDatabase(database.url)
    await migrateUrl(database.url)
  } catch (err) {
    await database.stop?.()
    throw err
  }
  return database
}
