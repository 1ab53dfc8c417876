import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { get } from 'node:http'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import pg from 'pg'
import t from 'tap'
import { createTestDatabase } from '../helpers/app.js'
import { alive, freePort, startServer, waitFor } from '../helpers/server-process.js'

const SHUTDOWN_LIMIT_MS = 10_000
const IN_FLIGHT = 50

/** Whether a TCP connection to 127.0.0.1:port is accepted. */
function accepts (port: number): Promise<boolean> {
  return new Promise(resolve => {
    const socket = connect(port, '127.0.0.1')
    socket.setTimeout(1_000, () => socket.destroy(new Error('connect timed out')))
    socket.once('connect', () => {
      socket.destroy()
      resolve(true)
    })
    socket.once('error', () => resolve(false))
  })
}

/** The pids whose parent is `pid` (Linux /proc). */
function children (pid: number): number[] {
  const found: number[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8')
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid) found.push(Number(entry))
    } catch {
      // gone meanwhile
    }
  }
  return found
}

interface Answer { status?: number, body: string, error?: string }

/** GET on a connection of its own (no agent), so each request holds its own socket. */
function request (url: string, token: string): Promise<Answer> {
  return new Promise(resolve => {
    const req = get(url, { agent: false, headers: { authorization: `Bearer ${token}` } }, res => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', chunk => { body += chunk })
      res.on('end', () => resolve({ status: res.statusCode, body }))
      res.on('error', err => resolve({ status: res.statusCode, body, error: err.message }))
    })
    req.on('error', err => resolve({ body: '', error: err.message }))
    req.setTimeout(20_000, () => req.destroy(new Error('no response within 20 s')))
  })
}

async function register (base: string): Promise<string> {
  const email = `shutdown.${process.pid}.${Date.now()}@example.com`
  const password = 'password123'
  const created = await fetch(`${base}/users`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email, password }) })
  if (created.status !== 201) throw new Error(`registration failed: ${created.status} ${await created.text()}`)
  const login = await fetch(`${base}/login`, { method: 'POST', body: new URLSearchParams({ username: email, password }) })
  if (login.status !== 200) throw new Error(`login failed: ${login.status} ${await login.text()}`)
  return (await login.json() as { access_token: string }).access_token
}

t.test(`SIGTERM with ${IN_FLIGHT} requests in flight: the port closes, all of them finish with 200, exit 0`, async t => {
  const databaseUrl = await createTestDatabase(t)
  // A pool larger than the requests held, so that none of them waits for a connection.
  const server = await startServer(t, { DATABASE_URL: databaseUrl, DATABASE_POOL_SIZE: String(IN_FLIGHT + 10), RATE_LIMIT: '0', LOGIN_RATE_LIMIT: '0' })
  const port = Number(new URL(server.url).port)
  const token = await register(server.url)

  const locker = new pg.Client({ connectionString: databaseUrl })
  await locker.connect()
  t.teardown(() => locker.end())
  await locker.query('begin')
  await locker.query('lock table posts in access exclusive mode')

  const answers = Array.from({ length: IN_FLIGHT }, () => request(`${server.url}/posts`, token))
  let settled = 0
  for (const answer of answers) answer.then(() => settled++)
  const waiting = async () => Number((await locker.query("select count(*) as n from pg_locks where relation = 'posts'::regclass and not granted")).rows[0].n)
  const deadline = Date.now() + 15_000
  while (await waiting() < IN_FLIGHT && Date.now() < deadline) await sleep(50)
  t.equal(await waiting(), IN_FLIGHT, `${IN_FLIGHT} requests wait on the locked table`)

  const signalled = performance.now()
  server.child.kill('SIGTERM')
  let refusedAfter: number | undefined
  while (performance.now() - signalled < 3_000) {
    if (!await accepts(port)) {
      refusedAfter = performance.now() - signalled
      break
    }
    await sleep(20)
  }
  t.comment(`new connections refused ${refusedAfter === undefined ? 'never' : `${Math.round(refusedAfter)} ms`} after SIGTERM`)
  t.ok(refusedAfter !== undefined, 'the port stops accepting connections within 3 s of SIGTERM')
  t.equal(server.child.exitCode, null, 'while the process still runs')
  t.equal(settled, 0, 'and the held requests are still in flight')

  // Long enough to see that the process waits for them.
  await sleep(500)
  t.equal(server.child.exitCode, null, 'the process waits for the held requests')
  const released = performance.now()
  await locker.query('commit')

  const results = await waitFor(Promise.all(answers), SHUTDOWN_LIMIT_MS, 'the held requests to be answered')
  const finished = performance.now()
  const wrong = results.filter(answer => answer.status !== 200 || answer.body !== '[]')
  t.same(wrong.slice(0, 5), [], `all ${IN_FLIGHT} held requests are answered 200 [] (${results.length - wrong.length} were)`)

  const exit = await waitFor(server.exited, Math.max(0, SHUTDOWN_LIMIT_MS - (performance.now() - signalled)), () => `the process to exit within 10 s of SIGTERM:\n${server.output()}`)
  const exited = performance.now()
  t.same(exit, { code: 0, signal: null }, 'the process exits with code 0')
  t.comment(`SIGTERM → exit ${Math.round(exited - signalled)} ms (lock released after ${Math.round(released - signalled)} ms; requests done ${Math.round(finished - released)} ms and exit ${Math.round(exited - released)} ms after the release)`)
  t.ok(exited - signalled <= SHUTDOWN_LIMIT_MS, `exit within ${SHUTDOWN_LIMIT_MS} ms of SIGTERM`)
  t.notMatch(server.output(), /shutdown took longer|shutdown failed/, 'no shutdown error is logged')
  // Log lines are written asynchronously: the ones still held as the process ends go out as it exits.
  const lines = server.output().split('\n').filter(line => line.startsWith('{')).map(line => JSON.parse(line) as { msg?: string, url?: string })
  t.equal(lines.filter(line => line.msg === 'request completed' && line.url === '/posts').length, IN_FLIGHT, `a request line for each of the ${IN_FLIGHT} requests answered while stopping`)
})

t.test('embedded mode: SIGTERM stops the server and its PostgreSQL, exit 0', async t => {
  const dir = mkdtempSync(join(tmpdir(), 'postline-shutdown-'))
  const dataDir = join(dir, 'postgres')
  const pidFile = join(dataDir, 'postmaster.pid')
  const port = await freePort()
  t.teardown(async () => {
    // A postmaster left behind by a failure is stopped (fast shutdown) before its folder goes.
    const pid = existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8').split('\n')[0]) : undefined
    if (pid && alive(pid)) {
      process.kill(pid, 'SIGINT')
      for (let i = 0; i < 100 && alive(pid); i++) await sleep(50)
      if (alive(pid)) process.kill(pid, 'SIGKILL')
    }
    rmSync(dir, { recursive: true, force: true })
  })

  const started = performance.now()
  const server = await startServer(t, { EMBEDDED_POSTGRES_DIR: dataDir, EMBEDDED_POSTGRES_PORT: String(port) })
  t.comment(`embedded start-up (initdb included) took ${Math.round(performance.now() - started)} ms`)
  const ready = await fetch(`${server.url}/ready`)
  t.equal(ready.status, 200, 'the embedded database answers /ready')

  t.ok(existsSync(pidFile), 'the embedded PostgreSQL has a postmaster.pid')
  const postmaster = Number(readFileSync(pidFile, 'utf8').split('\n')[0])
  t.ok(alive(postmaster), `its postmaster (pid ${postmaster}) runs`)
  const postgresProcesses = [postmaster, ...children(postmaster)]
  t.ok(await accepts(port), `it listens on ${port}`)

  const signalled = performance.now()
  server.child.kill('SIGTERM')
  const exit = await waitFor(server.exited, SHUTDOWN_LIMIT_MS, () => `the process to exit within 10 s of SIGTERM:\n${server.output()}`)
  const took = performance.now() - signalled
  t.comment(`embedded mode: SIGTERM → exit ${Math.round(took)} ms`)
  t.same(exit, { code: 0, signal: null }, 'the process exits with code 0')

  t.notOk(existsSync(pidFile), 'postmaster.pid is removed: PostgreSQL shut down cleanly')
  t.same(postgresProcesses.filter(alive), [], `the postmaster and its ${postgresProcesses.length - 1} child processes are gone`)
  t.notOk(await accepts(port), `nothing listens on ${port} any more`)
  t.notMatch(server.output(), /shutdown took longer|shutdown failed/, 'no shutdown error is logged')
})
