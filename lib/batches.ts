/**
 * Runs work for items in batches, one batch at a time: an item added while a batch runs
 * waits for the next, which starts when that one ends. So a batch's work always begins after
 * each of its items was added, and many waiters share one run.
 */
export class Batches<T, R> {
  #running: Promise<unknown> | undefined
  #next: { items: T[], started: boolean, result: Promise<R> } | undefined

  constructor (private readonly work: (items: T[]) => Promise<R>) {}

  /** Whether a batch runs or waits. */
  get busy (): boolean { return this.#running !== undefined || this.#next !== undefined }

  /**
   * What the run of the batch the item joined answered (or its error); undefined when that batch
   * was still waiting for the one before it after `maxQueueMs` (the item then leaves it).
   */
  add (item: T, maxQueueMs = Infinity): Promise<R | undefined> {
    if (this.#next === undefined) {
      const batch: { items: T[], started: boolean, result: Promise<R> } = { items: [], started: false, result: Promise.resolve() as Promise<R> }
      const start = () => {
        this.#next = undefined
        batch.started = true
        const result = this.work(batch.items)
        const running = result.catch(() => {})
        this.#running = running
        running.then(() => { if (this.#running === running) this.#running = undefined })
        return result
      }
      batch.result = (this.#running ?? Promise.resolve()).then(start)
      this.#next = batch
    }
    const batch = this.#next
    batch.items.push(item)
    if (maxQueueMs === Infinity || this.#running === undefined) return batch.result
    return new Promise<R | undefined>((resolve, reject) => {
      const timer = setTimeout(() => {
        if (batch.started) return
        batch.items.splice(batch.items.indexOf(item), 1)
        resolve(undefined)
      }, maxQueueMs)
      batch.result.then(result => { clearTimeout(timer); resolve(result) }, err => { clearTimeout(timer); reject(err) })
    })
  }
}
