import bcrypt from 'bcrypt'
import { readlinkSync } from 'node:fs'
import { setPriority } from 'node:os'
import { parentPort } from 'node:worker_threads'

export type PasswordJob =
  | { id: number, op: 'hash', password: string, rounds: number }
  | { id: number, op: 'compare', password: string, hash: string }

export type PasswordResult = { id: number, value: string | boolean } | { id: number, error: string } | { tid: number | undefined }

// This thread yields the CPU to everything else: under a login flood, requests that need the
// event loop or the database keep their latency and bcrypt gets the cores' idle time.
// On Linux a thread id is accepted where setpriority() takes a pid, and affects that thread only.
let tid: number | undefined
try {
  tid = Number(readlinkSync('/proc/thread-self').split('/').pop())
  setPriority(tid, 19)
} catch {
  tid = undefined
}
parentPort!.postMessage({ tid } satisfies PasswordResult)

/** A stored value that is not a bcrypt hash matches nothing. */
function compare (password: string, hash: string): boolean {
  try {
    return bcrypt.compareSync(password, hash)
  } catch {
    return false
  }
}

parentPort!.on('message', (job: PasswordJob) => {
  try {
    const value = job.op === 'hash' ? bcrypt.hashSync(job.password, job.rounds) : compare(job.password, job.hash)
    parentPort!.postMessage({ id: job.id, value } satisfies PasswordResult)
  } catch (err) {
    parentPort!.postMessage({ id: job.id, error: (err as Error).message } satisfies PasswordResult)
  }
})
