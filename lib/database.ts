import { accessSync, constants, mkdirSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import type { Config } from '../plugins/config.js'
import { startEmbeddedPostgres } from './embedded-postgres.js'
import { StartupError } from './startup-error.js'

const PROJECT_DIR = resolve(import.meta.dirname, '..')

export interface Database {
  url: string
  /** Set when Postline started the database itself and must stop it. */
  stop?: () => Promise<void>
}

const PART_KEYS = ['DATABASE_HOSTNAME', 'DATABASE_PORT', 'DATABASE_NAME', 'DATABASE_USERNAME', 'DATABASE_PASSWORD'] as const

/** DATABASE_URL wins; then the course's five DATABASE_* parts; with neither, an embedded PostgreSQL under `.data/`. */
export async function resolveDatabase (config: Config, log: (message: string) => void): Promise<Database> {
  if (config.DATABASE_URL) return { url: config.DATABASE_URL }
  if (PART_KEYS.some(key => config[key] !== undefined)) {
    const url = new URL('postgresql://localhost')
    url.hostname = config.DATABASE_HOSTNAME ?? 'localhost'
    url.port = String(config.DATABASE_PORT ?? 5432)
    url.username = encodeURIComponent(config.DATABASE_USERNAME ?? 'postgres')
    url.password = encodeURIComponent(config.DATABASE_PASSWORD ?? '')
    url.pathname = `/${encodeURIComponent(config.DATABASE_NAME ?? 'postline')}`
    return { url: url.toString() }
  }
  log('no database configured: starting the embedded PostgreSQL')
  const port = config.EMBEDDED_POSTGRES_PORT
  // A relative folder is the project's, wherever the server was started from.
  const dataDir = resolve(PROJECT_DIR, config.EMBEDDED_POSTGRES_DIR)
  try {
    mkdirSync(dirname(dataDir), { recursive: true })
    accessSync(dirname(dataDir), constants.W_OK)
  } catch (err) {
    throw new StartupError(`no database is configured, and the embedded PostgreSQL cannot keep its data in ${dataDir} (${(err as Error).message}): set DATABASE_URL, or EMBEDDED_POSTGRES_DIR to a writable folder`)
  }
  const embedded = await startEmbeddedPostgres({ dataDir, port, database: 'postline', log })
  log(`embedded PostgreSQL is serving ${embedded.dataDir} on 127.0.0.1:${port}`)
  return embedded
}
