import fp from 'fastify-plugin'
import { Redis } from 'ioredis'

declare module 'fastify' {
  interface FastifyInstance {
    /** The Redis that REDIS_URL names, shared by every process; undefined when none is set. */
    redis: Redis | undefined
  }
}

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
  const client = new Redis(config.REDIS_URL, { connectTimeout: 500, maxRetriesPerRequest: 1, enableAutoPipelining: true })
  let reported = false
  client.on('error', err => {
    if (!reported) log.warn({ err: { message: err.message } }, 'Redis unreachable: rate limits are not counted, and reads go to the primary')
    reported = true
  })
  client.on('ready', () => { reported = false })
  fastify.addHook('onClose', async () => { await client.quit().catch(() => client.disconnect()) })
  fastify.decorate('redis', client)
}, { name: 'redis', dependencies: ['config'] })
