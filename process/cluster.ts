import cluster, { type Worker } from 'node:cluster'
import type { Logger } from 'pino'
import type { Config } from '../lib/config.js'
import { resolveDatabase } from '../db/database.js'

// A worker that dies within this long of starting is failing at start-up: wait before the next.
const CRASH_LOOP_MS = 5_000
const SHUTDOWN_MS = 10_000

/**
 * `WEB_CONCURRENCY` > 1: the primary owns the database (starting the embedded one if none is
 * configured) and forks that many workers sharing the port, as gunicorn's `-w` does. A worker
 * that dies is replaced; SIGTERM or SIGINT stops the workers gracefully, then the primary.
 */
export async function runPrimary (config: Config, log: Logger): Promise<void> {
  const stopping = new AbortController()
  // The signal handlers come first: a stop while the embedded PostgreSQL starts must stop it too.
  const starting = resolveDatabase(config, message => log.info(message), { signal: stopping.signal })
    .catch(err => {
      if (stopping.signal.aborted) return undefined
      throw err
    })
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      if (stopping.signal.aborted) return
      stopping.abort(new Error(`${signal} during start-up`))
      log.info({ signal }, 'stopping workers')
      const workers = Object.values(cluster.workers ?? {}).filter(worker => worker !== undefined)
      const exited = workers.map(worker => new Promise(resolve => worker.once('exit', resolve)))
      for (const worker of workers) worker.process.kill('SIGTERM')
      const deadline = setTimeout(() => {
        log.error('workers did not stop in time: killing them')
        for (const worker of workers) worker.process.kill('SIGKILL')
      }, SHUTDOWN_MS)
      Promise.all(exited)
        .then(() => starting.catch(() => undefined))
        .then(database => database?.stop?.())
        .then(() => { clearTimeout(deadline); process.exit() /* 0, or 1 after a failed start */ }, err => {
          log.error({ err }, 'shutdown failed')
          process.exit(1)
        })
    })
  }

  const database = await starting
  // Asked to stop while starting: the handler above stops the database and exits.
  if (!database || stopping.signal.aborted) return
  const env = { DATABASE_URL: database.url }
  const started = new Map<Worker, number>()
  // Until one worker serves, a worker that dies is a start-up failure (it said why): the
  // primary gives up with it instead of starting another every CRASH_LOOP_MS for ever.
  let served = false
  cluster.once('listening', () => { served = true })

  const fork = () => {
    const worker = cluster.fork(env)
    started.set(worker, Date.now())
  }

  cluster.on('exit', (worker, code, signal) => {
    const lived = Date.now() - (started.get(worker) ?? 0)
    started.delete(worker)
    if (stopping.signal.aborted) return
    if (!served) {
      log.fatal({ worker: worker.process.pid, code, signal }, 'start-up failed: a worker could not start (its reason is above)')
      // The stop below (the workers, then the database) then exits with this code.
      process.exitCode = 1
      process.kill(process.pid, 'SIGTERM')
      return
    }
    log.error({ worker: worker.process.pid, code, signal }, 'worker died: starting another')
    setTimeout(fork, lived < CRASH_LOOP_MS ? CRASH_LOOP_MS - lived : 0)
  })

  for (let i = 0; i < config.WEB_CONCURRENCY; i++) fork()
  log.info({ workers: config.WEB_CONCURRENCY }, 'primary started')
}
