import fp from 'fastify-plugin'
import { loadConfig, type AppOptions, type Config } from '../lib/config.js'

declare module 'fastify' {
  interface FastifyInstance {
    config: Config
  }
}

/** The validated configuration, as `fastify.config`; tests pass their own in `opts.config`. */
export default fp<AppOptions>(async function config (fastify, opts) {
  fastify.decorate('config', opts.config ?? loadConfig())
}, { name: 'config' })
