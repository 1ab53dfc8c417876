import fastifyPostgres from '@fastify/postgres'
import fp from 'fastify-plugin'
import { UnnamedStatementsClient } from '../db/client.js'
import { pgTypes } from '../db/pg-types.js'
import { prepareDatabase } from '../db/prepare-database.js'
import type { AppOptions } from '../lib/config.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** The primary itself (DATABASE_DIRECT_URL when the pool's is a pooler): for long sessions such as the change feed. */
    directDatabaseUrl: string
  }
}

/** Far beyond any query Postline runs; reached only when the database has stopped answering. */
const QUERY_TIMEOUT_MS = 5000

/**
 * PostgreSQL (embedded when none is configured), migrated at start-up by MikroORM (loaded only
 * when a migration is pending, and closed once it has run); requests run plain, prepared SQL on `fastify.pg`, a pg pool from
 * @fastify/postgres (measured: the ORM's per-request fork and query layer cost more than the queries).
 */
export default fp<AppOptions>(async function db (fastify, opts) {
  const { config, log } = fastify
  const database = await prepareDatabase(config, { migrate: opts.migrate, signal: opts.stopping, log })

  // Added before the pool: onClose hooks run last-added first, so the pool's connections end
  // before the database stops (else each logs 'terminating connection due to administrator command').
  if (database.stop) fastify.addHook('onClose', database.stop)
  // While the database is down a request waits at most DATABASE_POOL_TIMEOUT for a
  // connection, and while it is frozen at most QUERY_TIMEOUT_MS for an answer, then gets a
  // 503: no request hangs on an outage. (The pool drops a connection whose query failed.)
  await fastify.register(fastifyPostgres, {
    connectionString: database.url,
    max: config.DATABASE_POOL_SIZE,
    connectionTimeoutMillis: config.DATABASE_POOL_TIMEOUT,
    query_timeout: QUERY_TIMEOUT_MS,
    keepAlive: true,
    types: pgTypes,
    ...(config.DATABASE_PREPARED_STATEMENTS ? {} : { Client: UnnamedStatementsClient })
  })
  fastify.decorate('directDatabaseUrl', database.directUrl)
  // A pool's idle connection that fails (the server restarted) is dropped by pg; without a
  // listener its error event would end the process.
  fastify.pg.pool.on('error', err => log.warn({ err: { message: err.message } }, 'idle database connection closed'))
}, { name: 'db', dependencies: ['config'] })
