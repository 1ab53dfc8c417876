import bcrypt from 'bcrypt'
import { randomBytes } from 'node:crypto'
import { cpus } from 'node:os'
import { parseArgs } from 'node:util'
import pg from 'pg'
import { openBenchDatabase } from './database.js'
import { load as loadFor, mean, measureScenario, type Measure } from './load.js'
import { checksTable, currentCommit, writeResults, type Check } from './report.js'
import { seedIfNeeded } from './seed-if-needed.js'
import { BENCH_PASSWORD, isPresetName, PRESETS, type PresetName } from './presets.js'
import { signToken } from './jwt.js'
import { SCENARIOS, benchUserCount, deepPosition, type BenchData, type BenchRequest, type Scenario } from './scenarios.js'
import { endBenchSessions, startBenchSessions } from './sessions.js'
import { encodeCursor } from '../lib/cursor.js'
import { machineCpuSeconds, startServer, type BenchServer } from './servers.js'
import { runCacheBench } from './cache.js'
import { runPoolerBench } from './pooler.js'
import { runReplicaBench } from './replica.js'
import { runStreamBench } from './stream.js'

// `npm run bench -- --preset small|large`: seeds when the data is not the preset's, then runs
// every scenario with autocannon against Postline and the bare baseline in turn, on the same
// database, and prints (and writes under bench/results/) the table of ratios and the targets.

const { values: args } = parseArgs({
  options: {
    preset: { type: 'string', default: 'small' },
    connections: { type: 'string', default: '50' },
    duration: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '2' },
    rounds: { type: 'string', default: '2' },
    scenarios: { type: 'string' },
    'deep-skip': { type: 'string' },
    // CACHE_MAX_MB for Postline's main runs (its default when not given): `--cache-mb 0` measures the scenarios uncached.
    'cache-mb': { type: 'string' }
  }
})
if (!isPresetName(args.preset!)) throw new Error(`--preset must be one of ${Object.keys(PRESETS).join(', ')}`)
const preset: PresetName = args.preset
const connections = Number(args.connections)
const duration = Number(args.duration)
const warmup = Number(args.warmup)
const rounds = Number(args.rounds)
const only = args.scenarios?.split(',')
/** Runs of their own, made only when named. */
const OWN_RUNS = ['stream', 'pooler', 'replica', 'cache']

const log = (message: string) => console.error(`[bench] ${message}`)
const load = (url: string, request: BenchRequest, seconds: number, conns = connections) => loadFor(url, request, seconds, conns, log)

interface Profiled extends Measure {
  /** Cores busy on the whole machine, and those used by the server's processes, during the run. */
  machineCores: number
  serverCores: number
}

/** Where the CPU went during a run: the server's processes, or the rest (load generator, kernel). */
async function profiled (server: BenchServer, run: () => Promise<Measure>): Promise<Profiled> {
  const machine = machineCpuSeconds()
  const serverCpu = server.cpuSeconds()
  const started = Date.now()
  const measure = await run()
  const seconds = (Date.now() - started) / 1000
  return {
    ...measure,
    machineCores: (machineCpuSeconds().busy - machine.busy) / seconds,
    serverCores: (server.cpuSeconds() - serverCpu) / seconds
  }
}

/** Every core's worth of bcrypt compares at the seeded hash's cost: the ceiling for `login`. */
async function bcryptRate (hash: string): Promise<number> {
  const parallel = cpus().length
  const started = Date.now()
  const until = started + 5000
  let done = 0
  await Promise.all(Array.from({ length: parallel }, async () => {
    while (Date.now() < until) {
      await bcrypt.compare(BENCH_PASSWORD, hash)
      done++
    }
  }))
  // Divided by the time until the last compare finished, not by the 5 s it stopped starting them.
  return done / ((Date.now() - started) / 1000)
}

const database = await openBenchDatabase(log)
const db = new pg.Client({ connectionString: database.url })
await db.connect()
const servers: BenchServer[] = []
let failed = false
try {
  await seedIfNeeded(db, database.url, preset, log)
  const { rows: [facts] } = await db.query<{ users: number, posts: number, title: string, password: string }>(`
    select (select max(id) from users) as users, (select max(id) from posts) as posts,
           (select title from posts order by id desc limit 1) as title, (select password from users where id = 1) as password`)
  const secret = randomBytes(32).toString('hex')
  // Every token the bench signs is in a live session of its user, as Postline's are: the
  // protected statements check it (the baseline's too), so the ratios include that check.
  const sessions = await startBenchSessions(db, benchUserCount(facts!.users))
  log(`started ${sessions.size} sessions for the bench's users`)
  const signed = (userId: number) => {
    const sessionId = sessions.get(userId)
    if (sessionId === undefined) throw new Error(`user ${userId} is not one of the bench's users (1 to ${sessions.size})`)
    return signToken(secret, userId, sessionId)
  }
  const tokens = new Map<number, string>()
  const data: BenchData = {
    db,
    users: facts!.users,
    posts: facts!.posts,
    commonWord: facts!.title.split(': ')[1]!.split(' ')[0]!,
    rareWord: 'quokka',
    deepSkip: args['deep-skip'] === undefined ? deepPosition(facts!.posts) : Number(args['deep-skip']),
    token: userId => tokens.get(userId) ?? tokens.set(userId, signed(userId)).get(userId)!,
    cursor: position => encodeCursor(secret, position)
  }
  log(`bcrypt: measuring ${cpus().length} cores' compare rate`)
  const bcryptPerSecond = await bcryptRate(facts!.password)

  // Rate limits off: the bench measures the server, not the limiter (login alone would be 429s).
  const env = { DATABASE_URL: database.url, SECRET_KEY: secret, NODE_ENV: 'production', LOG_LEVEL: 'info', LOGIN_RATE_LIMIT: '0', RATE_LIMIT: '0' }
  const cacheMb: Record<string, string> = args['cache-mb'] === undefined ? {} : { CACHE_MAX_MB: String(Number(args['cache-mb'])) }
  /** A run of its own: its checks as a table, printed and written under bench/results/. */
  const reportOwnRun = (name: string, setup: string, { checks, figures }: { checks: Check[], figures: object }) => {
    const when = new Date().toISOString()
    const table = [`### ${name} — ${when}, commit ${currentCommit()}, ${cpus().length}× ${cpus()[0]?.model ?? 'cpu'}`, '', setup, '', ...checksTable(checks), ''].join('\n')
    console.log(table)
    writeResults(name, table, { when, commit: currentCommit(), duration, ...figures, checks })
    for (const [, ok] of checks) if (!ok) failed = true
  }
  const options = { data, env, seconds: duration, warmup, rounds, connections, log }
  const timing = `${connections} connections, ${duration} s per run after a ${warmup} s warm-up, ${rounds} rounds alternating which goes first (means).`
  if (only?.includes('stream')) reportOwnRun('stream', `Writes for ${duration} s; the on/off rates: ${timing}`, await runStreamBench(options))
  if (only?.includes('pooler')) reportOwnRun('pooler', `Postline direct (named statements) and through PgBouncer in transaction mode (unnamed): ${timing}`, await runPoolerBench(options))
  if (only?.includes('cache')) reportOwnRun('cache', `Postline with the read cache (the default), with CACHE_MAX_MB=0, and the bare baseline, on the same database: ${timing}`, await runCacheBench(options))
  if (only?.includes('replica')) reportOwnRun('replica', `Postline on a primary alone, and on the same primary with DATABASE_READ_URLS naming its streaming replica (the bench's data copied to both): ${timing}`, await runReplicaBench(options))

  // Every other scenario (all of them when none is named), against the baseline.
  if (!only || only.some(name => !OWN_RUNS.includes(name))) {
    const postline = await startServer('postline', 18_080, { ...env, ...cacheMb })
    const baseline = await startServer('baseline', 18_081, env)
    servers.push(postline, baseline)

    const scenarioNamed = (name: string): Scenario => SCENARIOS.find(s => s.name === name)!
    // Both servers warmed up first (JIT, connections, caches): the first scenario measured is no colder than the last.
    for (const server of [postline, baseline]) await load(server.url, await scenarioNamed('feed').request(data, { url: server.url, connections }), 3 * warmup)

    // `baseline` is null for a scenario the baseline has no route for (measured on Postline alone).
    const rows: Array<{ scenario: string, ratioTarget: boolean, postline: Measure, baseline: Measure | null }> = []
    const paired: Array<{ scenario: string, base: string, floor?: number, why: string, rps: number, baseRps: number }> = []
    for (const scenario of SCENARIOS.filter(s => !only || only.includes(s.name))) {
      const measured: Record<string, Measure[]> = { postline: [], baseline: [] }
      const bases = new Map((scenario.against ?? []).map(against => [against.scenario, [] as Measure[]]))
      const conns = scenario.connections ?? connections
      const target = (server: BenchServer) => ({ url: server.url, connections: conns })
      // Rounds alternate which server goes first (A B, B A, ...), so that a machine getting busier
      // or quieter during the scenario weighs on both alike.
      for (let round = 0; round < rounds; round++) {
        const order = round % 2 === 0 ? [postline, baseline] : [baseline, postline]
        for (const server of scenario.postlineOnly ? [postline] : order) {
          // Each run gets a fresh request (vote-toggle reads the votes' state as the last run left
          // it; refresh starts new sessions, the last run's chains being cut mid-request).
          const measure = await measureScenario(server.url, scenario, data, { warmup, seconds: duration, connections: conns, log })
          measured[server.name]!.push(measure)
          log(`${scenario.name} on ${server.name}, round ${round + 1}: ${measure.rps.toFixed(0)} req/s, p99 ${measure.p99} ms`)
          if (server !== postline) continue
          for (const [base, measures] of bases) {
            const request = await scenarioNamed(base).request(data, target(server))
            await load(server.url, request, warmup, conns)
            measures.push(await load(server.url, request, duration, conns))
            log(`  ${base} on postline beside it: ${measures.at(-1)!.rps.toFixed(0)} req/s`)
          }
        }
      }
      for (const against of scenario.against ?? []) {
        paired.push({ scenario: scenario.name, base: against.scenario, ...(against.floor === undefined ? {} : { floor: against.floor }), why: against.why, rps: mean(measured.postline!).rps, baseRps: mean(bases.get(against.scenario)!).rps })
      }
      rows.push({ scenario: scenario.name, ratioTarget: scenario.ratioTarget, postline: mean(measured.postline!), baseline: scenario.postlineOnly ? null : mean(measured.baseline!) })
    }

    // Scale-out, first half: root on one worker (the second half runs WEB_CONCURRENCY=2 below).
    log('scale-out: root with WEB_CONCURRENCY=1')
    const rootRequest = { method: 'GET' as const, path: '/' }
    const root1 = await profiled(postline, () => load(postline.url, rootRequest, duration))

    // Login saturating the CPU with bcrypt must not starve the feed on other connections.
    log('feed p99 alone, then while login is saturated')
    const feedRequest = await scenarioNamed('feed').request(data, { url: postline.url, connections: 10 })
    const loginRequest = await scenarioNamed('login').request(data, { url: postline.url, connections: 8 })
    const feedIdle = await load(postline.url, feedRequest, duration, 10)
    const [feedBusy, loginBusy] = await Promise.all([load(postline.url, feedRequest, duration, 10), load(postline.url, loginRequest, duration, 8)])
    const rssMb = postline.rssMb()
    await postline.stop()

    log('scale-out: root with WEB_CONCURRENCY=2')
    const cluster = await startServer('postline', 18_082, { ...env, WEB_CONCURRENCY: '2' })
    servers.push(cluster)
    await load(cluster.url, rootRequest, warmup)
    const root2 = await profiled(cluster, () => load(cluster.url, rootRequest, duration))
    const feed2 = await load(cluster.url, feedRequest, duration)
    await cluster.stop()

    const ratio = (a: number, b: number) => b === 0 ? 0 : a / b
    const n = (value: number) => value.toFixed(0)
    const checks: Check[] = []
    for (const row of rows) {
      if (row.ratioTarget && row.baseline) {
        const rps = ratio(row.postline.rps, row.baseline.rps)
        const p99 = ratio(row.postline.p99, row.baseline.p99)
        checks.push([`${row.scenario}: req/s ≥ 0.85× baseline, p99 ≤ 1.3×`, rps >= 0.85 && p99 <= 1.3, `${rps.toFixed(2)}×, p99 ${p99.toFixed(2)}×`])
      }
      const failures: string[] = []
      for (const [name, m] of [['postline', row.postline], ['baseline', row.baseline]] as const) {
        if (m && (m.non2xx || m.errors)) {
          log(`${row.scenario} on ${name}: ${m.non2xx} non-2xx, ${m.errors} errors`)
          failures.push(`${name}: ${m.non2xx} non-2xx, ${m.errors} errors`)
        }
      }
      // A scenario with no other target (one measured on Postline alone) still says that it held.
      if (failures.length || !row.baseline) checks.push([`${row.scenario}: every answer 2xx, no errors`, failures.length === 0, failures.join('; ') || 'all 2xx'])
    }
    // Postline against itself on another scenario, measured beside it in each round.
    for (const pair of paired) {
      const r = ratio(pair.rps, pair.baseRps)
      const measuredText = `${r.toFixed(2)}× (${n(pair.rps)} vs ${n(pair.baseRps)} req/s, measured beside it)`
      checks.push(pair.floor === undefined
        ? [`${pair.scenario} vs ${pair.base} (${pair.why}), reported`, true, measuredText]
        : [`${pair.scenario}: req/s ≥ ${pair.floor}× ${pair.base} (${pair.why})`, r >= pair.floor, measuredText])
    }
    const loginRow = rows.find(row => row.scenario === 'login')
    if (loginRow) checks.push(['login: ≥ 0.9× two cores\' bcrypt rate', loginRow.postline.rps >= 0.9 * bcryptPerSecond, `${loginRow.postline.rps.toFixed(1)} vs ${bcryptPerSecond.toFixed(1)} compares/s`])
    checks.push(['feed p99 while login is saturated < 2× idle', feedBusy.p99 < 2 * feedIdle.p99, `${feedBusy.p99} ms vs ${feedIdle.p99} ms idle (login ${loginBusy.rps.toFixed(1)} req/s)`])
    const cores = (p: Profiled) => `${p.serverCores.toFixed(2)} of ${p.machineCores.toFixed(2)} busy cores`
    checks.push(['root: WEB_CONCURRENCY=2 ≥ 1.5× one worker', root2.rps >= 1.5 * root1.rps,
      `${root2.rps.toFixed(0)} vs ${root1.rps.toFixed(0)} req/s (${ratio(root2.rps, root1.rps).toFixed(2)}×); server used ${cores(root2)} vs ${cores(root1)}; ` +
      `req/s per server core ${n(root2.rps / root2.serverCores)} vs ${n(root1.rps / root1.serverCores)}; feed with 2 workers ${feed2.rps.toFixed(0)} req/s`])
    checks.push(['RSS after the bench < 200 MB', rssMb < 200, `${rssMb.toFixed(0)} MB`])
    if (preset === 'large') {
      for (const row of rows.filter(r => ['feed-deep', 'feed-search-rare'].includes(r.scenario))) {
        checks.push([`${row.scenario} > 500 req/s`, row.postline.rps > 500, `${row.postline.rps.toFixed(0)} req/s`])
      }
    }
    for (const [, ok] of checks) if (!ok) failed = true

    const commit = currentCommit()
    const when = new Date().toISOString()
    const table = [
      `### ${preset} (${PRESETS[preset].users} users, ${PRESETS[preset].posts} posts, ${PRESETS[preset].votes} votes) — ${when}, commit ${commit}, ${cpus().length}× ${cpus()[0]?.model ?? 'cpu'}`,
      '',
      `${cacheMb.CACHE_MAX_MB === undefined ? '' : `Postline with CACHE_MAX_MB=${cacheMb.CACHE_MAX_MB}. `}${connections} connections, ${duration} s per run after a ${warmup} s warm-up, ${rounds} rounds per server alternating which goes first (means); latencies in ms; ratio = Postline / baseline ("—": no such route on the baseline); req/s counts 2xx answers only.`,
      '',
      '| scenario | Postline req/s | p50 | p99 | baseline req/s | p50 | p99 | req/s ratio | p99 ratio | non-2xx / errors |',
      '|---|---:|---:|---:|---:|---:|---:|---:|---:|---|',
      ...rows.map(({ scenario, postline: p, baseline: b }) => {
        // A scenario the baseline has no route for: its columns and the ratios are "—".
        const base = b ? [n(b.rps), n(b.p50), n(b.p99), ratio(p.rps, b.rps).toFixed(2), ratio(p.p99, b.p99).toFixed(2)] : ['—', '—', '—', '—', '—']
        return `| ${scenario} | ${n(p.rps)} | ${n(p.p50)} | ${n(p.p99)} | ${base.join(' | ')} | ${p.non2xx + (b?.non2xx ?? 0)} / ${p.errors + (b?.errors ?? 0)} |`
      }),
      '',
      ...checksTable(checks),
      ''
    ].join('\n')
    console.log(table)
    writeResults(preset, table, { preset, when, commit, connections, duration, rows, bcryptPerSecond, feedIdle, feedBusy, loginBusy, root1, root2, feed2, rssMb, checks })
  }
} finally {
  for (const server of servers) await server.stop()
  await endBenchSessions(db).catch(err => log(`could not remove the bench's sessions: ${err}`))
  await db.end()
  await database.stop?.()
}
process.exit(failed ? 1 : 0)
