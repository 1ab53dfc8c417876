import type { Redis } from 'ioredis'
import { RedisDoubt } from '../lib/redis-doubt.js'

const KEY_PREFIX = 'postline-write-position:'
/** Stores the larger of the stored and the given position, so that concurrent writes never lower it. */
const RAISE_SCRIPT = `local stored = tonumber(redis.call('GET', KEYS[1]))
if stored == nil or stored < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) else redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 1`
/** Users whose positions one process remembers without Redis: the most recent writers. */
const LOCAL_LIMIT = 100_000

/**
 * The primary's WAL position after each user's last write: a replica may answer that user's
 * reads once it has replayed it. In Redis when REDIS_URL is set (so every process and host
 * sees every write), else in this process's memory. Remembered for `keepMs`: by then a replica
 * that has not replayed it trails by more than reads allow, and is skipped anyway.
 */
export class WritePositions {
  readonly #redis: Redis | undefined
  readonly #keepMs: number
  readonly #local = new Map<number, { position: number, until: number }>()
  /** The highest position forgotten to make room: a user without one of their own is held to it. */
  #forgotten = 0
  /** While no position counts as known: Redis has just (re)connected, or failed to keep one. */
  readonly #doubt: RedisDoubt | undefined

  /**
   * `doubtMs`: how long every position counts as unknown (reads go to the primary) after Redis
   * connects again (it may have restarted empty, or missed the positions of writes made while
   * it was away) and after a position could not be kept: as long as a replica may trail.
   */
  constructor (redis: Redis | undefined, keepMs: number, { doubtMs = 0 } = {}) {
    this.#redis = redis
    this.#keepMs = keepMs
    this.#doubt = redis && new RedisDoubt(redis, doubtMs)
  }

  async record (userId: number, position: number): Promise<void> {
    if (this.#redis) {
      try {
        await this.#redis.eval(RAISE_SCRIPT, 1, KEY_PREFIX + userId, position, this.#keepMs)
      } catch (err) {
        this.#doubt!.raise()
        throw err
      }
      return
    }
    const known = this.#local.get(userId)
    this.#local.delete(userId)
    this.#local.set(userId, { position: Math.max(position, known?.position ?? 0), until: Date.now() + this.#keepMs })
    if (this.#local.size > LOCAL_LIMIT) {
      const [oldest, { position: dropped }] = this.#local.entries().next().value!
      this.#local.delete(oldest)
      this.#forgotten = Math.max(this.#forgotten, dropped)
    }
  }

  /** The user's last write position; 0 when none is remembered; Infinity when it cannot be known (Redis is down, or just back). */
  async lastOf (userId: number): Promise<number> {
    if (this.#redis) {
      if (this.#doubt!.doubted) return Number.POSITIVE_INFINITY
      try {
        const stored = await this.#redis.get(KEY_PREFIX + userId)
        return stored === null ? 0 : Number(stored)
      } catch {
        return Number.POSITIVE_INFINITY
      }
    }
    const known = this.#local.get(userId)
    return known && known.until > Date.now() ? known.position : this.#forgotten
  }
}
