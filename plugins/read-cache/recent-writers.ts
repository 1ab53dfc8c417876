import type { Redis } from 'ioredis'

const KEY_PREFIX = 'postline-wrote:'

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

  constructor (redis: Redis, windowMs: number) {
    this.#redis = redis
    this.#windowMs = windowMs
    redis.on('ready', () => { this.#doubtedUntil = Date.now() + windowMs })
  }

  /** Before the write's answer leaves; rejects when Redis could not keep it. */
  async wrote (userId: number): Promise<void> {
    await this.#redis.set(KEY_PREFIX + userId, '1', 'PX', this.#windowMs)
  }

  async wroteLately (userId: number): Promise<boolean> {
    if (Date.now() < this.#doubtedUntil) return true
    try {
      return await this.#redis.exists(KEY_PREFIX + userId) === 1
    } catch {
      return true
    }
  }
}
