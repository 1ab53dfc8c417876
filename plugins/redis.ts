import fp from 'fastify-plugin'
import { Redis } from 'ioredis'

declare module 'fastify' {
  interface FastifyInstance {
    /** The Redis that REDIS_URL names, shared by every process; undefined when none is set. */
    redis: Redis | undefined
  }
}

/** How long a request may wait for any one Redis command before going on without it. */
export const REDIS_COMMAND_TIMEOUT_MS = 250

/**
 * One Redis client per process, for the state every process must see alike: rate-limit counts
 * and each user's last write position. A Redis outage is logged once; what depends on it
 * carries on without it (limits uncounted, reads from the primary).
 */
export default fp(async function redis (fastify) {
  const { config, log } = fastify
  if (!config.REDIS_URL) {
    fastify.decorate('redis', undefined)
    return
  }
  const client = new Redis(config.REDIS_URL, {
    connectTimeout: 500,
    // A Redis that stops answering (frozen, or cut off without a reset) fails each command
    // within this, as one that is down does at once: no request waits on it longer.
    commandTimeout: REDIS_COMMAND_TIMEOUT_MS,
    // While the connection is down, commands fail at once rather than queue for it.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    enableAutoPipelining: true
  })
  let reported = false
  client.on('error', err => {
    if (!reported) log.warn({ err: { message: err.message } }, 'Redis unreachable: rate limits are not counted, and reads go to the primary')
    reported = true
  })
  client.on('ready', () => { reported = false })
  fastify.addHook('onClose', async () => { await client.quit().catch(() => client.disconnect()) })
  // Commands do not queue for the connection: the first requests find it made, if Redis answers.
  await new Promise<void>(resolve => {
    const done = () => { clearTimeout(timer); client.off('ready', done); client.off('error', done); resolve() }
    const timer = setTimeout(done, 1000)
    client.once('ready', done)
    client.once('error', done)
  })
  fastify.decorate('redis', client)
}, { name: 'redis', dependencies: ['config'] })
