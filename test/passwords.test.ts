import bcrypt from 'bcrypt'
import { getPriority } from 'node:os'
import { isMainThread } from 'node:worker_threads'
import t from 'tap'
import { PasswordPool } from '../lib/password-pool.js'

t.test('hashes and checks bcrypt passwords on worker threads', async t => {
  const pool = new PasswordPool(2)
  t.teardown(() => pool.close())
  const hash = await pool.hash('correct horse', 4)
  t.match(hash, /^\$2b\$04\$/)
  t.equal(await bcrypt.compare('correct horse', hash), true, 'a standard bcrypt hash')
  t.equal(await pool.compare('correct horse', hash), true)
  t.equal(await pool.compare('wrong horse', hash), false)
  t.equal(await pool.compare('correct horse', 'not a hash'), false, 'a value that is not a hash matches nothing')
  const passlib = (await bcrypt.hash('secret-pass', 4)).replace(/^\$2b\$/, '$2a$')
  t.equal(await pool.compare('secret-pass', passlib), true, '$2a$ hashes verify')
})

t.test('more jobs than threads all complete, each with its own answer', async t => {
  const pool = new PasswordPool(2)
  t.teardown(() => pool.close())
  const passwords = Array.from({ length: 9 }, (_v, i) => `password-${i}`)
  const hashes = await Promise.all(passwords.map(password => pool.hash(password, 4)))
  const checks = await Promise.all(passwords.map((password, i) => pool.compare(password, hashes[(i + 1) % hashes.length]!)))
  t.strictSame(checks, passwords.map(() => false), 'no answer is given to another job')
  t.strictSame(await Promise.all(passwords.map((password, i) => pool.compare(password, hashes[i]!))), passwords.map(() => true))
})

t.test('the threads are not the event loop\'s and run at the lowest priority', { skip: process.platform !== 'linux' && 'thread priorities are read from Linux' }, async t => {
  t.ok(isMainThread)
  const before = getPriority(process.pid)
  const pool = new PasswordPool(2)
  t.teardown(() => pool.close())
  const threadIds = await pool.threadIds
  t.equal(threadIds.length, 2)
  for (const tid of threadIds) {
    t.not(tid, process.pid, 'a thread of its own')
    t.equal(getPriority(tid!), 19, 'nice 19')
  }
  t.equal(getPriority(process.pid), before, 'the event loop keeps its priority')
})
