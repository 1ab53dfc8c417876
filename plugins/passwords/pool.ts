import { fork, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { availableParallelism } from 'node:os'
import { fileURLToPath } from 'node:url'

// The protocol of ./worker.js.
type PasswordJob =
  | { id: number, op: 'hash', password: string, rounds: number }
  | { id: number, op: 'compare', password: string, hash: string }
type PasswordResult = { id: number, value: string | boolean } | { id: number, error: string } | { ready: true }

const WORKER = fileURLToPath(new URL('./worker.js', import.meta.url))

const BCRYPT_BASE64 = './ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'

/**
 * A well-formed bcrypt hash of cost `rounds` with a random salt and digest, made without
 * hashing: checking a password against it costs exactly what checking a real one does, and
 * practically nothing matches it. Hashing a dummy password instead held start-up for seconds
 * (tens of seconds on a busy machine, at the workers' lowest priority).
 */
export function unmatchableHash (rounds: number): string {
  const random = Array.from(randomBytes(53), byte => BCRYPT_BASE64[byte & 63]).join('')
  return `$2b$${String(rounds).padStart(2, '0')}$${random}`
}

type Pending = { job: PasswordJob, resolve: (value: string | boolean) => void, reject: (err: Error) => void }

/**
 * bcrypt in child processes of the lowest priority, one per core: it never runs on the event
 * loop, and it only takes CPU time that requests and the database are not using. Processes
 * rather than threads, because Linux shares CPU between sessions (autogroups) before it looks
 * at a thread's nice value: low-priority threads of the server would still take the server's
 * whole share from PostgreSQL. A child that dies is replaced; its job fails.
 */
export class PasswordPool {
  private readonly idle: ChildProcess[] = []
  private readonly running = new Map<ChildProcess, Pending>()
  private readonly queue: Pending[] = []
  private readonly children = new Set<ChildProcess>()
  /** Children that became ready: only those are replaced when they die (no crash loop). */
  private readonly started = new WeakSet<ChildProcess>()
  private nextId = 0
  private closing = false
  /** Resolves with the children's pids once each is ready for work. */
  readonly ready: Promise<number[]>

  constructor (size = availableParallelism()) {
    this.ready = Promise.all(Array.from({ length: size }, () => this.start()))
    // A pool closed before all its workers were up has nobody waiting for `ready`.
    this.ready.catch(() => {})
  }

  /** A hash no password matches that costs `rounds` to compare: for unknown emails at login. */
  unmatchableHash (rounds: number): string {
    return unmatchableHash(rounds)
  }

  hash (password: string, rounds: number): Promise<string> {
    return this.submit({ id: this.nextId++, op: 'hash', password, rounds }) as Promise<string>
  }

  /** False for a wrong password and for a stored value that is not a bcrypt hash. */
  compare (password: string, hash: string): Promise<boolean> {
    return this.submit({ id: this.nextId++, op: 'compare', password, hash }) as Promise<boolean>
  }

  /** The children's pids now (replacements included). */
  get pids (): number[] {
    return [...this.children].map(child => child.pid!)
  }

  async close (): Promise<void> {
    this.closing = true
    for (const pending of this.queue.splice(0)) pending.reject(new Error('the password pool is closed'))
    await Promise.all([...this.children].map(child => {
      const exited = child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : once(child, 'exit')
      child.kill()
      return exited
    }))
  }

  private start (): Promise<number> {
    // A session of its own (detached) so that its CPU share can be lowered on its own.
    const child = fork(WORKER, [], { execArgv: [] /* plain JavaScript: no TypeScript loader */, detached: true, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
    this.children.add(child)
    child.on('message', (message: PasswordResult) => this.settle(child, message))
    child.on('exit', () => this.lost(child))
    return new Promise((resolve, reject) => {
      child.once('error', reject)
      child.once('exit', code => reject(new Error(`the password worker exited (code ${code}) while starting`)))
      child.once('message', () => {
        this.started.add(child)
        resolve(child.pid!)
      })
    })
  }

  private submit (job: PasswordJob): Promise<string | boolean> {
    if (this.closing) return Promise.reject(new Error('the password pool is closed'))
    return new Promise((resolve, reject) => {
      this.queue.push({ job, resolve, reject })
      this.dispatch()
    })
  }

  private dispatch () {
    while (this.idle.length > 0 && this.queue.length > 0) {
      const child = this.idle.pop()!
      const pending = this.queue.shift()!
      this.running.set(child, pending)
      child.send(pending.job)
    }
  }

  private release (child: ChildProcess) {
    this.running.delete(child)
    this.idle.push(child)
    this.dispatch()
  }

  private settle (child: ChildProcess, message: PasswordResult) {
    if ('ready' in message) return this.release(child)
    const pending = this.running.get(child)
    this.release(child)
    if (!pending) return
    if ('error' in message) pending.reject(new Error(message.error))
    else pending.resolve(message.value)
  }

  private lost (child: ChildProcess) {
    this.children.delete(child)
    const index = this.idle.indexOf(child)
    if (index !== -1) this.idle.splice(index, 1)
    this.running.get(child)?.reject(new Error('the password worker exited'))
    this.running.delete(child)
    if (!this.closing && this.started.has(child)) this.start().catch(() => {})
  }
}
