import AutoLoad from '@fastify/autoload'
import type { FastifyPluginAsync } from 'fastify'
import { join } from 'node:path'
import type { AppOptions } from './lib/config.js'
import type { PasswordsOptions } from './plugins/passwords/index.js'

export type { AppOptions }

// From its sources Postline runs as TypeScript (tsx, or tap's loader), which autoload cannot
// always detect; built, it is plain JavaScript in dist/.
if (import.meta.url.endsWith('.ts')) process.env.FASTIFY_AUTOLOAD_TYPESCRIPT ??= '1'

/** The whole API as one plugin: cross-cutting plugins first, then one folder per resource. */
const app: FastifyPluginAsync<AppOptions & PasswordsOptions> = async (fastify, opts) => {
  await fastify.register(AutoLoad, {
    dir: join(import.meta.dirname, 'plugins'),
    options: opts,
    forceESM: true
  })
  // Asked to stop while starting: what is loaded closes, the rest is not loaded.
  opts.stopping?.throwIfAborted()
  await fastify.register(AutoLoad, {
    dir: join(import.meta.dirname, 'routes'),
    options: opts,
    autoHooks: true,
    cascadeHooks: true,
    forceESM: true
  })
}

export default app
