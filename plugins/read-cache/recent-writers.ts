import type { Redis } from 'ioredis'
import { RedisDoubt } from '../../lib/redis-doubt.js'

const KEY_PREFIX = 'postline-wrote:'
const DOUBT_AFTER_FAILURE_MS = 1000

/**
 * The users answered for a write in the last `windowMs`, as every process sees them (in Redis):
 * another process's cache may not have heard of such a write yet, so their reads wait for the
 * change feed. A user is taken to have written lately whenever Redis cannot say otherwise (it
 * fails, or has just come back and may have lost what it held).
 */
export class RecentWriters {
  readonly #redis: Redis
  readonly #windowMs: number
  /** While every user counts as a recent writer. */
  readonly #doubt: RedisDoubt
  readonly #failed: (err: Error) => void
  #failing = false

  /** `failed` hears the first mark that fails, and the first after each one that succeeds. */
  constructor (redis: Redis, windowMs: number, failed: (err: Error) => void) {
    this.#redis = redis
    this.#windowMs = windowMs
    this.#doubt = new RedisDoubt(redis, windowMs)
    this.#failed = failed
  }

  /** Before the write's answer leaves; rejects when Redis could not keep it. */
  async wrote (userId: number): Promise<void> {
    try {
      await this.#redis.set(KEY_PREFIX + userId, '1', 'PX', this.#windowMs)
      this.#failing = false
    } catch (err) {
      this.#doubt.raise()
      if (!this.#failing) this.#failed(err as Error)
      this.#failing = true
      throw err
    }
  }

  async wroteLately (userId: number): Promise<boolean> {
    if (this.#doubt.doubted) return true
    try {
      return await this.#redis.exists(KEY_PREFIX + userId) === 1
    } catch {
      // A Redis that fails (or stops answering) is not asked again for a while: each read
      // would wait for its timeout.
      this.#doubt.raise(DOUBT_AFTER_FAILURE_MS)
      return true
    }
  }
}
