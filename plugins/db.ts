import fastifyPostgres from '@fastify/postgres'
import { MikroORM } from '@mikro-orm/postgresql'
import fp from 'fastify-plugin'
import { resolveDatabase } from '../db/database.js'
import { migrate } from '../db/migrate.js'
import { pgTypes } from '../db/pg-types.js'
import { describeDatabase, waitForDatabase } from '../db/wait-for-database.js'
import { createOrmConfig } from '../db/orm-config.js'
import type { AppOptions } from '../lib/config.js'

const POOL_CONNECT_TIMEOUT_MS = 1500
/** Far beyond any query Postline runs; reached only when the database has stopped answering. */
const QUERY_TIMEOUT_MS = 5000

declare module 'fastify' {
  interface FastifyInstance {
    orm: MikroORM
  }
}

/**
 * PostgreSQL (embedded when none is configured). MikroORM owns the schema and migrates it;
 * requests run plain, prepared SQL on `fastify.pg`, a pg pool from @fastify/postgres
 * (measured: the ORM's per-request fork and query layer cost more than the queries).
 */
export default fp<AppOptions>(async function db (fastify, opts) {
  const { config, log } = fastify
  const database = await resolveDatabase(config, message => log.info(message), { signal: opts.stopping })
  // A stop asked for from here on stops the embedded PostgreSQL at once: a migration under
  // way is rolled back and start-up fails fast, rather than finishing first.
  const stopDatabase = () => { database.stop?.().catch(() => {}) }
  opts.stopping?.addEventListener('abort', stopDatabase, { once: true })
  let orm: MikroORM | undefined
  try {
    if (!database.stop) {
      await waitForDatabase(database.url, {
        timeoutSeconds: config.DB_CONNECT_TIMEOUT,
        signal: opts.stopping,
        log: attempt => log.warn({ database: describeDatabase(database.url), ...attempt }, 'database unreachable: retrying')
      })
    }
    orm = await MikroORM.init(createOrmConfig(database.url, { poolSize: 1, logger: message => log.debug(message) }))
    if (opts.migrate) {
      opts.stopping?.throwIfAborted()
      const applied = await migrate(orm, database.url)
      if (applied.length) log.info({ migrations: applied }, 'applied database migrations')
    }
    opts.stopping?.throwIfAborted()
  } catch (err) {
    await orm?.close()
    await database.stop?.()
    throw opts.stopping?.aborted ? opts.stopping.reason : err
  } finally {
    opts.stopping?.removeEventListener('abort', stopDatabase)
  }

  fastify.decorate('orm', orm)
  // Added before the pool: onClose hooks run last-added first, so the pool's connections end
  // before the database stops (else each logs 'terminating connection due to administrator command').
  fastify.addHook('onClose', async () => {
    await orm!.close()
    await database.stop?.()
  })
  // While the database is down a request waits at most POOL_CONNECT_TIMEOUT_MS for a
  // connection, and while it is frozen at most QUERY_TIMEOUT_MS for an answer, then gets a
  // 503: no request hangs on an outage. (The pool drops a connection whose query failed.)
  await fastify.register(fastifyPostgres, {
    connectionString: database.url,
    max: config.DATABASE_POOL_SIZE,
    connectionTimeoutMillis: POOL_CONNECT_TIMEOUT_MS,
    query_timeout: QUERY_TIMEOUT_MS,
    keepAlive: true,
    types: pgTypes
  })
  // A pool's idle connection that fails (the server restarted) is dropped by pg; without a
  // listener its error event would end the process.
  fastify.pg.pool.on('error', err => log.warn({ err: { message: err.message } }, 'idle database connection closed'))
}, { name: 'db', dependencies: ['config'] })
