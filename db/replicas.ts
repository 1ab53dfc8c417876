import pg from 'pg'
import type { FastifyBaseLogger } from 'fastify'
import { isConnectionFailure } from './errors.js'
import { LimitedPool, type LimitedPoolConfig } from './limited-pool.js'
import type { ReplicaState, ReplicaStatus } from '../schemas/ready.js'
import { run, type Queryable } from './queries/queryable.js'

/** How often each process asks the primary and every replica how far their WAL has got. */
const POLL_MS = 100
/** A replica that does not answer its poll within this is down. */
const POLL_TIMEOUT_MS = 1000

/**
 * A WAL position as a byte count (exact in a double for the first 8 PiB of WAL). The insert
 * position, not the write position: with synchronous_commit off, a commit's record may not be
 * written yet when its answer leaves, but it is inserted.
 */
const PRIMARY_POSITION_SQL = 'select (pg_current_wal_insert_lsn() - \'0/0\')::float8 as position'
/** What a replica has replayed; null on a server that is not in recovery (a primary reads as fully caught up). */
const REPLAYED_SQL = 'select (pg_last_wal_replay_lsn() - \'0/0\')::float8 as position'

/** What pg_stat_activity (and a replica's log) calls the connections that read, and the one that polls. */
export const REPLICA_READS_APPLICATION = 'postline-read'
const POLL_APPLICATION = 'postline-replica-poll'

interface Replica {
  name: string
  pool: pg.Pool
  /** A connection of its own, so that a poll never waits behind reads. */
  poller: pg.Pool
  state: ReplicaState
  /** The WAL position it had replayed when last asked: what any read sent to it since sees at least. */
  replayed: number
  lagMs: number
  polling: boolean
}

interface Sample { at: number, position: number }

/** Where the primary's WAL stands now: after a write's commit, a position that includes it. */
export async function primaryPosition (primary: Queryable): Promise<number> {
  const [row] = await run<{ position: number }>(primary, 'primary-position', PRIMARY_POSITION_SQL, [])
  return row!.position
}

/** A URL as the logs and /ready may show it: host, port and database, never a password. */
export function databaseName (url: string): string {
  const parsed = new URL(url)
  return `${parsed.hostname}:${parsed.port || '5432'}${parsed.pathname}`
}

/** Whether a replica failed a read in a way the primary would not (it is unreachable, or recovery cancelled the query). */
export function isReplicaFailure (error: unknown): boolean {
  if (!(error instanceof Error)) return false
  if (isConnectionFailure(error)) return true
  // 40001 is a query cancelled for a conflict with recovery; 57014 a statement cancelled on the replica.
  return error instanceof pg.DatabaseError && (error.code === '40001' || error.code === '57014')
}

/**
 * Streaming replicas, each with its own pool, and how far each has replayed the primary's WAL
 * (polled in the background, so a read pays nothing to learn it). `pick` gives a replica that
 * has replayed a given position and trails by no more than the allowed lag, round-robin, or
 * none: the caller then reads from the primary.
 */
export class ReadReplicas {
  readonly #replicas: Replica[]
  readonly #primary: Queryable
  readonly #maxLagMs: number
  readonly #log: FastifyBaseLogger
  /** The primary's recent positions, oldest first: how a replica's position becomes a lag in time. */
  #samples: Sample[] = []
  #next = 0
  #timer: NodeJS.Timeout | undefined

  constructor (urls: string[], primary: Queryable, poolOptions: LimitedPoolConfig, maxLagMs: number, log: FastifyBaseLogger) {
    this.#primary = primary
    this.#maxLagMs = maxLagMs
    this.#log = log
    this.#replicas = urls.map(url => {
      const name = databaseName(url)
      const pool = new LimitedPool({ ...poolOptions, connectionString: url, application_name: REPLICA_READS_APPLICATION })
      const poller = new pg.Pool({ connectionString: url, max: 1, connectionTimeoutMillis: POLL_TIMEOUT_MS, query_timeout: POLL_TIMEOUT_MS, application_name: POLL_APPLICATION })
      pool.on('error', err => log.warn({ err: { message: err.message }, replica: name }, 'idle replica connection closed'))
      poller.on('error', () => {})
      return { name, pool, poller, state: 'starting' as ReplicaState, replayed: -1, lagMs: 0, polling: false }
    })
  }

  /** Polls until `close`; resolves once every replica has been asked once. */
  async start (): Promise<void> {
    await this.#poll()
    this.#timer = setInterval(() => { this.#poll().catch(() => {}) }, POLL_MS).unref()
  }

  /** Whether some replica serves reads now: when none does, a reader's position need not be looked up. */
  serving (): boolean {
    return this.#replicas.some(replica => replica.state === 'up')
  }

  /** A replica whose reads include `position` (every write up to it) and that trails by at most `maxLagMs`, or undefined. */
  pick (position: number, maxLagMs = Number.POSITIVE_INFINITY): Queryable | undefined {
    const count = this.#replicas.length
    for (let i = 0; i < count; i++) {
      const replica = this.#replicas[(this.#next + i) % count]!
      if (replica.state === 'up' && replica.replayed >= position && replica.lagMs <= maxLagMs) {
        this.#next = (this.#next + i + 1) % count
        return replica.pool
      }
    }
    return undefined
  }

  /** A read on `pool` failed as only a replica's can: it is skipped until a poll finds it well. */
  failed (pool: Queryable, error: Error): void {
    const replica = this.#replicas.find(candidate => candidate.pool === pool)
    if (replica && isConnectionFailure(error)) this.#set(replica, 'down', error.message)
  }

  statuses (): ReplicaStatus[] {
    return this.#replicas.map(({ name, state, lagMs }) => state === 'up' || state === 'lagging' ? { name, state, lag_ms: Math.round(lagMs) } : { name, state })
  }

  async close (): Promise<void> {
    clearInterval(this.#timer)
    await Promise.all(this.#replicas.flatMap(replica => [replica.pool, replica.poller].map(pool => pool.end().catch(() => {}))))
  }

  async #poll (): Promise<void> {
    const at = performance.now()
    try {
      this.#remember({ at, position: await primaryPosition(this.#primary) })
    } catch {
      // The primary's own outage is the pool's and /ready's to report; lags are judged on what is known.
    }
    await Promise.all(this.#replicas.map(replica => this.#pollReplica(replica)))
  }

  #remember (sample: Sample): void {
    const last = this.#samples.at(-1)
    if (last && last.position === sample.position) return
    this.#samples.push(sample)
    // Kept for as long as a lag is measured; beyond it a replica counts as lagging anyway.
    const horizon = sample.at - this.#maxLagMs - 1000
    while (this.#samples.length > 1 && this.#samples[0]!.at < horizon) this.#samples.shift()
  }

  /** How long ago the primary first held WAL that `replayed` lacks. */
  #lagOf (replayed: number, now: number): number {
    const behind = this.#samples.find(sample => sample.position > replayed)
    return behind ? now - behind.at : 0
  }

  async #pollReplica (replica: Replica): Promise<void> {
    if (replica.polling) return
    replica.polling = true
    try {
      const { rows } = await replica.poller.query<{ position: number | null }>(REPLAYED_SQL)
      const replayed = rows[0]!.position ?? Number.POSITIVE_INFINITY
      replica.replayed = replayed
      replica.lagMs = this.#lagOf(replayed, performance.now())
      this.#set(replica, replica.lagMs > this.#maxLagMs ? 'lagging' : 'up')
    } catch (err) {
      this.#set(replica, 'down', (err as Error).message)
    } finally {
      replica.polling = false
    }
  }

  #set (replica: Replica, state: ReplicaState, reason?: string): void {
    if (replica.state === state) return
    const was = replica.state
    replica.state = state
    const fields = { replica: replica.name, state, was, ...(reason ? { reason } : {}), ...(state === 'lagging' ? { lag_ms: Math.round(replica.lagMs) } : {}) }
    if (state === 'up') this.#log.info(fields, was === 'starting' ? 'replica serving reads' : 'replica back: serving reads again')
    else this.#log.warn(fields, state === 'down' ? 'replica dropped: reads go elsewhere' : 'replica lagging: reads skip it')
  }
}
