import { accessSync, constants, mkdirSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { urlHost, type Config } from '../lib/config.js'
import { EmbeddedPostgresError, embeddedUrl, runningPostmaster, startEmbeddedPostgres, type EmbeddedPostgresProblem } from './embedded-postgres.js'
import { projectRoot } from '../lib/project-root.js'
import { StartupError } from '../lib/startup-error.js'

const PROJECT_DIR = projectRoot()

export interface Database {
  url: string
  /** The primary itself, when `url` is a pooler (DATABASE_DIRECT_URL): for migrations, advisory locks and the change feed. */
  directUrl: string
  /** Set when Postline started the database itself and must stop it. */
  stop?: () => Promise<void>
}

export interface ResolveOptions {
  /** Aborted when the process is asked to stop: starting the embedded PostgreSQL stops too. */
  signal?: AbortSignal
  /**
   * Use the embedded PostgreSQL that another process (a running server) serves from the
   * data folder, rather than failing: for short jobs such as `npm run migrate`.
   */
  shareRunning?: boolean
}

const PART_KEYS = ['DATABASE_HOSTNAME', 'DATABASE_PORT', 'DATABASE_NAME', 'DATABASE_USERNAME', 'DATABASE_PASSWORD'] as const

/** What the operator can do about each embedded PostgreSQL problem. */
const REMEDIES: Record<EmbeddedPostgresProblem, string> = {
  'data-folder-in-use': 'stop the server that uses it (a PostgreSQL left behind by one that crashed: kill -INT <pid>), or set EMBEDDED_POSTGRES_DIR to another folder; npm run migrate works beside a running server',
  'port-taken': 'set EMBEDDED_POSTGRES_PORT to a free port (or DATABASE_URL to a PostgreSQL of your own)',
  failed: 'set DATABASE_URL to use a PostgreSQL of your own instead'
}

/** DATABASE_URL wins; then the course's five DATABASE_* parts; with neither, an embedded PostgreSQL under `.data/`. */
export async function resolveDatabase (config: Config, log: (message: string) => void, options: ResolveOptions = {}): Promise<Database> {
  if (config.DATABASE_URL) return { url: config.DATABASE_URL, directUrl: config.DATABASE_DIRECT_URL ?? config.DATABASE_URL }
  if (PART_KEYS.some(key => config[key] !== undefined)) {
    const url = new URL('postgresql://localhost')
    url.hostname = urlHost(config.DATABASE_HOSTNAME ?? 'localhost')
    url.port = String(config.DATABASE_PORT ?? 5432)
    url.username = encodeURIComponent(config.DATABASE_USERNAME ?? 'postgres')
    url.password = encodeURIComponent(config.DATABASE_PASSWORD ?? '')
    url.pathname = `/${encodeURIComponent(config.DATABASE_NAME ?? 'postline')}`
    return { url: url.toString(), directUrl: config.DATABASE_DIRECT_URL ?? url.toString() }
  }
  const port = config.EMBEDDED_POSTGRES_PORT
  // A relative folder is the project's, wherever the server was started from.
  const dataDir = resolve(PROJECT_DIR, config.EMBEDDED_POSTGRES_DIR)
  try {
    mkdirSync(dirname(dataDir), { recursive: true })
    accessSync(dirname(dataDir), constants.W_OK)
  } catch (err) {
    throw new StartupError(`no database is configured, and the embedded PostgreSQL cannot keep its data in ${dataDir} (${(err as Error).message}): set DATABASE_URL, or EMBEDDED_POSTGRES_DIR to a writable folder`)
  }
  const running = options.shareRunning ? runningPostmaster(dataDir) : undefined
  if (running) {
    log(`no database configured: using the embedded PostgreSQL that process ${running.pid} runs on ${dataDir} (127.0.0.1:${running.port})`)
    const url = embeddedUrl(running.port, 'postline')
    return { url, directUrl: url }
  }
  log('no database configured: starting the embedded PostgreSQL')
  try {
    const embedded = await startEmbeddedPostgres({ dataDir, port, database: 'postline', log, signal: options.signal })
    log(`embedded PostgreSQL is serving ${embedded.dataDir} on 127.0.0.1:${port}`)
    return { url: embedded.url, directUrl: embedded.url, stop: () => embedded.stop() }
  } catch (err) {
    if (err instanceof EmbeddedPostgresError) throw new StartupError(`${err.message}: ${REMEDIES[err.problem]}`)
    throw err
  }
}
