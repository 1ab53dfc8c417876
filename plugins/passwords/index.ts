import fp from 'fastify-plugin'
import { PasswordPool } from './pool.js'
import type { AppOptions } from '../../lib/config.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** bcrypt hashing and checking, off the event loop at low priority. */
    passwords: PasswordPool
  }
}

export interface PasswordsOptions {
  /** A pool the caller started and closes itself, in place of the app's own (the tests share one between the apps they build). */
  passwordPool?: PasswordPool
}

export default fp<AppOptions & PasswordsOptions>(async function passwords (fastify, opts) {
  if (opts.passwordPool) {
    fastify.decorate('passwords', opts.passwordPool)
    return
  }
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
