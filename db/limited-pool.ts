import pg from 'pg'

export interface LimitedPoolConfig extends pg.PoolConfig {
  /** Ms a connection may stay checked out (a statement, or a transaction) before it is cut. */
  checkoutLimitMillis: number
}

/** Sweeps per limit: a checkout is cut at most this fraction of the limit after it ran out. */
const SWEEPS_PER_LIMIT = 50

/**
 * A pg pool that cuts a connection checked out for longer than `checkoutLimitMillis`: its socket
 * is destroyed, so the statement under way fails with "Connection terminated unexpectedly" (the
 * database is unavailable: a 503) and the pool drops the connection. This is pg's
 * `query_timeout` kept with one timer per pool: pg arms a timer per statement, whose closure holds
 * the statement and its caller, and under load those timers measured a large share of an
 * uncached read's CPU.
 */
export class LimitedPool extends pg.Pool {
  /** Each connection of the pool, and since when it is checked out (0: it is not). */
  readonly #since = new Map<pg.PoolClient, number>()

  constructor ({ checkoutLimitMillis, ...config }: LimitedPoolConfig) {
    super(config)
    // Keys are added and removed with connections only: a request's checkout just updates a value.
    this.on('connect', client => this.#since.set(client, 0))
    this.on('acquire', client => this.#since.set(client, Math.ceil(performance.now())))
    this.on('release', (_err, client) => this.#since.set(client, 0))
    this.on('remove', client => this.#since.delete(client as pg.PoolClient))
    const sweeper = setInterval(() => {
      if (this.ending) clearInterval(sweeper)
      else this.#cut(checkoutLimitMillis)
    }, Math.max(1, Math.ceil(checkoutLimitMillis / SWEEPS_PER_LIMIT)))
    sweeper.unref()
  }

  #cut (limitMillis: number) {
    const now = performance.now()
    for (const [client, since] of this.#since) {
      if (since === 0 || now - since < limitMillis) continue
      this.#since.set(client, 0)
      // A client checked out by `connect()` may have no 'error' listener of its own: the cut must not crash the process.
      client.once('error', () => {})
      client.connection.stream.destroy()
    }
  }
}

/** pg with `LimitedPool` as its Pool: for a plugin that makes its pool from the pg module it is given (@fastify/postgres's `pg`). */
export const pgWithLimitedPool = { ...pg, Pool: LimitedPool }
