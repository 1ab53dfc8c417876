import { randomBytes } from 'node:crypto'
import { Agent, request as httpRequest } from 'node:http'
import { cpus } from 'node:os'
import { parseArgs } from 'node:util'
import { setTimeout as sleep } from 'node:timers/promises'
import pg from 'pg'
import { openBenchDatabase } from './database.js'
import { checksTable, currentCommit, writeResults, type Check } from './report.js'
import { seedIfNeeded } from './seed-if-needed.js'
import { signToken } from './jwt.js'
import { PRESETS } from './presets.js'
import { random } from './scenarios.js'
import { BENCH_USER_AGENT, endBenchSessions, startBenchSessions } from './sessions.js'
import { machineCpuSeconds, startServer, type BenchServer } from './servers.js'

// `npm run soak [-- --duration 180 --rate 300 --warmup 10]`: seeds the bench database with the
// small preset, starts Postline on loopback as in production (NODE_ENV=production,
// LOG_LEVEL=info) and sends it a steady mix of every route at a fixed rate: a warm-up, then
// --duration seconds measured in 15-second windows. It fails (exit 1) on any transport error or
// answer the mix does not expect, on RSS growing by 10% or more from the end of the warm-up to
// the end, and on vote counts or vote rows that disagree with what the answers said.
// The rate limits are off (LOGIN_RATE_LIMIT=0, RATE_LIMIT=0): the soak measures the server,
// not the limiter, which would answer one client address at this rate with 429s.
// Requests are sent on schedule whatever the latency (open loop), and each latency is counted
// from the request's scheduled start, so a stall shows up in full rather than slowing the sender.

const PORT = 18_090
const WINDOW_SECONDS = 15
const REQUEST_TIMEOUT_MS = 10_000
const PASSWORD = 'password123'
// An id no row will reach during a run: the answers for it are the API's 404s.
const MISSING_ID = 999_999_999
const VOTE_PAIRS = 10_000
// bcrypt at the production cost takes ~200 ms a compare, so these are tallied apart.
const PASSWORD_REQUESTS = new Set(['register', 'login', 'login wrong password'])
// Other requests slower than this are listed with their time, to show whether they come together.
const SLOW_MS = 50

const { values: args } = parseArgs({
  options: {
    duration: { type: 'string', default: '180' },
    rate: { type: 'string', default: '300' },
    warmup: { type: 'string', default: '10' }
  }
})
const duration = Number(args.duration)
const rate = Number(args.rate)
const warmup = Number(args.warmup)
for (const [name, value] of [['duration', duration], ['rate', rate], ['warmup', warmup]] as const) {
  if (!Number.isFinite(value) || value < 0 || (name !== 'warmup' && value === 0)) throw new Error(`--${name} must be a positive number (got ${args[name]})`)
}

const log = (message: string) => console.error(`[soak] ${message}`)

interface Call {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE'
  path: string
  token?: string
  /** JSON, or a form when it is a URLSearchParams. */
  body?: unknown
  expect: number
  /** Runs on every answer (or failure, with status 0), to put borrowed state back. */
  done?: (status: number, body: string) => void
}

interface Pair { user: number, post: number, initial: boolean, voted: boolean, retired: boolean }
interface OwnPost { id: number, owner: number }

/** Takes a random element out of the list (so that no other request uses it meanwhile). */
function take<T> (list: T[], next: () => number): T | undefined {
  if (list.length === 0) return undefined
  const i = Math.floor(next() * list.length)
  const item = list[i]!
  list[i] = list[list.length - 1]!
  list.pop()
  return item
}

/** The mix: weights per 1000 requests, and how to build each request from the current state. */
function createMix (facts: { users: number, posts: number, words: string[] }, secret: string, pairs: Pair[], sessions: Map<number, string>) {
  const next = random(11)
  const pick = (max: number) => 1 + Math.floor(next() * max)
  const tokens = new Map<number, string>()
  // Each user's token is in the live session the soak started for them (as a login's would be).
  const signed = (user: number) => {
    const sessionId = sessions.get(user)
    if (sessionId === undefined) throw new Error(`user ${user} has no session`)
    return signToken(secret, user, sessionId)
  }
  const token = (user: number) => tokens.get(user) ?? tokens.set(user, signed(user)).get(user)!
  const runId = randomBytes(4).toString('hex')
  let registered = 0
  const voted = pairs.filter(pair => pair.voted)
  const unvoted = pairs.filter(pair => !pair.voted)
  const own: OwnPost[] = []

  const vote = (pair: Pair | undefined, dir: 0 | 1, expect: number): Call | undefined => pair && {
    method: 'POST',
    path: '/vote',
    token: token(pair.user),
    body: { post_id: pair.post, dir },
    expect,
    done (status) {
      if (status !== expect) {
        // Its state is unknown now: it takes no further part, and the final check skips it.
        pair.retired = true
        return
      }
      if (status === 201) pair.voted = dir === 1
      ;(pair.voted ? voted : unvoted).push(pair)
    }
  }

  const onOwnPost = (method: 'PUT' | 'PATCH' | 'DELETE', body: (post: OwnPost) => unknown, expect: number, as: (post: OwnPost) => number): Call | undefined => {
    const post = take(own, next)
    return post && {
      method,
      path: `/posts/${post.id}`,
      token: token(as(post)),
      body: body(post),
      expect,
      done (status) {
        if (status === expect && method !== 'DELETE') own.push(post)
      }
    }
  }

  const ops: Array<{ name: string, weight: number, call: () => Call | undefined }> = [
    { name: 'root', weight: 40, call: () => ({ method: 'GET', path: '/', expect: 200 }) },
    { name: 'register', weight: 2, call: () => ({ method: 'POST', path: '/users', body: { email: `soak.${runId}.${++registered}@example.com`, password: PASSWORD }, expect: 201 }) },
    { name: 'login', weight: 2, call: () => ({ method: 'POST', path: '/login', body: new URLSearchParams({ username: `user${pick(facts.users)}@example.com`, password: PASSWORD }), expect: 200 }) },
    { name: 'login wrong password', weight: 1, call: () => ({ method: 'POST', path: '/login', body: new URLSearchParams({ username: `user${pick(facts.users)}@example.com`, password: 'not the password' }), expect: 403 }) },
    { name: 'user by id', weight: 40, call: () => ({ method: 'GET', path: `/users/${pick(facts.users)}`, expect: 200 }) },
    { name: 'user missing', weight: 5, call: () => ({ method: 'GET', path: `/users/${MISSING_ID}`, expect: 404 }) },
    { name: 'users/me', weight: 50, call: () => ({ method: 'GET', path: '/users/me', token: token(pick(facts.users)), expect: 200 }) },
    { name: 'feed', weight: 150, call: () => ({ method: 'GET', path: '/posts', token: token(pick(facts.users)), expect: 200 }) },
    { name: 'feed page', weight: 100, call: () => ({ method: 'GET', path: `/posts?limit=${pick(100)}&skip=${pick(1000) - 1}`, token: token(pick(facts.users)), expect: 200 }) },
    {
      name: 'feed search',
      weight: 100,
      call: () => ({ method: 'GET', path: `/posts?search=${encodeURIComponent(facts.words[pick(facts.words.length) - 1]!)}&limit=${pick(20)}`, token: token(pick(facts.users)), expect: 200 })
    },
    { name: 'post by id', weight: 150, call: () => ({ method: 'GET', path: `/posts/${pick(facts.posts)}`, token: token(pick(facts.users)), expect: 200 }) },
    { name: 'post missing', weight: 10, call: () => ({ method: 'GET', path: `/posts/${MISSING_ID}`, token: token(pick(facts.users)), expect: 404 }) },
    {
      name: 'create post',
      weight: 60,
      call: () => {
        const owner = pick(facts.users)
        return {
          method: 'POST',
          path: '/posts',
          token: token(owner),
          body: { title: `Soak post ${runId}`, content: 'Written by the soak test, removed after the run.', published: next() < 0.9 },
          expect: 201,
          done: (status, body) => { if (status === 201) own.push({ id: JSON.parse(body).id, owner }) }
        }
      }
    },
    { name: 'replace post', weight: 40, call: () => onOwnPost('PUT', post => ({ id: post.id, title: `Replaced ${pick(1000)}`, content: 'Replaced by the soak test.' }), 200, post => post.owner) },
    { name: 'patch post', weight: 20, call: () => onOwnPost('PATCH', () => ({ published: next() < 0.5 }), 200, post => post.owner) },
    { name: 'replace other\'s post', weight: 5, call: () => onOwnPost('PUT', () => ({ title: 'Not mine', content: 'Refused.' }), 403, post => post.owner % facts.users + 1) },
    { name: 'delete post', weight: 50, call: () => onOwnPost('DELETE', () => undefined, 204, post => post.owner) },
    { name: 'vote', weight: 170, call: () => vote(take(unvoted, next), 1, 201) },
    { name: 'unvote', weight: 150, call: () => vote(take(voted, next), 0, 201) },
    { name: 'vote again', weight: 5, call: () => vote(take(voted, next), 1, 409) },
    { name: 'unvote without a vote', weight: 5, call: () => vote(take(unvoted, next), 0, 404) }
  ]
  const total = ops.reduce((sum, op) => sum + op.weight, 0)
  const fallback = ops.find(op => op.name === 'post by id')!
  return {
    names: ops.map(op => op.name),
    /** The next request; one that needs state there is none of (no own post yet) reads a post instead. */
    next (): { name: string, call: Call } {
      let roll = next() * total
      const op = ops.find(candidate => (roll -= candidate.weight) < 0) ?? fallback
      const call = op.call()
      return call ? { name: op.name, call } : { name: fallback.name, call: fallback.call()! }
    }
  }
}

/** One request on a keep-alive connection: its status and body, or a transport error. */
function send (agent: Agent, call: Call): Promise<{ status: number, body: string }> {
  // The sessions its logins start are marked as the bench's, to be removed after the run.
  const headers: Record<string, string> = { 'user-agent': `${BENCH_USER_AGENT} soak` }
  let payload: string | undefined
  if (call.body instanceof URLSearchParams) {
    payload = call.body.toString()
    headers['content-type'] = 'application/x-www-form-urlencoded'
  } else if (call.body !== undefined) {
    payload = JSON.stringify(call.body)
    headers['content-type'] = 'application/json'
  }
  if (payload !== undefined) headers['content-length'] = String(Buffer.byteLength(payload))
  if (call.token) headers.authorization = `Bearer ${call.token}`
  return new Promise((resolve, reject) => {
    const request = httpRequest({ host: '127.0.0.1', port: PORT, method: call.method, path: call.path, headers, agent }, response => {
      const chunks: Buffer[] = []
      response.on('data', chunk => chunks.push(chunk))
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString() }))
      response.on('error', reject)
    })
    request.on('timeout', () => request.destroy(new Error(`no answer within ${REQUEST_TIMEOUT_MS} ms`)))
    request.on('error', reject)
    request.end(payload)
  })
}

const percentile = (sorted: number[], p: number) => sorted.length ? sorted[Math.min(sorted.length - 1, Math.ceil(p / 100 * sorted.length) - 1)]! : 0

interface Tally { requests: number, errors: number, unexpected: number, latencies: number[], statuses: Record<number, number> }
const emptyTally = (): Tally => ({ requests: 0, errors: 0, unexpected: 0, latencies: [], statuses: {} })
function summary ({ requests, errors, unexpected, latencies, statuses }: Tally) {
  const sorted = [...latencies].sort((a, b) => a - b)
  const ms = (value: number) => Math.round(value * 10) / 10
  return { requests, errors, unexpected, statuses, p50: ms(percentile(sorted, 50)), p99: ms(percentile(sorted, 99)), max: ms(sorted.at(-1) ?? 0) }
}

async function pairStates (db: pg.Client, pairs: Pair[]): Promise<Set<string>> {
  const { rows } = await db.query<{ user_id: number, post_id: number }>(
    'select user_id, post_id from votes where (user_id, post_id) in (select * from unnest($1::int[], $2::int[]))',
    [pairs.map(pair => pair.user), pairs.map(pair => pair.post)])
  return new Set(rows.map(row => `${row.user_id}:${row.post_id}`))
}

/** Puts the data back as seeded, so that `npm run bench` finds the preset and does not re-seed. */
async function restoreSeed (db: pg.Client, facts: { users: number, posts: number }, pairs: Pair[]) {
  await db.query('delete from users where id > $1', [facts.users])
  await db.query('delete from posts where id > $1', [facts.posts])
  const unnest = (list: Pair[]) => [list.map(pair => pair.user), list.map(pair => pair.post)]
  await db.query('delete from votes where (user_id, post_id) in (select * from unnest($1::int[], $2::int[]))', unnest(pairs.filter(pair => !pair.initial)))
  await db.query('insert into votes (user_id, post_id) select * from unnest($1::int[], $2::int[]) on conflict do nothing', unnest(pairs.filter(pair => pair.initial)))
}

const database = await openBenchDatabase(log)
const db = new pg.Client({ connectionString: database.url })
await db.connect()
// The soak runs on the small preset (a large one in the bench database is replaced by it);
// each run puts the data back as seeded, so runs start from the same data.
try {
  await seedIfNeeded(db, database.url, 'small', log)
} catch (err) {
  await db.end()
  await database.stop?.()
  throw err
}
let server: BenchServer | undefined
let failed = false
let pairs: Pair[] = []
const facts = { users: PRESETS.small.users, posts: PRESETS.small.posts, words: [] as string[] }
try {
  facts.words = (await db.query<{ word: string }>(
    'select distinct unnest(string_to_array(split_part(title, \': \', 2), \' \')) as word from posts order by word')).rows.map(row => row.word)
  // The pairs whose votes are toggled: half of them seeded votes, so that votes and unvotes
  // both have pairs to take from the start, and half random pairs (nearly all without a vote).
  const chosen = new Map<string, Pair>()
  const { rows: seededVotes } = await db.query<{ user_id: number, post_id: number }>(
    'select user_id, post_id from votes where (user_id * 7 + post_id) % 20 = 0 order by user_id, post_id limit $1', [VOTE_PAIRS / 2])
  for (const { user_id: user, post_id: post } of seededVotes) chosen.set(`${user}:${post}`, { user, post, initial: true, voted: true, retired: false })
  const next = random(7)
  while (chosen.size < VOTE_PAIRS) {
    const user = 1 + Math.floor(next() * facts.users)
    const post = 1 + Math.floor(next() * facts.posts)
    chosen.set(`${user}:${post}`, { user, post, initial: false, voted: false, retired: false })
  }
  pairs = [...chosen.values()]
  const seeded = await pairStates(db, pairs)
  for (const pair of pairs) pair.initial = pair.voted = seeded.has(`${pair.user}:${pair.post}`)

  const secret = randomBytes(32).toString('hex')
  server = await startServer('postline', PORT, {
    DATABASE_URL: database.url, SECRET_KEY: secret, NODE_ENV: 'production', LOG_LEVEL: 'info', LOGIN_RATE_LIMIT: '0', RATE_LIMIT: '0'
  })
  const mix = createMix(facts, secret, pairs, await startBenchSessions(db, facts.users))
  // Enough connections that a stall on some routes does not hold up the others in the client.
  const agent = new Agent({ keepAlive: true, maxSockets: 1000, timeout: REQUEST_TIMEOUT_MS })

  const total = emptyTally()
  const warmupTally = emptyTally()
  const windowCount = Math.ceil(duration / WINDOW_SECONDS)
  // Reads, writes and password checks apart, and the CPU in use, to tell a slow window's
  // cause: the server, PostgreSQL's writes, bcrypt, or other work on the machine.
  interface Usage { at: number, server: number, machine: number }
  const windows = Array.from({ length: windowCount }, () => ({
    all: emptyTally(),
    reads: emptyTally(),
    writes: emptyTally(),
    passwords: emptyTally(),
    slow: 0,
    rssMb: 0,
    first: undefined as Usage | undefined,
    last: undefined as Usage | undefined
  }))
  const slow: Array<{ at: number, name: string, ms: number }> = []
  const routes = new Map(mix.names.map(name => [name, emptyTally()]))
  const samples: string[] = []
  const interval = 1000 / rate
  const started = performance.now()
  const measureFrom = started + warmup * 1000
  const until = measureFrom + duration * 1000
  const pending = new Set<Promise<void>>()
  let maxInFlight = 0
  let maxSendLag = 0
  let sent = 0
  let rssStart = 0
  let cpuStart = { server: 0, machine: 0 }

  const record = (tally: Tally, latency: number, status: number, unexpected: boolean) => {
    tally.requests++
    if (status === 0) tally.errors++
    else tally.statuses[status] = (tally.statuses[status] ?? 0) + 1
    if (unexpected) tally.unexpected++
    tally.latencies.push(latency)
  }

  const dispatch = (scheduled: number) => {
    const { name, call } = mix.next()
    const window = scheduled < measureFrom ? undefined : windows[Math.floor((scheduled - measureFrom) / (WINDOW_SECONDS * 1000))]
    const passwords = PASSWORD_REQUESTS.has(name)
    const group = window && (passwords ? window.passwords : call.method === 'GET' ? window.reads : window.writes)
    const tallies = window ? [total, routes.get(name)!, window.all, group!] : [total, routes.get(name)!, warmupTally]
    const finish = (status: number, body: string) => {
      const latency = performance.now() - scheduled
      const unexpected = status !== 0 && status !== call.expect
      for (const tally of tallies) record(tally, latency, status, unexpected)
      if (window && !passwords && latency >= SLOW_MS) {
        window.slow++
        if (slow.length < 1000) slow.push({ at: Math.round(scheduled - measureFrom) / 1000, name, ms: Math.round(latency) })
      }
      if ((status === 0 || unexpected) && samples.length < 10) {
        samples.push(`${name}: ${call.method} ${call.path} expected ${call.expect}, got ${status || 'no answer'} ${body.slice(0, 300)}`)
        log(samples.at(-1)!)
      }
      try {
        call.done?.(status, body)
      } catch (err) {
        total.unexpected++
        log(`${name}: ${call.method} ${call.path}: unreadable answer ${body.slice(0, 300)} (${err})`)
      }
    }
    const answer = send(agent, call).then(({ status, body }) => finish(status, body), (err: Error) => finish(0, err.message))
    pending.add(answer)
    maxInFlight = Math.max(maxInFlight, pending.size)
    answer.finally(() => pending.delete(answer))
  }

  log(`${rate} req/s: ${warmup} s warm-up, then ${duration} s measured in ${WINDOW_SECONDS} s windows`)
  const sampler = setInterval(() => {
    const now = performance.now()
    if (now < measureFrom || now >= until) return
    const window = windows[Math.floor((now - measureFrom) / (WINDOW_SECONDS * 1000))]!
    window.rssMb = server!.rssMb()
    window.last = { at: now, server: server!.cpuSeconds(), machine: machineCpuSeconds().busy }
    window.first ??= window.last
  }, 1000)
  while (true) {
    const now = performance.now()
    if (rssStart === 0 && now >= measureFrom) {
      rssStart = server.rssMb()
      cpuStart = { server: server.cpuSeconds(), machine: machineCpuSeconds().busy }
      log(`warm-up done: RSS ${rssStart.toFixed(1)} MB`)
    }
    if (now >= until) break
    const due = Math.min(Math.floor((now - started) / interval) + 1, Math.ceil((until - started) / interval))
    if (due > sent) maxSendLag = Math.max(maxSendLag, now - (started + sent * interval))
    for (; sent < due; sent++) dispatch(started + sent * interval)
    await sleep(1)
  }
  clearInterval(sampler)
  const measuredSeconds = (performance.now() - measureFrom) / 1000
  const cpu = { server: (server.cpuSeconds() - cpuStart.server) / measuredSeconds, machine: (machineCpuSeconds().busy - cpuStart.machine) / measuredSeconds }
  await Promise.race([Promise.all(pending), sleep(REQUEST_TIMEOUT_MS + 5000)])
  const rssEnd = server.rssMb()
  const alive = server.child.exitCode === null && server.child.signalCode === null
  agent.destroy()
  await server.stop()

  // The database afterwards: counters equal to the rows, and every pair as its answers said.
  const { rows: [counters] } = await db.query<{ differ: number }>(`
    select count(*)::int as differ
      from (select post_id, count(*) as n from votes group by post_id) v
      full join vote_counts c using (post_id)
     where coalesce(v.n, 0) <> coalesce(c.votes, 0)`)
  const differ = counters!.differ
  const now = await pairStates(db, pairs)
  const tracked = pairs.filter(pair => !pair.retired)
  const wrongPairs = tracked.filter(pair => now.has(`${pair.user}:${pair.post}`) !== pair.voted).length

  const growth = rssStart ? (rssEnd - rssStart) / rssStart : Infinity
  const lowestRss = Math.min(...windows.map(w => w.rssMb).filter(Boolean))
  const mb = (value: number) => value.toFixed(1)
  const percent = (ratio: number) => `${ratio >= 0 ? '+' : ''}${(ratio * 100).toFixed(1)}%`
  const checks: Check[] = [
    ['server up to the end', alive, alive ? 'yes' : `exited (${server.child.exitCode ?? server.child.signalCode})`],
    ['no transport errors', total.errors === 0, String(total.errors)],
    ['no answers the mix does not expect', total.unexpected === 0, String(total.unexpected)],
    ['RSS growth < 10%', growth < 0.1, `${mb(rssStart)} → ${mb(rssEnd)} MB (${percent(growth)}); from the lowest window's ${mb(lowestRss)} MB: ${percent((rssEnd - lowestRss) / lowestRss)}`],
    ['vote_counts equal the vote rows', differ === 0, `${differ} posts differ`],
    ['vote rows as the answers said', wrongPairs === 0, `${wrongPairs} of ${tracked.length} pairs differ`]
  ]
  failed = checks.some(([, ok]) => !ok)

  const commit = currentCommit()
  const when = new Date().toISOString()
  const all = summary(total)
  const cores = (first: Usage | undefined, last: Usage | undefined, of: 'server' | 'machine') =>
    first && last && last.at > first.at ? Math.round((last[of] - first[of]) / (last.at - first.at) * 100_000) / 100 : 0
  const byWindow = windows.map((window, i) => ({
    from: i * WINDOW_SECONDS,
    to: Math.min(duration, (i + 1) * WINDOW_SECONDS),
    ...summary(window.all),
    p99Reads: summary(window.reads).p99,
    p99Writes: summary(window.writes).p99,
    p99Passwords: summary(window.passwords).p99,
    slow: window.slow,
    serverCores: cores(window.first, window.last, 'server'),
    machineCores: cores(window.first, window.last, 'machine'),
    rssMb: window.rssMb
  }))
  const byRoute = [...routes].map(([name, tally]) => ({ name, ...summary(tally) }))
  const statuses = (counts: Record<number, number>) => Object.entries(counts).map(([status, n]) => `${status}×${n}`).join(' ')
  const table = [
    `### soak — ${when}, commit ${commit}, ${cpus().length}× ${cpus()[0]?.model ?? 'cpu'}`,
    '',
    `small preset; ${rate} req/s for ${duration} s after a ${warmup} s warm-up, loopback; latencies in ms from each request's scheduled start.`,
    `${all.requests} requests (${warmupTally.requests} of them in the warm-up), ${all.errors} transport errors, ${all.unexpected} unexpected answers; ` +
      `p50 ${all.p50}, p99 ${all.p99}, max ${all.max}; at most ${maxInFlight} in flight, sender at most ${maxSendLag.toFixed(0)} ms late; ` +
      `server ${cpu.server.toFixed(2)} cores, machine ${cpu.machine.toFixed(2)} of ${cpus().length} busy.`,
    '',
    `Columns: p99 of all requests, of reads (GET), of writes, and of login and registration (bcrypt); ≥ ${SLOW_MS} ms counts the requests other than login and registration that took that long.`,
    '',
    `| window (s) | requests | p50 | p99 | p99 reads | p99 writes | p99 login, register | ≥ ${SLOW_MS} ms | max | errors + unexpected | server cores | machine busy cores | RSS MB |`,
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...byWindow.map(w => `| ${w.from}–${w.to} | ${w.requests} | ${w.p50} | ${w.p99} | ${w.p99Reads} | ${w.p99Writes} | ${w.p99Passwords} | ${w.slow} | ${w.max} | ` +
      `${w.errors + w.unexpected} | ${w.serverCores.toFixed(2)} | ${w.machineCores.toFixed(2)} | ${mb(w.rssMb)} |`),
    '',
    '| request | count | answers | p50 | p99 |',
    '|---|---:|---|---:|---:|',
    ...byRoute.map(r => `| ${r.name} | ${r.requests} | ${statuses(r.statuses)}${r.errors ? ` errors×${r.errors}` : ''} | ${r.p50} | ${r.p99} |`),
    '',
    ...checksTable(checks, 'check'),
    ''
  ].join('\n')
  console.log(table)
  writeResults('soak', table, {
    when,
    commit,
    rate,
    duration,
    warmup,
    windowSeconds: WINDOW_SECONDS,
    total: all,
    warmupRequests: warmupTally.requests,
    maxInFlight,
    maxSendLagMs: maxSendLag,
    cpu,
    rssMb: { start: rssStart, end: rssEnd, growth },
    windows: byWindow,
    routes: byRoute,
    slow,
    samples,
    checks
  })
} catch (err) {
  failed = true
  console.error(err)
} finally {
  await server?.stop()
  await restoreSeed(db, facts, pairs).catch(err => log(`could not put the seeded data back: ${err}`))
  await endBenchSessions(db).catch(err => log(`could not remove the soak's sessions: ${err}`))
  await db.end()
  await database.stop?.()
}
process.exit(failed ? 1 : 0)
