import Fastify, { type FastifyServerOptions } from 'fastify'
import cluster from 'node:cluster'
import { pino } from 'pino'
import app from './app.js'
import { runPrimary } from './process/cluster.js'
import { listenFailure } from './process/listen-error.js'
import { loggerOptions, serverLoggerOptions, serverOptions } from './process/server-options.js'
import { StartupError } from './lib/startup-error.js'
import { ConfigError, loadConfig, type Config } from './lib/config.js'

/** On SIGTERM in-flight requests get this long to finish; then the process exits 1. */
const SHUTDOWN_TIMEOUT_MS = 10_000
/** A terminal's Ctrl-C and a service manager's stop. */
const STOP_SIGNALS = ['SIGINT', 'SIGTERM'] as const

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
      if (err instanceof StartupError) log.fatal(`start-up failed: ${err.message}`)
      else log.fatal({ err }, 'start-up failed')
      process.exit(1)
    })
  }

  const fastify = Fastify({ ...serverOptions(config), logger: serverLoggerOptions(config) })
  let closing = false
  // A stop asked for while the server is still starting ends it: the wait for the database,
  // initdb, the embedded PostgreSQL's start and the migrations all stop at once.
  const stopping = new AbortController()
  for (const signal of STOP_SIGNALS) {
    process.once(signal, () => {
      if (closing) return
      closing = true
      stopping.abort(new Error(`${signal} during start-up`))
      fastify.log.info({ signal }, 'shutting down')
      // In-flight requests are finished first; one that hangs must not keep the process up.
      setTimeout(() => {
        fastify.log.error(`shutdown took longer than ${SHUTDOWN_TIMEOUT_MS / 1000} s: exiting anyway`)
        process.exit(1)
      }, SHUTDOWN_TIMEOUT_MS).unref()
      fastify.close().then(() => process.exit(0), (err) => {
        fastify.log.error({ err }, 'shutdown failed')
        process.exit(1)
      })
    })
  }

  try {
    await fastify.register(app, { config, migrate: true, stopping: stopping.signal })
    // Asked to stop while starting: the close under way ends the process, without serving.
    if (closing) return
    await fastify.listen({ host: config.HOST, port: config.PORT }).catch(err => {
      throw listenFailure(err, config.HOST, config.PORT) ?? err
    })
  } catch (err) {
    if (closing) return
    if (err instanceof StartupError) fastify.log.fatal(`start-up failed: ${err.message}`)
    else fastify.log.fatal({ err }, 'start-up failed')
    await fastify.close().catch(() => {})
    process.exit(1)
  }
}

await start()
