import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import pg from 'pg'
import t from 'tap'
import { ownPostgres } from '../helpers/own-postgres.js'
import { startServer } from '../helpers/server-process.js'

// The server runs as a process of its own, as `npm start` runs it, on a PostgreSQL this file
// starts and stops. A separate process keeps the load generator and the database restarts here
// from delaying the server's event loop, so the latencies measured are the server's.

const OUTAGE_MS = 5_000
/** A request still unanswered after this long counts as hung. */
const CLIENT_TIMEOUT_MS = 5_000
const MAX_503_MS = 2_000
const RECOVERY_MS = 5_000
/** How long the load goes on once the database is back. */
const AFTER_MS = RECOVERY_MS + 2_000
const PAUSE_MS = 10

type Kind = 'create' | 'vote' | 'feed' | 'get' | 'ready' | 'health'

interface Outcome {
  kind: Kind
  /** performance.now() at the start and at the end (response body read, or error). */
  started: number
  ended: number
  status?: number
  body?: string
  retryAfter?: string | null
  error?: string
}

async function send (kind: Kind, url: string, options: { method?: string, token?: string, body?: unknown, timeout?: number } = {}): Promise<Outcome> {
  const headers: Record<string, string> = {}
  if (options.token) headers.authorization = `Bearer ${options.token}`
  if (options.body !== undefined) headers['content-type'] = 'application/json'
  const started = performance.now()
  try {
    const response = await fetch(url, {
      method: options.method ?? 'GET',
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
      signal: AbortSignal.timeout(options.timeout ?? CLIENT_TIMEOUT_MS)
    })
    const body = await response.text()
    return { kind, started, ended: performance.now(), status: response.status, body, retryAfter: response.headers.get('retry-after') }
  } catch (err) {
    const cause = (err as Error & { cause?: Error }).cause
    return { kind, started, ended: performance.now(), error: `${(err as Error).name}: ${(err as Error).message}${cause ? ` (${cause.message})` : ''}` }
  }
}

const ok = (outcome: Outcome) => outcome.status !== undefined && outcome.status >= 200 && outcome.status < 300

/** The outage answer: 503, `{"detail": "Service unavailable"}` and a Retry-After in seconds. */
function isUnavailable (outcome: Outcome): boolean {
  if (outcome.status !== 503 || !/^\d+$/.test(outcome.retryAfter ?? '')) return false
  try {
    return JSON.stringify(JSON.parse(outcome.body ?? '')) === '{"detail":"Service unavailable"}'
  } catch {
    return false
  }
}

const latency = (outcome: Pick<Outcome, 'started' | 'ended'>) => Math.round(outcome.ended - outcome.started)

/** The first few outcomes of a list, readably, for a failing assertion to show. */
function brief (outcomes: Outcome[]) {
  return outcomes.slice(0, 5).map(({ kind, status, body, retryAfter, error, ...outcome }) =>
    ({ kind, status, body: body?.slice(0, 200), retryAfter, error, started: Math.round(outcome.started), latency: latency(outcome) }))
}

interface Account { id: number, token: string }

async function register (base: string, prefix: string): Promise<Account> {
  const email = `${prefix}.${randomBytes(4).toString('hex')}@example.com`
  const password = 'password123'
  const created = await fetch(`${base}/users`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email, password }) })
  if (created.status !== 201) throw new Error(`registration failed: ${created.status} ${await created.text()}`)
  const { id } = await created.json() as { id: number }
  const login = await fetch(`${base}/login`, { method: 'POST', body: new URLSearchParams({ username: email, password }) })
  if (login.status !== 200) throw new Error(`login failed: ${login.status} ${await login.text()}`)
  const { access_token: token } = await login.json() as { access_token: string }
  return { id, token }
}

async function createPost (base: string, account: Account, title: string): Promise<number> {
  const response = await fetch(`${base}/posts`, { method: 'POST', headers: { authorization: `Bearer ${account.token}`, 'content-type': 'application/json' }, body: JSON.stringify({ title, content: 'Under load' }) })
  if (response.status !== 201) throw new Error(`post creation failed: ${response.status} ${await response.text()}`)
  return (await response.json() as { id: number }).id
}

t.test('a 5 s database outage under load: fast 503s, no hangs, recovery without restart, no lost or phantom writes', async t => {
  const database = await ownPostgres(t, 'outage')
  const url = await database.start()

  const server = await startServer(t, { DATABASE_URL: url, RATE_LIMIT: '0', LOGIN_RATE_LIMIT: '0' })
  const base = server.url

  const writers = await Promise.all([0, 1].map(i => register(base, `outage-writer-${i}`)))
  const voters = await Promise.all([0, 1].map(async i => {
    const account = await register(base, `outage-voter-${i}`)
    return { ...account, postId: await createPost(base, account, `outage voted ${i}`), voted: false }
  }))
  const reader = await register(base, 'outage-reader')
  const run = randomBytes(4).toString('hex')

  const outcomes: Outcome[] = []
  /** Each POST /posts's title and outcome, to look the titles up afterwards. */
  const created: { title: string, outcome: Outcome }[] = []
  const load = new AbortController()
  const loop = async (step: () => Promise<void>, pause = PAUSE_MS) => {
    while (!load.signal.aborted) {
      await step()
      await sleep(pause)
    }
  }
  const record = (outcome: Outcome) => {
    outcomes.push(outcome)
    return outcome
  }

  const loops = [
    ...writers.map((writer, w) => {
      let n = 0
      return loop(async () => {
        const title = `outage ${run} ${w}.${++n}`
        created.push({ title, outcome: record(await send('create', `${base}/posts`, { method: 'POST', token: writer.token, body: { title, content: 'Written under an outage' } })) })
      })
    }),
    ...voters.map(voter => loop(async () => {
      // Toggles one (user, post) pair: the expected final state is the last 201's.
      const dir = voter.voted ? 0 : 1
      const outcome = record(await send('vote', `${base}/vote`, { method: 'POST', token: voter.token, body: { post_id: voter.postId, dir } }))
      if (outcome.status === 201) voter.voted = dir === 1
    })),
    ...[0, 1].map(() => loop(async () => { record(await send('feed', `${base}/posts?limit=10`, { token: reader.token })) })),
    ...voters.map(voter => loop(async () => { record(await send('get', `${base}/posts/${voter.postId}`, { token: reader.token })) })),
    loop(async () => {
      await Promise.all([
        send('ready', `${base}/ready`).then(record),
        send('health', `${base}/health`).then(record)
      ])
    }, 100)
  ]

  await sleep(2_000)
  const stopping = performance.now()
  await database.stop()
  const down = performance.now()
  await sleep(OUTAGE_MS)
  const starting = performance.now()
  await database.start()
  const up = performance.now()
  await sleep(AFTER_MS)
  load.abort()
  await Promise.all(loops)

  t.comment(`database stopped in ${Math.round(down - stopping)} ms, down ${Math.round(starting - down)} ms, restarted in ${Math.round(up - starting)} ms; ${outcomes.length} requests`)

  t.same(outcomes.filter(outcome => outcome.error !== undefined).map(outcome => ({ kind: outcome.kind, error: outcome.error, latency: latency(outcome) })), [],
    `every request settles with a response within ${CLIENT_TIMEOUT_MS} ms (none hangs or is cut)`)

  const before = outcomes.filter(outcome => outcome.ended < stopping)
  t.ok(before.length >= 50, `steady load before the outage (${before.length} requests)`)
  t.same(brief(before.filter(outcome => !ok(outcome))), [], 'before the outage every request succeeds')

  const failed = outcomes.filter(outcome => outcome.status !== undefined && !ok(outcome))
  t.same(brief(failed.filter(outcome => !isUnavailable(outcome))), [],
    'every request that fails gets 503 {"detail": "Service unavailable"} with Retry-After (no other status)')
  const unavailable = failed.filter(isUnavailable)
  const max503 = Math.max(0, ...unavailable.map(latency))
  t.comment(`${unavailable.length} requests answered 503; slowest 503 took ${max503} ms`)
  t.same(brief(unavailable.filter(outcome => latency(outcome) > MAX_503_MS)), [], `every 503 comes within ${MAX_503_MS} ms (slowest: ${max503} ms)`)

  // Entirely inside the outage: the database was down from the request's start to its end.
  const during = outcomes.filter(outcome => outcome.started >= down && outcome.ended <= starting)
  const duringApi = during.filter(outcome => outcome.kind !== 'health')
  t.ok(duringApi.length >= 30, `requests were made while the database was down (${duringApi.length})`)
  t.same(brief(duringApi.filter(outcome => !isUnavailable(outcome))), [], 'while the database is down every request but /health gets the 503')
  t.comment(`while down: slowest answer ${Math.max(0, ...during.map(latency))} ms over ${during.length} requests`)
  t.ok(during.some(outcome => outcome.kind === 'ready'), '/ready was probed while the database was down')
  const health = outcomes.filter(outcome => outcome.kind === 'health')
  t.ok(health.some(outcome => outcome.started >= down && outcome.ended <= starting), '/health was probed while the database was down')
  t.same(brief(health.filter(outcome => outcome.status !== 200 || outcome.body !== '{"status":"ok"}')), [], '/health answers 200 {"status":"ok"} throughout')

  // Recovery: for each kind of request, the first success that ends after the database is back.
  const recovery: Record<string, number | undefined> = {}
  for (const kind of ['create', 'vote', 'feed', 'get', 'ready'] as const) {
    const first = outcomes.filter(outcome => outcome.kind === kind && ok(outcome) && outcome.started >= down).sort((a, b) => a.ended - b.ended)[0]
    recovery[kind] = first && Math.max(0, Math.round(first.ended - up))
  }
  const recovered = Math.max(...Object.values(recovery).map(ms => ms ?? Infinity))
  t.comment(`back to 2xx after the database returned: ${JSON.stringify(recovery)} ms (slowest kind: ${recovered} ms)`)
  t.ok(recovered <= RECOVERY_MS, `every kind of request succeeds again within ${RECOVERY_MS} ms of the database's return, without a restart (${recovered} ms)`)
  const settled = outcomes.filter(outcome => outcome.started >= up + RECOVERY_MS)
  t.ok(settled.length >= 20, `load went on after recovery (${settled.length} requests)`)
  t.same(brief(settled.filter(outcome => !ok(outcome))), [], `from ${RECOVERY_MS} ms after the database's return every request succeeds`)
  t.equal(server.child.exitCode, null, 'the server process kept running throughout')

  const client = new pg.Client({ connectionString: url })
  await client.connect()
  t.teardown(() => client.end())

  const { rows: titles } = await client.query<{ title: string }>('select title from posts where title like $1', [`outage ${run} %`])
  const stored = new Set(titles.map(row => row.title))
  const answered = created.filter(({ outcome }) => ok(outcome))
  const refused = created.filter(({ outcome }) => outcome.status !== undefined && !ok(outcome))
  t.comment(`POST /posts: ${answered.length} succeeded, ${refused.length} failed`)
  t.ok(refused.length > 0, 'some posts were refused during the outage')
  t.same(answered.filter(({ title }) => !stored.has(title)).map(({ title }) => title), [], 'every post answered 201 is in the database')
  t.same(refused.filter(({ title }) => stored.has(title)).map(({ title }) => title), [], 'no post that was refused is in the database')

  for (const [i, voter] of voters.entries()) {
    const { rows } = await client.query('select 1 from votes where user_id = $1 and post_id = $2', [voter.id, voter.postId])
    t.equal(rows.length, voter.voted ? 1 : 0, `voter ${i}: the vote row matches the last successful toggle (${voter.voted ? 'voted' : 'not voted'})`)
  }
  const votes = outcomes.filter(outcome => outcome.kind === 'vote')
  t.comment(`POST /vote: ${votes.filter(ok).length} succeeded, ${votes.filter(outcome => !ok(outcome)).length} failed`)
  const { rows: drift } = await client.query(`
    select p.id, coalesce(c.votes, 0) as counted, (select count(*)::int from votes v where v.post_id = p.id) as actual
      from posts p left join vote_counts c on c.post_id = p.id
     where coalesce(c.votes, 0) <> (select count(*) from votes v where v.post_id = p.id)`)
  t.same(drift, [], 'vote_counts equals the rows in votes for every post')

  t.equal(await server.stop(), 0, 'the server then stops with exit code 0')
})

/** The postmaster's pid (first line of postmaster.pid) and its children's. */
function postgresProcesses (dataDir: string): number[] {
  const postmaster = Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0])
  const children = readFileSync(`/proc/${postmaster}/task/${postmaster}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number)
  return [postmaster, ...children]
}

t.test('a frozen database (SIGSTOP for 8 s): 503s after the query timeout instead of hanging, then recovery', async t => {
  const FROZEN_MS = 8_000
  /** The server's query timeout (5 s) and the time to answer after it. */
  const MAX_FROZEN_503_MS = 6_500
  const database = await ownPostgres(t, 'frozen')
  const url = await database.start()
  const server = await startServer(t, { DATABASE_URL: url, RATE_LIMIT: '0', LOGIN_RATE_LIMIT: '0' })
  const base = server.url
  const writer = await register(base, 'frozen-writer')
  const postId = await createPost(base, writer, 'frozen read')
  const run = randomBytes(4).toString('hex')

  const outcomes: Outcome[] = []
  const created: { title: string, outcome: Outcome }[] = []
  const load = new AbortController()
  const loop = async (step: () => Promise<Outcome>) => {
    while (!load.signal.aborted) {
      outcomes.push(await step())
      await sleep(50)
    }
  }
  let n = 0
  // Long enough to see a request wait out the whole freeze, were it to.
  const sendFrozen = (kind: Kind, url: string, options: { method?: string, token?: string, body?: unknown } = {}) =>
    send(kind, url, { ...options, timeout: FROZEN_MS + 5_000 })
  const loops = [
    loop(async () => {
      const title = `frozen ${run} ${++n}`
      const outcome = await sendFrozen('create', `${base}/posts`, { method: 'POST', token: writer.token, body: { title, content: 'Written while frozen' } })
      created.push({ title, outcome })
      return outcome
    }),
    loop(() => sendFrozen('feed', `${base}/posts?limit=10`, { token: writer.token })),
    loop(() => sendFrozen('get', `${base}/posts/${postId}`, { token: writer.token })),
    loop(() => sendFrozen('ready', `${base}/ready`)),
    loop(() => sendFrozen('health', `${base}/health`))
  ]

  await sleep(1_000)
  const frozen = postgresProcesses(database.dataDir)
  const processes = frozen.length
  for (const pid of frozen) process.kill(pid, 'SIGSTOP')
  const stopped = performance.now()
  try {
    await sleep(FROZEN_MS)
  } finally {
    for (const pid of [...frozen].reverse()) process.kill(pid, 'SIGCONT')
  }
  const resumed = performance.now()
  await sleep(RECOVERY_MS + 1_000)
  load.abort()
  await Promise.all(loops)
  t.comment(`${processes} postgres processes stopped for ${Math.round(resumed - stopped)} ms; ${outcomes.length} requests`)

  t.same(outcomes.filter(outcome => outcome.error !== undefined).map(outcome => ({ kind: outcome.kind, error: outcome.error, latency: latency(outcome) })), [],
    'every request gets an answer')
  const slowestAnswer = Math.max(0, ...outcomes.map(latency))
  t.same(brief(outcomes.filter(outcome => latency(outcome) > MAX_FROZEN_503_MS)), [], `no request waits out the freeze: every answer within ${MAX_FROZEN_503_MS} ms (slowest: ${slowestAnswer} ms)`)
  const failed = outcomes.filter(outcome => outcome.status !== undefined && !ok(outcome))
  t.same(brief(failed.filter(outcome => !isUnavailable(outcome))), [], 'every request that fails gets the 503 Service unavailable')
  const unavailable = failed.filter(isUnavailable)
  const slowest = Math.max(0, ...unavailable.map(latency))
  t.comment(`${unavailable.length} requests answered 503; slowest took ${slowest} ms`)
  t.ok(unavailable.some(outcome => outcome.kind === 'ready'), '/ready answered 503 while the database was frozen')
  t.same(brief(unavailable.filter(outcome => latency(outcome) > MAX_FROZEN_503_MS)), [], `every 503 comes within ${MAX_FROZEN_503_MS} ms (slowest: ${slowest} ms)`)
  const health = outcomes.filter(outcome => outcome.kind === 'health')
  t.same(brief(health.filter(outcome => outcome.status !== 200)), [], '/health answers 200 throughout')
  const settled = outcomes.filter(outcome => outcome.started >= resumed + RECOVERY_MS)
  t.ok(settled.length >= 10, `load went on after the database resumed (${settled.length} requests)`)
  t.same(brief(settled.filter(outcome => !ok(outcome))), [], `from ${RECOVERY_MS} ms after the database resumed every request succeeds`)

  // A write whose answer timed out may still commit when the database resumes (the statement
  // sat in its socket): the 503 says the outcome is unknown. Every 201 must be stored.
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  t.teardown(() => client.end())
  const { rows } = await client.query<{ title: string }>('select title from posts where title like $1', [`frozen ${run} %`])
  const stored = new Set(rows.map(row => row.title))
  t.same(created.filter(({ title, outcome }) => ok(outcome) && !stored.has(title)).map(({ title }) => title), [], 'every post answered 201 is in the database')
  t.equal(await server.stop(), 0, 'the server then stops with exit code 0')
})
