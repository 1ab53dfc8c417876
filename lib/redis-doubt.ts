/** What RedisDoubt needs of a Redis client: to hear when it is (again) ready. */
interface ReadyEvents {
  on: (event: 'ready', listener: () => void) => unknown
}

/**
 * Until when what a Redis holds cannot be trusted: for `ms` after it connects again (it may have
 * restarted empty, or missed what was written while it was away), and after `raise` (a command
 * failed). Meanwhile its readers act as if every key said the worst.
 */
export class RedisDoubt {
  #until = 0

  constructor (redis: ReadyEvents, private readonly ms: number) {
    redis.on('ready', () => this.raise())
  }

  /** Doubt for `ms` from now (the constructor's by default), or longer if it already runs on. */
  raise (ms = this.ms): void {
    this.#until = Math.max(this.#until, Date.now() + ms)
  }

  get doubted (): boolean {
    return Date.now() < this.#until
  }
}
