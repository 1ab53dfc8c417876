// bcrypt for lib/password-pool.ts, on a worker thread. Plain JavaScript on purpose: the worker
// then runs without the TypeScript loader, which cost ~30 MB of memory in every worker.
// Messages in: { id, op: 'hash', password, rounds } or { id, op: 'compare', password, hash }.
// Messages out: first { tid }, then { id, value } or { id, error } per job.
import bcrypt from 'bcrypt'
import { readlinkSync } from 'node:fs'
import { setPriority } from 'node:os'
import { parentPort } from 'node:worker_threads'

// This thread yields the CPU to everything else: under a login flood, requests that need the
// event loop or the database keep their latency and bcrypt gets the cores' idle time.
// On Linux a thread id is accepted where setpriority() takes a pid, and affects that thread only.
let tid
try {
  tid = Number(readlinkSync('/proc/thread-self').split('/').pop())
  setPriority(tid, 19)
} catch {
  tid = undefined
}
parentPort.postMessage({ tid })

/** A stored value that is not a bcrypt hash matches nothing. */
function compare (password, hash) {
  try {
    return bcrypt.compareSync(password, hash)
  } catch {
    return false
  }
}

parentPort.on('message', job => {
  try {
    const value = job.op === 'hash' ? bcrypt.hashSync(job.password, job.rounds) : compare(job.password, job.hash)
    parentPort.postMessage({ id: job.id, value })
  } catch (err) {
    parentPort.postMessage({ id: job.id, error: err.message })
  }
})
