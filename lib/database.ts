import { resolve } from 'node:path'
import type { Config } from '../plugins/config.js'
import { startEmbeddedPostgres } from './embedded-postgres.js'

const EMBEDDED_PORT = 54329
const EMBEDDED_DATA_DIR = resolve(import.meta.dirname, '..', '.data', 'postgres')

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
  const embedded = await startEmbeddedPostgres({ dataDir: EMBEDDED_DATA_DIR, port: EMBEDDED_PORT, database: 'postline', log })
  log(`embedded PostgreSQL is serving ${embedded.dataDir} on 127.0.0.1:${EMBEDDED_PORT}`)
  return embedded
}
