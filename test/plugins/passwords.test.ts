import bcrypt from 'bcrypt'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { readFileSync } from 'node:fs'
import { availableParallelism, getPriority } from 'node:os'
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { PasswordPool } from '../../plugins/passwords/pool.js'
import { build } from '../helpers/app.js'
import { alive } from '../helpers/server-process.js'

/** The session id of a process, from /proc (Linux). */
const sessionOf = (pid: number) => Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[3])

t.test('hashes and checks bcrypt passwords off the event loop', async t => {
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

t.test('more jobs than workers all complete, each with its own answer', async t => {
  const pool = new PasswordPool(2)
  t.teardown(() => pool.close())
  const passwords = Array.from({ length: 9 }, (_v, i) => `password-${i}`)
  const hashes = await Promise.all(passwords.map(password => pool.hash(password, 4)))
  const checks = await Promise.all(passwords.map((password, i) => pool.compare(password, hashes[(i + 1) % hashes.length]!)))
  t.strictSame(checks, passwords.map(() => false), 'no answer is given to another job')
  t.strictSame(await Promise.all(passwords.map((password, i) => pool.compare(password, hashes[i]!))), passwords.map(() => true))
})

t.test('the workers are processes of the lowest priority, in sessions of their own', { skip: process.platform !== 'linux' && 'priorities are read from Linux' }, async t => {
  const before = getPriority(process.pid)
  const pool = new PasswordPool(2)
  t.teardown(() => pool.close())
  const pids = await pool.ready
  t.equal(pids.length, 2)
  for (const pid of pids) {
    t.not(pid, process.pid, 'not the event loop\'s process')
    t.equal(getPriority(pid), 19, 'nice 19')
    t.not(sessionOf(pid), sessionOf(process.pid), 'a session of its own')
    let autogroup = ''
    try {
      autogroup = readFileSync(`/proc/${pid}/autogroup`, 'utf8')
    } catch {}
    if (autogroup) t.match(autogroup, /nice 19/, 'its session\'s CPU group is lowered too')
  }
  t.equal(getPriority(process.pid), before, 'the event loop keeps its priority')
})

t.test('a worker that dies fails its job only, and is replaced', async t => {
  const pool = new PasswordPool(1)
  t.teardown(() => pool.close())
  const [first] = await pool.ready
  const job = pool.hash('slow password', 14)
  await sleep(100)
  process.kill(first!, 'SIGKILL')
  await t.rejects(job, /exited/, 'the running job fails')
  const hash = await pool.hash('next password', 4)
  t.equal(await bcrypt.compare('next password', hash), true, 'the pool still works')
  t.not(pool.pids[0], first, 'with a new worker')
})

t.test('close() ends every worker, and later jobs are refused', async t => {
  const pool = new PasswordPool(2)
  const pids = await pool.ready
  await pool.close()
  t.strictSame(pids.map(alive), [false, false])
  await t.rejects(pool.hash('x', 4), /closed/)
})

t.test('the workers exit when the server is killed', { skip: process.platform === 'win32' && 'POSIX signals' }, async t => {
  const script = `import { PasswordPool } from './plugins/passwords/pool.ts'
const pool = new PasswordPool(2)
console.log(JSON.stringify(await pool.ready))
setInterval(() => {}, 1000)`
  const server = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] })
  const [line] = await once(server.stdout!, 'data') as [Buffer]
  const pids = JSON.parse(line.toString()) as number[]
  t.strictSame(pids.map(alive), [true, true])
  server.kill('SIGKILL')
  for (let i = 0; i < 50 && pids.some(alive); i++) await sleep(100)
  t.strictSame(pids.map(alive), [false, false], 'no orphan left behind')
})

t.test('the app\'s pool has BCRYPT_WORKERS processes, one per core when unset', async t => {
  const three = await build(t, { config: { BCRYPT_WORKERS: '3' } })
  t.equal((await three.passwords.ready).length, 3, 'BCRYPT_WORKERS=3')
  const unset = await build(t, { config: { BCRYPT_WORKERS: undefined } })
  t.equal((await unset.passwords.ready).length, availableParallelism(), 'unset: one per core')
})
