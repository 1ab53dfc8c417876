import { createServer, type AddressInfo } from 'node:net'
import { performance } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import t, { type Test } from 'tap'
import { createTestDatabase } from '../helpers/app.js'
import { ownPostgres } from '../helpers/own-postgres.js'
import { freePort, spawnServer, until, waitFor, type SpawnedServer } from '../helpers/server-process.js'

interface LogLine {
  level: number
  time: number
  msg: string
  attempt?: number
  retryInMs?: number
  reason?: string
  [key: string]: unknown
}

const FATAL = 60

/** Every non-empty line written so far, each parsed as JSON when it is a log line. */
function lines (server: SpawnedServer): (LogLine | string)[] {
  return server.output().split('\n').filter(line => line.trim()).map(line => {
    try {
      return JSON.parse(line) as LogLine
    } catch {
      return line
    }
  })
}

const logLines = (server: SpawnedServer) => lines(server).filter((line): line is LogLine => typeof line === 'object')
const retries = (server: SpawnedServer) => logLines(server).filter(line => line.msg === 'database unreachable: retrying')

t.test('DATABASE_URL to a port where nothing listens, DB_CONNECT_TIMEOUT=2: retries with backoff, then one fatal line and exit 1', async t => {
  const port = await freePort()
  const spawned = performance.now()
  const server = spawnServer(t, { DATABASE_URL: `postgresql://postgres:hidden-secret@127.0.0.1:${port}/postline`, DB_CONNECT_TIMEOUT: '2' })
  const exit = await waitFor(server.exited, 30_000, () => `the server to give up:\n${server.output()}`)
  const took = performance.now() - spawned
  t.not(exit.code, 0, 'the process exits non-zero')
  t.not(exit.code, null, 'by itself, not by a signal')

  const attempts = retries(server)
  const all = lines(server)
  const last = all.at(-1)
  t.ok(attempts.length >= 3, `several retry attempts are logged (${attempts.length})`)
  t.same(attempts.map(line => line.attempt), attempts.map((_, i) => i + 1), 'numbered 1, 2, 3, …')
  t.ok(attempts.every(line => line.level === 40 && /ECONNREFUSED/.test(line.reason ?? '')), 'each a warning giving the reason (ECONNREFUSED)')
  const delays = attempts.map(line => line.retryInMs ?? NaN)
  // The last pause is cut short to the time left before the deadline.
  const growing = delays.slice(0, -1).every((delay, i) => i === 0 || delay > delays[i - 1]!)
  t.ok(growing, `the pauses grow (retryInMs ${delays.join(', ')})`)
  t.ok(delays.reduce((sum, delay) => sum + delay, 0) <= 2_000, 'and add up to no more than DB_CONNECT_TIMEOUT')

  t.ok(typeof last === 'object' && last.level === FATAL, `the last line is a fatal log line: ${JSON.stringify(last)}`)
  const fatal = logLines(server).filter(line => line.level === FATAL)
  t.equal(fatal.length, 1, 'there is one fatal line')
  const message = typeof last === 'object' ? last.msg : String(last)
  t.match(message, new RegExp(`^start-up failed: database 127\\.0\\.0\\.1:${port}/postline unreachable after ${attempts.length + 1} attempts in 2 s \\(DB_CONNECT_TIMEOUT\\): .*ECONNREFUSED`),
    'it names the database, the attempts, DB_CONNECT_TIMEOUT and the reason')
  t.notMatch(server.output(), /hidden-secret/, 'the password is never logged')
  t.notMatch(server.output(), /"stack"|\n\s+at /, 'no stack trace')

  const waited = typeof last === 'object' && attempts[0] ? last.time - attempts[0].time : NaN
  t.comment(`gave up ${waited} ms after the first failed attempt; spawn → exit ${Math.round(took)} ms`)
  t.ok(waited >= 1_500 && waited <= 3_000, `it gives up about 2 s after the first attempt (${waited} ms)`)
  t.ok(took <= 15_000, `the process exits within 15 s of being spawned (process start-up included: ${Math.round(took)} ms)`)
})

t.test('SIGTERM while waiting for the database: it stops waiting and exits 0, without serving', async t => {
  const port = await freePort()
  const server = spawnServer(t, { DATABASE_URL: `postgresql://postgres@127.0.0.1:${port}/postline`, DB_CONNECT_TIMEOUT: '60' })
  await until(() => retries(server)[0], 30_000, () => `a retry to be logged:\n${server.output()}`)
  const signalled = performance.now()
  server.child.kill('SIGTERM')
  const exit = await waitFor(server.exited, 15_000, () => `the server to exit:\n${server.output()}`)
  const took = Math.round(performance.now() - signalled)
  t.comment(`SIGTERM → exit ${took} ms`)
  t.same(exit, { code: 0, signal: null }, 'exit code 0')
  t.ok(took < 5_000, `at once, not after DB_CONNECT_TIMEOUT (${took} ms)`)
  t.notMatch(server.output(), /Server listening/, 'it never listened')
  t.same(logLines(server).filter(line => line.level >= 50), [], 'no error or fatal line')
})

t.test('no database configured and a folder the embedded PostgreSQL cannot use: one line naming it and what to set', async t => {
  // Below a file, no one (root included) can make a folder.
  const server = spawnServer(t, { EMBEDDED_POSTGRES_DIR: '/dev/null/postgres', DB_CONNECT_TIMEOUT: '2' })
  const exit = await waitFor(server.exited, 30_000, () => `the server to give up:\n${server.output()}`)
  t.equal(exit.code, 1, 'exit code 1')
  const fatal = logLines(server).filter(line => line.level === FATAL)
  t.equal(fatal.length, 1, 'one fatal line')
  t.match(fatal[0]?.msg, /^start-up failed: no database is configured, and the embedded PostgreSQL cannot keep its data in \/dev\/null\/postgres \(E[A-Z]+: [^)]*\/dev\/null[^)]*\): set DATABASE_URL, or EMBEDDED_POSTGRES_DIR to a writable folder$/)
  t.notMatch(server.output(), /"stack"|\n\s+at /, 'no stack trace')
})

t.test('DATABASE_URL naming a database that does not exist: one line saying so, with the createdb command, exit 1', async t => {
  const url = new URL(await createTestDatabase(t))
  const name = `${url.pathname.slice(1)}_missing`
  url.pathname = `/${name}`
  // A server that trusts the test's user ignores a password; one that checks it (the embedded
  // PostgreSQL of a run with no DATABASE_URL) keeps its own, or it would refuse before the name.
  const ownPassword = url.password === ''
  if (ownPassword) url.password = 'hidden-secret'
  const server = spawnServer(t, { DATABASE_URL: url.toString(), DB_CONNECT_TIMEOUT: '30' })
  const exit = await waitFor(server.exited, 30_000, () => `the server to exit:\n${server.output()}`)
  t.same(exit, { code: 1, signal: null }, 'exit code 1')
  t.equal(retries(server).length, 0, 'at once, without retrying')
  const fatal = logLines(server).filter(line => line.level === FATAL)
  t.equal(fatal.length, 1, 'one fatal line')
  t.equal(fatal[0]?.msg, `start-up failed: database "${name}" does not exist on ${url.hostname}:${url.port || 5432}: create it (createdb -h ${url.hostname} -p ${url.port || 5432} -U ${url.username} ${name}) or name another one in DATABASE_URL (or DATABASE_NAME)`)
  t.notMatch(server.output(), /"stack"|\n\s+at /, 'no stack trace')
  if (ownPassword) t.notMatch(server.output(), /hidden-secret/, 'the password is never logged')
})

/** Spawns a server on a working database with `env` and returns its one fatal line, checking it exits 1 without a stack. */
async function listenFailure (t: Test, env: Record<string, string>): Promise<string | undefined> {
  const server = spawnServer(t, { DATABASE_URL: await createTestDatabase(t), ...env })
  const exit = await waitFor(server.exited, 60_000, () => `the server to exit:\n${server.output()}`)
  t.same(exit, { code: 1, signal: null }, 'exit code 1')
  t.notMatch(server.output(), /"stack"|\n\s+at /, 'no stack trace')
  const fatal = logLines(server).filter(line => line.level === FATAL)
  t.equal(fatal.length, 1, 'one fatal line')
  return fatal[0]?.msg
}

t.test('HOST that does not resolve: one line naming HOST, exit 1', async t => {
  t.match(await listenFailure(t, { HOST: 'not.a.host' }), /^start-up failed: cannot listen on HOST=not\.a\.host: it does not resolve \((ENOTFOUND|EAI_AGAIN)\)/)
})

t.test('HOST that is not an address of this machine: one line naming HOST, exit 1', async t => {
  // 192.0.2.0/24 is reserved for documentation (RFC 5737): no machine has it.
  t.match(await listenFailure(t, { HOST: '192.0.2.1' }), /^start-up failed: cannot listen on HOST=192\.0\.2\.1: it is not an address of this machine \(EADDRNOTAVAIL\)/)
})

t.test('PORT in use by another program: one line naming PORT, exit 1', async t => {
  const taken = createServer()
  await new Promise<void>(resolve => taken.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise(resolve => taken.close(resolve)))
  const { port } = taken.address() as AddressInfo
  t.match(await listenFailure(t, { PORT: String(port) }), new RegExp(`^start-up failed: cannot listen on PORT=${port}: it is in use \\(EADDRINUSE\\); stop what uses it or set PORT to another`))
})

t.test('with an embedded PostgreSQL of this file', async t => {
  const database = await ownPostgres(t, 'startup')
  // Started once to make the cluster and its database, then stopped: the server meets it down.
  const url = await database.start()
  await database.stop()

  await t.test('the database comes up while the server waits: it starts and is ready', async t => {
    const spawned = performance.now()
    const server = spawnServer(t, { DATABASE_URL: url, DB_CONNECT_TIMEOUT: '30' })
    await until(() => retries(server).length >= 1 ? true : undefined, 30_000, () => `a retry line:\n${server.output()}`)
    const waiting = performance.now()
    await sleep(2_000)
    t.ok(retries(server).length >= 3, `the server keeps retrying while the database is down (${retries(server).length} attempts)`)
    t.equal(server.child.exitCode, null, 'the server is still waiting when the database starts')

    const starting = performance.now()
    await database.start()
    const up = performance.now()
    const address = await until(() => /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(server.output())?.[1], 30_000,
      () => `the server to listen:\n${server.output()}`)
    const listening = performance.now()
    t.comment(`database started ${Math.round(starting - waiting)} ms after the server's first failed attempt (${Math.round(starting - spawned)} ms after its spawn; up in ${Math.round(up - starting)} ms); server listening ${Math.round(listening - up)} ms later, after ${retries(server).length} retries`)
    t.ok(listening - up <= 15_000, `the server listens within 15 s of the database's start (${Math.round(listening - up)} ms)`)

    const ready = await fetch(`${address}/ready`)
    t.equal(ready.status, 200, 'GET /ready is 200')
    t.match(await ready.json(), { status: 'ready', cache: { serving: Boolean } })
    t.equal(logLines(server).filter(line => line.level >= 50).length, 0, 'no error or fatal line was logged')

    server.child.kill('SIGTERM')
    t.same(await waitFor(server.exited, 10_000, 'the server to exit'), { code: 0, signal: null }, 'it stops with exit code 0')
  })

  await t.test('a wrong password fails start-up at once, without retrying', async t => {
    await database.start()
    const wrong = new URL(url)
    wrong.password = 'not-the-password'
    const spawned = performance.now()
    const server = spawnServer(t, { DATABASE_URL: wrong.toString(), DB_CONNECT_TIMEOUT: '30' })
    const exit = await waitFor(server.exited, 20_000, () => `the server to exit:\n${server.output()}`)
    const took = performance.now() - spawned
    t.comment(`wrong password: spawn → exit ${Math.round(took)} ms`)
    t.not(exit.code, 0, 'the process exits non-zero')
    t.not(exit.code, null, 'by itself, not by a signal')
    t.equal(retries(server).length, 0, 'no retry is logged')
    t.ok(took < 15_000, `it exits well before DB_CONNECT_TIMEOUT (${Math.round(took)} ms of 30 s)`)
    const last = lines(server).at(-1)
    t.ok(typeof last === 'object' && last.level === FATAL && last.msg.startsWith('start-up failed'), `the last line is the fatal start-up failure: ${JSON.stringify(last)}`)
    t.match(server.output(), /password authentication failed/, 'which gives the reason')
    t.notMatch(server.output(), /not-the-password/, 'the password is never logged')
  })
})
