// bcrypt for pool.ts, in a child process of its own. Plain JavaScript on purpose:
// the child then runs without the TypeScript loader, which cost ~30 MB of memory.
// Messages in: { id, op: 'hash', password, rounds } or { id, op: 'compare', password, hash }.
// Messages out: first { ready: true }, then { id, value } or { id, error } per job.
import bcrypt from 'bcrypt'
import { writeFileSync } from 'node:fs'
import { setPriority } from 'node:os'

// This process yields the CPU to everything else: under a login flood, requests that need the
// event loop or the database keep their latency and bcrypt gets the cores' idle time.
// The pool starts it in a session of its own; where Linux groups CPU time by session
// (autogroup), that group is lowered too, or a nice value would only count inside it.
setPriority(19)
try {
  writeFileSync('/proc/self/autogroup', '19')
} catch {}

// The server is gone (even if killed): so is this process.
process.on('disconnect', () => process.exit(0))

/** A stored value that is not a bcrypt hash matches nothing. */
function compare (password, hash) {
  try {
    return bcrypt.compareSync(password, hash)
  } catch {
    return false
  }
}

process.on('message', job => {
  try {
    const value = job.op === 'hash' ? bcrypt.hashSync(job.password, job.rounds) : compare(job.password, job.hash)
    process.send({ id: job.id, value })
  } catch (err) {
    process.send({ id: job.id, error: err.message })
  }
})
process.send({ ready: true })
