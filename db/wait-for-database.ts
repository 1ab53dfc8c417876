import { setTimeout as sleep } from 'node:timers/promises'
import { withClient } from './client.js'
import { isConnectionFailure } from './errors.js'
import { StartupError } from '../lib/startup-error.js'

export class DatabaseUnreachableError extends StartupError {
  name = 'DatabaseUnreachableError'
}

// SQLSTATE invalid_catalog_name: the server answers, but has no database of that name.
const NO_SUCH_DATABASE = '3D000'

/** The one line for a database that does not exist, with the command that makes it (never the password). */
function missingDatabase (url: string): StartupError {
  const { hostname, port, username, pathname } = new URL(url)
  const name = decodeURIComponent(pathname.slice(1))
  const createdb = `createdb -h ${hostname} -p ${port || 5432} -U ${decodeURIComponent(username) || 'postgres'} ${name}`
  return new StartupError(`database "${name}" does not exist on ${hostname}:${port || 5432}: create it (${createdb}) or name another one in DATABASE_URL (or DATABASE_NAME)`)
}

// SQLSTATE class 28, invalid authorization: no such role, a wrong password, no pg_hba entry.
const REFUSED_LOGIN = '28'

/** The one line for a login the server refuses (its reason, never the password). */
function refusedLogin (url: string, err: Error): StartupError {
  const username = decodeURIComponent(new URL(url).username) || 'postgres'
  return new StartupError(`database ${describeDatabase(url)} refuses user "${username}": ${err.message}; set the user and password in DATABASE_URL (or DATABASE_USERNAME and DATABASE_PASSWORD)`)
}

export interface WaitOptions {
  /** Give up after this many seconds (0: one attempt). */
  timeoutSeconds: number
  log: (attempt: { attempt: number, retryInMs: number, reason: string }) => void
  /** First pause between attempts; it doubles up to `maxDelayMs`. */
  firstDelayMs?: number
  maxDelayMs?: number
  /** Stops the waiting (the server was asked to stop): rejects with the signal's reason. */
  signal?: AbortSignal
}

/** host:port/database of a URL, for messages (never its password). */
export function describeDatabase (url: string): string {
  const { hostname, port, pathname } = new URL(url)
  return `${hostname}:${port || 5432}${pathname}`
}

/**
 * Connects once to check the database answers, retrying with backoff while it is unreachable
 * (down, starting up, refusing connections). Any other error (a wrong password, a missing
 * database) is thrown at once: waiting would not fix it.
 */
export async function waitForDatabase (url: string, options: WaitOptions): Promise<void> {
  const deadline = Date.now() + options.timeoutSeconds * 1000
  let delay = options.firstDelayMs ?? 250
  for (let attempt = 1; ; attempt++) {
    options.signal?.throwIfAborted()
    try {
      await withClient(url, client => client.query('select 1'), { connectionTimeoutMillis: 2000 })
      return
    } catch (err) {
      if ((err as { code?: string }).code === NO_SUCH_DATABASE) throw missingDatabase(url)
      if ((err as { code?: string }).code?.startsWith(REFUSED_LOGIN)) throw refusedLogin(url, err as Error)
      if (!isConnectionFailure(err as Error)) throw err
      const reason = (err as Error).message || (err as { code?: string }).code || 'unreachable'
      const left = deadline - Date.now()
      if (left <= 0) {
        throw new DatabaseUnreachableError(`database ${describeDatabase(url)} unreachable after ${attempt} attempt${attempt === 1 ? '' : 's'} in ${options.timeoutSeconds} s (DB_CONNECT_TIMEOUT): ${reason}`)
      }
      const retryInMs = Math.min(delay, left)
      options.log({ attempt, retryInMs, reason })
      await sleep(retryInMs, undefined, { signal: options.signal })
      delay = Math.min(delay * 2, options.maxDelayMs ?? 5000)
    }
  }
}
