import fastifyPostgres from '@fastify/postgres'
import fp from 'fastify-plugin'
import { pgWithLimitedPool } from '../db/limited-pool.js'
import { poolOptions } from '../db/pool-options.js'
import { prepareDatabase } from '../db/prepare-database.js'
import type { AppOptions } from '../lib/config.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** The primary itself (DATABASE_DIRECT_URL when the pool's is a pooler): for long sessions such as the change feed. */
    directDatabaseUrl: string
  }
}

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
  // (The pool drops a connection whose query failed.)
  await fastify.register(fastifyPostgres, { ...poolOptions(config), connectionString: database.url, pg: pgWithLimitedPool })
  fastify.decorate('directDatabaseUrl', database.directUrl)
  // A pool's idle connection that fails (the server restarted) is dropped by pg; without a
  // listener its error event would end the process.
  fastify.pg.pool.on('error', err => log.warn({ err: { message: err.message } }, 'idle database connection closed'))
}, { name: 'db', dependencies: ['config'] })
