import fp from 'fastify-plugin'
import { poolOptions } from '../db/pool-options.js'
import { ReadReplicas, isReplicaFailure, primaryPosition } from '../db/replicas.js'
import type { ReplicaStatus } from '../schemas/ready.js'
import type { Caller } from '../db/queries/caller.js'
import type { Queryable } from '../db/queries/queryable.js'
import { WritePositions } from '../db/write-positions.js'
import { InvalidTokenError } from '../lib/http-errors.js'

declare module 'fastify' {
  interface FastifyInstance {
    /**
     * Runs a read on a replica that has replayed every write the caller (when there is one) has
     * been answered for, else on the primary. What a replica may only lack so far is asked of
     * the primary again: an absent row (undefined), a token that no longer stands (a session
     * started moments ago), a failure of the replica itself.
     */
    read: <T>(caller: Caller | null, query: (db: Queryable) => Promise<T>) => Promise<T>
    /** Each replica's state, for /ready; empty without DATABASE_READ_URLS. */
    replicaStatuses: () => ReplicaStatus[]
  }
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS'])

/**
 * How far a replica may trail for a read that checks a token's session: an ended session
 * (by any process, or by a refresh token's reuse, which no user's position records) is then
 * refused within a second everywhere, as on the primary. The lag is polled a few times a
 * second, so this stays well under the second.
 */
const SESSION_CHECK_LAG_MS = 500

/** DATABASE_READ_URLS: reads spread over streaming replicas, each user's own writes always in what they read. */
export default fp(async function replicas (fastify) {
  const { config, log, pg } = fastify
  const urls = config.DATABASE_READ_URLS.split(',').map(url => url.trim()).filter(Boolean)
  if (urls.length === 0) {
    fastify.decorate('read', <T>(_caller: Caller | null, query: (db: Queryable) => Promise<T>) => query(pg))
    fastify.decorate('replicaStatuses', () => [])
    return
  }

  // A replica that stops answering costs a read at most these waits before the primary answers it.
  const options = { ...poolOptions(config), connectionTimeoutMillis: Math.min(config.DATABASE_POOL_TIMEOUT, 1000), checkoutLimitMillis: 2000 }
  const replicas = new ReadReplicas(urls, pg, options, config.DATABASE_READ_MAX_LAG, log)
  // A position is needed only while some replica still lags behind it.
  const positions = new WritePositions(fastify.redis, config.DATABASE_READ_MAX_LAG + 60_000, { doubtMs: config.DATABASE_READ_MAX_LAG })
  fastify.addHook('onClose', () => replicas.close())
  await replicas.start()

  fastify.decorate('read', async function read<T> (caller: Caller | null, query: (db: Queryable) => Promise<T>): Promise<T> {
    if (!replicas.serving()) return query(pg)
    const replica = caller ? replicas.pick(await positions.lastOf(caller.userId), SESSION_CHECK_LAG_MS) : replicas.pick(0)
    if (!replica) return query(pg)
    let answer: T
    try {
      answer = await query(replica)
    } catch (err) {
      if (err instanceof InvalidTokenError) return query(pg)
      if (!isReplicaFailure(err)) throw err
      replicas.failed(replica, err as Error)
      return query(pg)
    }
    return answer === undefined ? query(pg) : answer
  })
  fastify.decorate('replicaStatuses', () => replicas.statuses())

  // Before a write's 2xx leaves, where the primary's WAL then stood is kept as the user's, so
  // that their next read (on any process, given REDIS_URL) waits for a replica that has it.
  fastify.addHook('onSend', async (request, reply, payload) => {
    if (SAFE_METHODS.has(request.method) || reply.statusCode >= 400 || request.caller === null) return payload
    try {
      await positions.record(request.caller.userId, await primaryPosition(pg))
    } catch (err) {
      request.log.warn({ err: { message: (err as Error).message } }, 'the write\'s position could not be kept: this user\'s next reads may miss it on a replica')
    }
    return payload
  })
}, { name: 'replicas', dependencies: ['config', 'db', 'redis'] })
