import { availableParallelism } from 'node:os'
import { Worker } from 'node:worker_threads'

// The protocol of ./password-worker.js.
type PasswordJob =
  | { id: number, op: 'hash', password: string, rounds: number }
  | { id: number, op: 'compare', password: string, hash: string }
type PasswordResult = { id: number, value: string | boolean } | { id: number, error: string } | { tid: number | undefined }

const WORKER = new URL('./password-worker.js', import.meta.url)

type Pending = { job: PasswordJob, resolve: (value: string | boolean) => void, reject: (err: Error) => void }

/**
 * bcrypt on worker threads of lowered priority, one per core: it never runs on the event
 * loop, and it only takes CPU time that requests are not using.
 */
export class PasswordPool {
  private readonly idle: Worker[] = []
  private readonly running = new Map<Worker, Pending>()
  private readonly queue: Pending[] = []
  private readonly workers: Worker[]
  private nextId = 0
  /** The workers' thread ids, once each has started (undefined where the OS has none). */
  readonly threadIds: Promise<Array<number | undefined>>

  constructor (size = availableParallelism()) {
    this.workers = Array.from({ length: size }, () => new Worker(WORKER, { execArgv: [] /* no TypeScript loader: the worker is JavaScript */ }))
    this.threadIds = Promise.all(this.workers.map(worker => new Promise<number | undefined>((resolve, reject) => {
      worker.once('error', reject)
      worker.once('message', (message: { tid: number | undefined }) => resolve(message.tid))
    })))
    for (const worker of this.workers) {
      worker.on('message', (message: PasswordResult) => this.settle(worker, message))
      worker.on('error', err => this.fail(worker, err))
    }
    this.threadIds.then(() => {
      for (const worker of this.workers) this.release(worker)
    }, () => {})
  }

  hash (password: string, rounds: number): Promise<string> {
    return this.submit({ id: this.nextId++, op: 'hash', password, rounds }) as Promise<string>
  }

  /** False for a wrong password and for a stored value that is not a bcrypt hash. */
  compare (password: string, hash: string): Promise<boolean> {
    return this.submit({ id: this.nextId++, op: 'compare', password, hash }) as Promise<boolean>
  }

  async close (): Promise<void> {
    await Promise.all(this.workers.map(worker => worker.terminate()))
  }

  private submit (job: PasswordJob): Promise<string | boolean> {
    return new Promise((resolve, reject) => {
      this.queue.push({ job, resolve, reject })
      this.dispatch()
    })
  }

  private dispatch () {
    while (this.idle.length > 0 && this.queue.length > 0) {
      const worker = this.idle.pop()!
      const pending = this.queue.shift()!
      this.running.set(worker, pending)
      worker.postMessage(pending.job)
    }
  }

  private release (worker: Worker) {
    this.running.delete(worker)
    this.idle.push(worker)
    this.dispatch()
  }

  private settle (worker: Worker, message: PasswordResult) {
    if (!('id' in message)) return
    const pending = this.running.get(worker)
    this.release(worker)
    if (!pending) return
    if ('error' in message) pending.reject(new Error(message.error))
    else pending.resolve(message.value)
  }

  private fail (worker: Worker, err: Error) {
    this.running.get(worker)?.reject(err)
    this.running.delete(worker)
  }
}
