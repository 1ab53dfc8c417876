import Fastify, { type FastifyServerOptions } from 'fastify'
import cluster from 'node:cluster'
import { pino } from 'pino'
import app from './app.js'
import { runPrimary } from './lib/cluster.js'
import { serverOptions } from './lib/server-options.js'
import { ConfigError, loadConfig, type Config } from './plugins/config.js'

/** Where a secret could sit in what we log: a request, its headers or body, a user row. */
const REDACTED_PATHS = ['req.headers.authorization', 'headers.authorization', 'req.body.password', 'body.password', 'user.password', 'password']

function loggerOptions (config: Config): FastifyServerOptions['logger'] {
  return {
    level: config.LOG_LEVEL,
    // Named paths only: a `*.password` wildcard made every log line ~50% dearer to write.
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    ...(process.stdout.isTTY ? { transport: { target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' } } } : {})
  }
}

async function start () {
  let config: Config
  try {
    config = loadConfig()
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err
    console.error(err.message)
    process.exit(1)
  }

  if (config.WEB_CONCURRENCY > 1 && cluster.isPrimary) {
    const log = pino(loggerOptions(config) as Exclude<FastifyServerOptions['logger'], boolean | undefined>)
    return runPrimary(config, log).catch(err => {
      log.fatal({ err }, 'start-up failed')
      process.exit(1)
    })
  }

  const fastify = Fastify({ ...serverOptions(config), logger: loggerOptions(config) })
  let closing = false
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      if (closing) return
      closing = true
      fastify.log.info({ signal }, 'shutting down')
      fastify.close().then(() => process.exit(0), (err) => {
        fastify.log.error({ err }, 'shutdown failed')
        process.exit(1)
      })
    })
  }

  try {
    await fastify.register(app, { config, migrate: true })
    await fastify.listen({ host: config.HOST, port: config.PORT })
  } catch (err) {
    fastify.log.fatal({ err }, 'start-up failed')
    await fastify.close().catch(() => {})
    process.exit(1)
  }
}

await start()
