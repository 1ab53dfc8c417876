/**
 * How many events came in this window of `windowMs` and the one before it (one that ran on for
 * less than two windows' time), on the monotonic clock.
 */
export class RecentCount {
  #windowStart = 0
  #inWindow = 0
  #before = 0

  constructor (private readonly windowMs: number) {}

  /** Counts one at `now` (performance.now()) and returns the count. */
  add (now: number): number {
    if (now - this.#windowStart >= this.windowMs) {
      this.#before = now - this.#windowStart < 2 * this.windowMs ? this.#inWindow : 0
      this.#windowStart = now
      this.#inWindow = 0
    }
    return this.#before + ++this.#inWindow
  }
}
