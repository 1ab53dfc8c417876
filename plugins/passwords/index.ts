import fp from 'fastify-plugin'
import { PasswordPool } from './pool.js'
import type { AppOptions } from '../../lib/config.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** bcrypt hashing and checking, off the event loop at low priority. */
    passwords: PasswordPool
  }
}

export default fp<AppOptions>(async function passwords (fastify, opts) {
  // Asked to stop while starting: no workers to start and stop again.
  opts.stopping?.throwIfAborted()
  const pool = new PasswordPool(fastify.config.BCRYPT_WORKERS)
  try {
    await pool.ready
  } catch (err) {
    await pool.close()
    throw err
  }
  fastify.decorate('passwords', pool)
  fastify.addHook('onClose', () => pool.close())
}, { name: 'passwords', dependencies: ['config'] })
