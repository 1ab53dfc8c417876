import type { Config } from '../lib/config.js'
import { UnnamedStatementsClient } from './client.js'
import type { LimitedPoolConfig } from './limited-pool.js'
import { pgTypes } from './pg-types.js'

/** Far beyond any query Postline runs; reached only when the database has stopped answering. */
const QUERY_TIMEOUT_MS = 5000

/**
 * How every pool of the app connects (the primary's, each replica's), for a `LimitedPool`. While
 * a database is down a request waits at most DATABASE_POOL_TIMEOUT for a connection, and while it
 * is frozen at most QUERY_TIMEOUT_MS for an answer, then gets a 503: no request hangs on an outage.
 */
export function poolOptions (config: Config): LimitedPoolConfig {
  return {
    max: config.DATABASE_POOL_SIZE,
    connectionTimeoutMillis: config.DATABASE_POOL_TIMEOUT,
    checkoutLimitMillis: QUERY_TIMEOUT_MS,
    keepAlive: true,
    types: pgTypes,
    ...(config.DATABASE_PREPARED_STATEMENTS ? {} : { Client: UnnamedStatementsClient })
  }
}
