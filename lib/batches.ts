/**
 * Runs work for items in batches, one batch at a time: an item added while a batch runs
 * waits for the next, which starts when that one ends. So a batch's work always begins after
 * each of its items was added, and many waiters share one run.
 */
export class Batches<T, R> {
  #running: Promise<unknown> | undefined
  #runningSince = 0
  #next: { items: T[], result: Promise<R> } | undefined

  constructor (private readonly work: (items: T[]) => Promise<R>) {}

  /** Whether a batch runs or waits. */
  get busy (): boolean { return this.#running !== undefined || this.#next !== undefined }

  /** How long the batch under way has run, in ms (0 when none runs). */
  get runningFor (): number { return this.#running === undefined ? 0 : Date.now() - this.#runningSince }

  /** What the run of the batch the item joined answered (or its error). */
  add (item: T): Promise<R> {
    if (this.#next === undefined) {
      const batch: { items: T[], result: Promise<R> } = { items: [], result: Promise.resolve() as Promise<R> }
      const start = () => {
        this.#next = undefined
        const result = this.work(batch.items)
        const running = result.catch(() => {})
        this.#running = running
        this.#runningSince = Date.now()
        running.then(() => { if (this.#running === running) this.#running = undefined })
        return result
      }
      batch.result = (this.#running ?? Promise.resolve()).then(start)
      this.#next = batch
    }
    this.#next.items.push(item)
    return this.#next.result
  }
}
