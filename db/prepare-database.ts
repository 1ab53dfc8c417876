import type { Config } from '../lib/config.js'
import { resolveDatabase, type Database } from './database.js'
import { migrateUrl } from './migrate.js'
import { describeDatabase, waitForDatabase } from './wait-for-database.js'

/** Where start-up says what it does (the server's logger). */
export interface StartupLog {
  info: (details: object, message: string) => void
  warn: (details: object, message: string) => void
  debug: (message: string) => void
}

export interface PrepareOptions {
  /** Apply pending migrations. */
  migrate?: boolean
  /** Aborted when the server is asked to stop while starting. */
  signal?: AbortSignal
  log: StartupLog
}

/**
 * The database the server will use, ready: found or started (embedded), answering, migrated.
 * A stop asked for meanwhile stops the embedded PostgreSQL at once (a migration under way
 * rolls back) and start-up fails fast with the stop's reason, rather than finishing first.
 */
export async function prepareDatabase (config: Config, { migrate = false, signal, log }: PrepareOptions): Promise<Database> {
  const database = await resolveDatabase(config, message => log.info({}, message), { signal })
  const stopDatabase = () => { database.stop?.().catch(() => {}) }
  signal?.addEventListener('abort', stopDatabase, { once: true })
  try {
    if (!database.stop) {
      await waitForDatabase(database.url, {
        timeoutSeconds: config.DB_CONNECT_TIMEOUT,
        signal,
        log: attempt => log.warn({ database: describeDatabase(database.url), ...attempt }, 'database unreachable: retrying')
      })
    }
    if (migrate) {
      signal?.throwIfAborted()
      const applied = await migrateUrl(database.directUrl, 'up', message => log.debug(message))
      if (applied.length) log.info({ migrations: applied }, 'applied database migrations')
    }
    signal?.throwIfAborted()
    return database
  } catch (err) {
    await database.stop?.()
    throw signal?.aborted ? signal.reason : err
  } finally {
    signal?.removeEventListener('abort', stopDatabase)
  }
}
