import type { Redis } from 'ioredis'

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
  /** Until when every user counts as a recent writer. */
  #doubtedUntil = 0
  /** Whether the last mark failed (a failure is told once, until one succeeds). */
  failing = false

  constructor (redis: Redis, windowMs: number) {
    this.#redis = redis
    this.#windowMs = windowMs
    redis.on('ready', () => this.#doubt(windowMs))
  }

  #doubt (ms: number) {
    this.#doubtedUntil = Math.max(this.#doubtedUntil, Date.now() + ms)
  }

  /** Before the write's answer leaves; rejects when Redis could not keep it. */
  async wrote (userId: number): Promise<void> {
    try {
      await this.#redis.set(KEY_PREFIX + userId, '1', 'PX', this.#windowMs)
      this.failing = false
    } catch (err) {
      this.#doubt(this.#windowMs)
      throw err
    }
  }

  async wroteLately (userId: number): Promise<boolean> {
    if (Date.now() < this.#doubtedUntil) return true
    try {
      return await this.#redis.exists(KEY_PREFIX + userId) === 1
    } catch {
      // A Redis that fails (or stops answering) is not asked again for a while: each read
      // would wait for its timeout.
      this.#doubt(DOUBT_AFTER_FAILURE_MS)
      return true
    }
  }
}
