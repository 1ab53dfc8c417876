import http from 'node:http'
import { readFileSync } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'
import { mean, measureScenario, type Measure } from './load.js'
import type { Check } from './report.js'
import { SCENARIOS, benchUserCount, random, type BenchData, type Scenario } from './scenarios.js'
import { startServer, type BenchServer } from './servers.js'

// The `stream` scenario: SUBSCRIBERS streams open on one Postline process while another
// process takes VOTES_PER_SECOND votes and POSTS_PER_SECOND new posts; every event is timed
// from the moment its write was sent (an upper bound on commit-to-receipt) to its arrival at
// each subscriber. Then the write routes' rates with the change feed's triggers on and off.

const SUBSCRIBERS = 2000
const VOTES_PER_SECOND = 100
const POSTS_PER_SECOND = 10
const STREAMS_PORT = 18_084
const WRITES_PORT = 18_085
/** The change feed's triggers (from the stream migration), switched off for the "off" runs. */
const FEED_FUNCTIONS = ['stream_post_changed', 'stream_post_created', 'stream_votes_changed']

/** What a run of its own (`--scenarios stream`, `pooler`, `replica`) is given. */
export interface OwnRunOptions {
  data: BenchData
  env: Record<string, string>
  seconds: number
  warmup: number
  rounds: number
  connections: number
  log: (message: string) => void
}

export interface StreamBenchResult {
  checks: Check[]
  figures: Record<string, unknown>
}

/** Latencies in whole milliseconds, counted per millisecond (up to a minute). */
class Latencies {
  private readonly counts = new Uint32Array(60_001)
  total = 0
  add (ms: number) {
    this.counts[Math.min(60_000, Math.max(0, Math.round(ms)))]!++
    this.total++
  }

  quantile (q: number): number {
    let seen = 0
    for (let ms = 0; ms < this.counts.length; ms++) {
      seen += this.counts[ms]!
      if (seen >= q * this.total) return ms
    }
    return Number.NaN
  }
}

/** The server's peak resident memory so far (VmHWM), in MB. */
const peakRssMb = (server: BenchServer) => Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${server.child.pid}/status`, 'utf8'))?.[1] ?? 0) / 1024

/** A write the subscribers should see: when it was sent. */
type Sent = Map<string, number>

/** What the subscribers saw: events counted by all, timed by every TIMED_EVERY-th (by the post's title for a new post, by its id for a vote: each post is voted on once). */
interface Seen {
  sent: Sent
  latencies: Latencies
  /** Events received, per subscriber. */
  counts: number[]
}

/** Latency is timed on one subscriber in this many (spread over the fan-out's order); parsing every event of every subscriber would load the bench's own CPU more than the server's. */
const TIMED_EVERY = 10

function subscribe (url: string, token: string, index: number, seen: Seen): Promise<http.ClientRequest> {
  const timed = index % TIMED_EVERY === 0
  seen.counts[index] = 0
  return new Promise((resolve, reject) => {
    const request = http.get(`${url}/stream`, { agent: false, headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' } }, response => {
      if (response.statusCode !== 200) {
        reject(new Error(`GET /stream answered ${response.statusCode}`))
        response.resume()
        return
      }
      response.setEncoding('utf8')
      let buffer = ''
      response.on('data', (chunk: string) => {
        const now = performance.now()
        buffer += chunk
        const last = buffer.lastIndexOf('\n\n')
        if (last < 0) return
        const blocks = buffer.slice(0, last + 2)
        buffer = buffer.slice(last + 2)
        for (let at = blocks.indexOf('event: post.'); at >= 0; at = blocks.indexOf('event: post.', at + 1)) seen.counts[index]!++
        if (!timed) return
        for (const block of blocks.split('\n\n')) {
          const key = block.includes('event: post.created')
            ? /"title":"(stream-bench [^"]+)"/.exec(block)?.[1]
            : block.includes('event: post.votes') ? /data: \{"id":(\d+),/.exec(block)?.[1] : undefined
          const at = key === undefined ? undefined : seen.sent.get(key)
          if (at !== undefined) seen.latencies.add(now - at)
        }
      })
      resolve(request)
    })
    request.on('error', reject)
  })
}

/** Pairs of a bench user and a post, each post once, with whether the user has voted on it now. */
async function votePairs (data: BenchData, count: number) {
  const next = random(13)
  const posts = Array.from({ length: data.posts }, (_, i) => i + 1)
  for (let i = posts.length - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1))
    ;[posts[i], posts[j]] = [posts[j]!, posts[i]!]
  }
  const users = benchUserCount(data.users)
  const pairs = posts.slice(0, count).map(post => ({ user: 1 + Math.floor(next() * users), post, voted: false }))
  const { rows } = await data.db.query<{ user_id: number, post_id: number }>(
    'select user_id, post_id from votes where (user_id, post_id) in (select * from unnest($1::int[], $2::int[]))',
    [pairs.map(pair => pair.user), pairs.map(pair => pair.post)])
  const voted = new Set(rows.map(row => `${row.user_id}:${row.post_id}`))
  for (const pair of pairs) pair.voted = voted.has(`${pair.user}:${pair.post}`)
  return pairs
}

/** Sends `perSecond` requests a second for `seconds`, each made by `send(i)`; resolves when all are answered. */
async function paced (perSecond: number, seconds: number, send: (i: number) => Promise<unknown>): Promise<void> {
  const answers: Promise<unknown>[] = []
  const started = performance.now()
  for (let i = 0; i < perSecond * seconds; i++) {
    const due = started + (i * 1000) / perSecond
    const wait = due - performance.now()
    if (wait > 1) await sleep(wait)
    answers.push(send(i))
  }
  await Promise.all(answers)
}

async function setFeedTriggers (data: BenchData, enabled: boolean) {
  const { rows } = await data.db.query<{ relation: string, name: string }>(
    'select tgrelid::regclass::text as relation, tgname as name from pg_trigger where tgfoid = any($1::regproc[])', [FEED_FUNCTIONS])
  if (rows.length === 0) throw new Error('the change feed\'s triggers are missing: is the database migrated?')
  for (const { relation, name } of rows) await data.db.query(`alter table ${relation} ${enabled ? 'enable' : 'disable'} trigger "${name}"`)
}

/**
 * Each pair of on/off runs starts from the same state: the last run's dead rows vacuumed (a machine
 * may run without autovacuum) and a checkpoint just made, so that a timed checkpoint, and the
 * full-page writes after it, do not fall in one side's runs only.
 */
async function settle (data: BenchData) {
  await data.db.query('vacuum posts, votes, vote_counts, stream_events')
  await data.db.query('checkpoint').catch(() => {})
}

/** One on/off run's length: short, so that pairs of runs a few seconds apart see the same machine (its rate drifts by a third within minutes). */
const SLICE_SECONDS = 5

interface OnOff {
  on: Measure[]
  off: Measure[]
  /** Each pair's on/off ratio. */
  pairRatios: number[]
}

/**
 * A write route's rate with the feed's triggers on and off: pairs of short runs back to back,
 * as many as `rounds` runs of `seconds` would take per side, each pair after a settle and in
 * the order the last pair did not use (on-off, off-on, ...), so that the machine's drift and
 * the tables' growth weigh on both sides alike.
 */
async function onOffRates (url: string, scenario: Scenario, data: BenchData, { warmup, seconds, rounds, connections, log }: Pick<OwnRunOptions, 'warmup' | 'seconds' | 'rounds' | 'connections' | 'log'>): Promise<OnOff> {
  const result: OnOff = { on: [], off: [], pairRatios: [] }
  const pairs = Math.max(2, Math.round(rounds * seconds / SLICE_SECONDS))
  for (let pair = 0; pair < pairs; pair++) {
    await settle(data)
    const rates: Record<string, number> = {}
    for (const enabled of pair % 2 === 0 ? [true, false] : [false, true]) {
      await setFeedTriggers(data, enabled)
      const measure = await measureScenario(url, scenario, data, { warmup: Math.min(warmup, 1), seconds: SLICE_SECONDS, connections, log })
      // What a serving process's prune does every 30 s: each run starts from a short feed.
      await data.db.query('delete from stream_events')
      result[enabled ? 'on' : 'off'].push(measure)
      rates[enabled ? 'on' : 'off'] = measure.rps
    }
    result.pairRatios.push(rates.on! / rates.off!)
    log(`${scenario.name}, pair ${pair + 1} of ${pairs}: on ${rates.on!.toFixed(0)}, off ${rates.off!.toFixed(0)} req/s (${(rates.on! / rates.off!).toFixed(2)}×)`)
  }
  await setFeedTriggers(data, true)
  return result
}

export async function runStreamBench ({ data, env, seconds, warmup, rounds, connections, log }: OwnRunOptions): Promise<StreamBenchResult> {
  const servers: BenchServer[] = []
  try {
    const streams = await startServer('postline', STREAMS_PORT, env)
    const writes = await startServer('postline', WRITES_PORT, env)
    servers.push(streams, writes)
    const sent: Sent = new Map()
    const latencies = new Latencies()
    const seen: Seen = { sent, latencies, counts: [] }

    log(`stream: opening ${SUBSCRIBERS} streams`)
    const rssBefore = streams.rssMb()
    const users = benchUserCount(data.users)
    const requests: http.ClientRequest[] = []
    for (let i = 0; i < SUBSCRIBERS; i += 100) {
      requests.push(...await Promise.all(Array.from({ length: Math.min(100, SUBSCRIBERS - i) }, (_, j) =>
        subscribe(streams.url, data.token(1 + ((i + j) % users)), i + j, seen))))
    }
    await sleep(1000)
    const rssIdle = streams.rssMb()

    const pairs = await votePairs(data, VOTES_PER_SECOND * seconds)
    const writeLatencies = new Latencies()
    const writeFailures: string[] = []
    const write = async (path: string, token: string, body: object, key: string) => {
      const at = performance.now()
      sent.set(key, at)
      const response = await fetch(`${writes.url}${path}`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) })
      writeLatencies.add(performance.now() - at)
      if (response.status !== 201) writeFailures.push(`${response.status} ${path} ${(await response.text()).slice(0, 200)}`)
      else await response.arrayBuffer()
    }
    log(`stream: ${VOTES_PER_SECOND} votes/s and ${POSTS_PER_SECOND} posts/s through another process for ${seconds} s`)
    const cpuBefore = streams.cpuSeconds()
    const started = performance.now()
    await Promise.all([
      paced(VOTES_PER_SECOND, seconds, i => {
        const pair = pairs[i]!
        return write('/vote', data.token(pair.user), { post_id: pair.post, dir: pair.voted ? 0 : 1 }, String(pair.post))
      }),
      paced(POSTS_PER_SECOND, seconds, i => write('/posts', data.token(1 + (i % users)), { title: `stream-bench ${i}`, content: 'Written by the stream benchmark, removed after it.' }, `stream-bench ${i}`))
    ])
    // The last events' way to the subscribers.
    await sleep(2000)
    const busySeconds = (performance.now() - started) / 1000
    const cpuCores = (streams.cpuSeconds() - cpuBefore) / busySeconds
    const rssLoaded = streams.rssMb()
    const rssPeak = peakRssMb(streams)
    const expected = sent.size * SUBSCRIBERS
    const got = seen.counts.reduce((sum, n) => sum + n, 0)
    for (const request of requests) request.destroy()

    // Back as seeded: the votes toggled back, the new posts removed.
    await data.db.query(`
      with pairs as (select * from unnest($1::int[], $2::int[], $3::bool[]) as p(user_id, post_id, voted)),
           gone as (delete from votes v using pairs p where not p.voted and v.user_id = p.user_id and v.post_id = p.post_id)
      insert into votes (user_id, post_id) select user_id, post_id from pairs where voted on conflict do nothing`,
    [pairs.map(pair => pair.user), pairs.map(pair => pair.post), pairs.map(pair => pair.voted)])
    await data.db.query('delete from posts where id > $1', [data.posts])
    await streams.stop()

    log('stream: the write routes with the change feed\'s triggers on and off')
    const onOff: Record<string, OnOff> = {}
    for (const name of ['vote-toggle', 'create-post']) {
      onOff[name] = await onOffRates(writes.url, SCENARIOS.find(s => s.name === name)!, data, { warmup, seconds, rounds, connections, log })
    }
    await setFeedTriggers(data, true)

    const p50 = latencies.quantile(0.5)
    const p99 = latencies.quantile(0.99)
    const checks: Check[] = [
      [`stream: every event reaches all ${SUBSCRIBERS} subscribers`, got === expected && writeFailures.length === 0,
        `${got} of ${expected} deliveries (${sent.size} writes)${writeFailures.length ? `; ${writeFailures.length} writes failed: ${writeFailures.slice(0, 2).join('; ')}` : ''}`],
      ['stream: delivery p99 < 250 ms (from the write sent to each subscriber\'s receipt)', p99 < 250,
        `over ${latencies.total} deliveries to ${SUBSCRIBERS / TIMED_EVERY} subscribers: p50 ${p50} ms, p99 ${p99} ms, max ${latencies.quantile(1)} ms; the writes themselves: p50 ${writeLatencies.quantile(0.5)} ms, p99 ${writeLatencies.quantile(0.99)} ms`],
      [`stream: RSS < 300 MB with ${SUBSCRIBERS} subscribers`, rssPeak < 300,
        `peak ${rssPeak.toFixed(0)} MB (${rssBefore.toFixed(0)} MB before the streams, ${rssIdle.toFixed(0)} MB with them idle, ${rssLoaded.toFixed(0)} MB after the writes); CPU ${cpuCores.toFixed(2)} cores while delivering`]
    ]
    for (const [name, { on, off, pairRatios }] of Object.entries(onOff)) {
      const ratio = mean(on).rps / mean(off).rps
      const sorted = [...pairRatios].sort((a, b) => a - b)
      checks.push([`${name}: req/s with the feed on ≥ 0.9× off`, ratio >= 0.9,
        `${ratio.toFixed(2)}× (${mean(on).rps.toFixed(0)} vs ${mean(off).rps.toFixed(0)} req/s; p99 ${mean(on).p99.toFixed(0)} vs ${mean(off).p99.toFixed(0)} ms; ${pairRatios.length} pairs of ${SLICE_SECONDS} s runs, each pair's ratio ${sorted[0]!.toFixed(2)}–${sorted.at(-1)!.toFixed(2)}×, median ${sorted[Math.floor(sorted.length / 2)]!.toFixed(2)}×)`])
    }
    return { checks, figures: { p50, p99, expected, got, rssBefore, rssIdle, rssLoaded, rssPeak, cpuCores, onOff } }
  } finally {
    await setFeedTriggers(data, true).catch(() => {})
    for (const server of servers) await server.stop()
  }
}
