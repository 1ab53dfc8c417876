import { setTimeout as sleep } from 'node:timers/promises'
import { mean, measureScenario, type Measure } from './load.js'
import type { Check } from './report.js'
import { SCENARIOS, benchUserCount, random, type BenchData } from './scenarios.js'
import { startServer, type BenchServer } from './servers.js'
import type { OwnRunOptions } from './stream.js'

// The `cache` run: Postline with its read cache (the default), Postline with CACHE_MAX_MB=0
// and the bare baseline, on the hottest reads, in rounds alternating which goes first; then the
// same while 100 votes a second land (by plain SQL, as another process's would) on the posts
// being read; then 100,000 distinct posts read through the cache, against its memory bound.
// CACHE_READS=feed-top,feed-hot narrows the scenarios, CACHE_VOTING=1 runs only with votes.

const CACHED_PORT = 18_093
const UNCACHED_PORT = 18_094
const BASELINE_PORT = 18_095
const READS = process.env.CACHE_READS?.split(',') ?? ['post-by-id', 'feed', 'feed-top', 'feed-hot']
const FEED_SORTS: Record<string, string> = { feed: 'new', 'feed-top': 'top', 'feed-hot': 'hot' }
const VOTES_PER_SECOND = 100
const DISTINCT_POSTS = 100_000
const TARGETS = { quiet: 2, voting: 1.5 }

interface Runs { cached: Measure, uncached: Measure, baseline: Measure }

/** Pairs of a bench user and one of `posts` that the user has not voted on: a vote to add, then take back. */
async function freshVotes (data: BenchData, posts: number[], count: number) {
  const next = random(17)
  const users = benchUserCount(data.users)
  const candidates = Array.from({ length: count * 3 }, (_, i) => ({ user: 1 + Math.floor(next() * users), post: posts[i % posts.length]! }))
  const { rows } = await data.db.query<{ user_id: number, post_id: number }>(
    'select user_id, post_id from votes where (user_id, post_id) in (select * from unnest($1::int[], $2::int[]))',
    [candidates.map(pair => pair.user), candidates.map(pair => pair.post)])
  const taken = new Set(rows.map(row => `${row.user_id}:${row.post_id}`))
  const seen = new Set<string>()
  return candidates.filter(({ user, post }) => {
    const key = `${user}:${post}`
    if (taken.has(key) || seen.has(key)) return false
    seen.add(key)
    return true
  }).slice(0, count)
}

/**
 * Votes at `perSecond` on `pairs` (each added, and taken back on the next pass) until `stop`
 * resolves; every vote it added is taken back before it resolves.
 */
async function voteWhile (data: BenchData, pairs: { user: number, post: number }[], perSecond: number, stop: Promise<void>) {
  const state = { stopped: false }
  stop.then(() => { state.stopped = true })
  const added = new Set<number>()
  const started = performance.now()
  for (let i = 0; !state.stopped; i++) {
    const slot = i % pairs.length
    const { user, post } = pairs[slot]!
    if (added.has(slot)) {
      await data.db.query('delete from votes where user_id = $1 and post_id = $2', [user, post])
      added.delete(slot)
    } else {
      await data.db.query('insert into votes (user_id, post_id) values ($1, $2)', [user, post])
      added.add(slot)
    }
    const wait = started + ((i + 1) * 1000) / perSecond - performance.now()
    if (wait > 1) await sleep(wait)
  }
  for (const slot of added) await data.db.query('delete from votes where user_id = $1 and post_id = $2', [pairs[slot]!.user, pairs[slot]!.post])
}

/** The posts a scenario reads: a feed's first page, or (post-by-id) every post. */
export async function readPosts (data: BenchData, scenario: string): Promise<number[]> {
  const sort = FEED_SORTS[scenario]
  if (sort === undefined) return Array.from({ length: data.posts }, (_, i) => i + 1)
  const order = { new: 'p.created_at desc, p.id desc', top: 'c.votes desc, c.created_at desc, c.post_id desc', hot: 'c.hot desc, c.post_id desc' }[sort]!
  const { rows } = await data.db.query<{ id: number }>(`select p.id from posts p join vote_counts c on c.post_id = p.id order by ${order} limit 10`)
  return rows.map(row => row.id)
}

async function readCacheStatus (server: BenchServer) {
  return (await (await fetch(`${server.url}/ready`)).json()).cache as { hits: number, misses: number, entries: number, bytes: number, max_bytes: number }
}

/** Reads each post once, 16 at a time. */
export async function readEach (data: BenchData, server: BenchServer, ids: number[]) {
  const token = data.token(1)
  let next = 0
  await Promise.all(Array.from({ length: 16 }, async () => {
    for (let i = next++; i < ids.length; i = next++) {
      const response = await fetch(`${server.url}/posts/${ids[i]}`, { headers: { authorization: `Bearer ${token}` } })
      await response.arrayBuffer()
      if (response.status !== 200) throw new Error(`post ${ids[i]}: ${response.status}`)
    }
  }))
}

/** 100,000 distinct posts read once each through the cache: what it holds, and the process's memory, after. */
async function distinctReads (data: BenchData, server: BenchServer, log: (message: string) => void) {
  const extra = DISTINCT_POSTS - data.posts
  if (extra > 0) {
    log(`cache: adding ${extra} posts for the distinct-read run (removed after)`)
    await data.db.query('insert into posts (title, content, owner_id) select \'Distinct \' || n, repeat(\'A post read once. \', 8), 1 + n % $2 from generate_series(1, $1) n', [extra, benchUserCount(data.users)])
  }
  try {
    const { rows } = await data.db.query<{ id: number }>('select id from posts order by id limit $1', [DISTINCT_POSTS])
    const rssBefore = server.rssMb()
    const started = Date.now()
    await readEach(data, server, rows.map(row => row.id))
    const seconds = (Date.now() - started) / 1000
    // Let the collector settle what the run let go of before memory is read.
    await sleep(2000)
    return { posts: rows.length, seconds, rssBefore, rssAfter: server.rssMb(), status: await readCacheStatus(server) }
  } finally {
    if (extra > 0) {
      await data.db.query('delete from posts where id > $1', [data.posts])
      // Else the next runs' feeds walk the deleted posts' index entries, the baseline's as Postline's.
      await data.db.query('vacuum analyze posts, vote_counts, votes')
    }
  }
}

export async function runCacheBench ({ data, env, seconds, warmup, rounds, connections, log }: OwnRunOptions) {
  const servers: BenchServer[] = []
  try {
    const cached = await startServer('postline', CACHED_PORT, env)
    const uncached = await startServer('postline', UNCACHED_PORT, { ...env, CACHE_MAX_MB: '0' })
    const baseline = await startServer('baseline', BASELINE_PORT, env)
    servers.push(cached, uncached, baseline)
    const names = new Map([[cached, 'cache on'], [uncached, 'cache off'], [baseline, 'baseline']])
    const checks: Check[] = []
    const figures: Record<string, unknown> = {}

    for (const voting of process.env.CACHE_VOTING === '1' ? [true] : [false, true]) {
      for (const scenario of SCENARIOS.filter(s => READS.includes(s.name))) {
        // Measured warm, as a server that has run a while is: every post read once first.
        if (scenario.name === 'post-by-id') await readEach(data, cached, await readPosts(data, scenario.name))
        const pairs = voting ? await freshVotes(data, await readPosts(data, scenario.name), 200) : []
        const runs = new Map<BenchServer, Measure[]>(servers.map(server => [server, []]))
        for (let round = 0; round < rounds; round++) {
          const order = round % 2 === 0 ? servers : [...servers].reverse()
          for (const server of order) {
            let stop = () => {}
            let voter: Promise<void> | undefined
            const around = voting
              ? { before: () => { voter = voteWhile(data, pairs, VOTES_PER_SECOND, new Promise<void>(resolve => { stop = resolve })) }, after: () => stop() }
              : undefined
            const measure = await measureScenario(server.url, scenario, data, { warmup, seconds, connections, log, ...(around ? { around } : {}) })
            await voter
            runs.get(server)!.push(measure)
            log(`${scenario.name}${voting ? ` with ${VOTES_PER_SECOND} votes/s` : ''} on ${names.get(server)}, round ${round + 1}: ${measure.rps.toFixed(0)} req/s, p99 ${measure.p99} ms`)
          }
        }
        const result: Runs = { cached: mean(runs.get(cached)!), uncached: mean(runs.get(uncached)!), baseline: mean(runs.get(baseline)!) }
        figures[`${scenario.name}${voting ? ' voting' : ''}`] = result
        const floor = voting ? TARGETS.voting : TARGETS.quiet
        const rps = result.cached.rps / result.baseline.rps
        const failures = Object.values(result).reduce((sum, m) => sum + m.non2xx + m.errors, 0)
        const p99Target = voting ? '' : ', p99 ≤ the baseline\'s'
        const met = rps >= floor && (voting || result.cached.p99 <= result.baseline.p99) && failures === 0
        checks.push([`${scenario.name}${voting ? `, ${VOTES_PER_SECOND} votes/s on the read posts` : ''}: cache on ≥ ${floor}× baseline${p99Target}`, met,
          `${rps.toFixed(2)}× (${result.cached.rps.toFixed(0)} vs ${result.baseline.rps.toFixed(0)} req/s), p99 ${result.cached.p99} vs ${result.baseline.p99} ms; cache off ${(result.uncached.rps / result.baseline.rps).toFixed(2)}×${failures ? `; ${failures} non-2xx or errors` : ''}`])
      }
    }

    const status = await readCacheStatus(cached)
    checks.push(['cache on: its hits outnumber its misses over the runs', status.hits > status.misses, `${status.hits} hits, ${status.misses} misses`])
    log(`cache: reading ${DISTINCT_POSTS} distinct posts`)
    const distinct = await distinctReads(data, cached, log)
    figures.distinct = distinct
    checks.push([`${DISTINCT_POSTS} distinct posts read: the cache within CACHE_MAX_MB, RSS < 300 MB`, distinct.posts === DISTINCT_POSTS && distinct.status.bytes <= distinct.status.max_bytes && distinct.rssAfter < 300,
      `${(distinct.status.bytes / 1048576).toFixed(1)} of ${distinct.status.max_bytes / 1048576} MiB reckoned, ${distinct.status.entries} entries; RSS ${distinct.rssBefore.toFixed(0)} → ${distinct.rssAfter.toFixed(0)} MB; ${(DISTINCT_POSTS / distinct.seconds).toFixed(0)} reads/s`])
    return { checks, figures }
  } finally {
    for (const server of servers) await server.stop()
  }
}
