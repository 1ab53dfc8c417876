import type autocannon from 'autocannon'
import type pg from 'pg'
import type { FeedPosition } from '../db/queries/feeds.js'
import type { CursorPosition } from '../lib/cursor.js'
import { BENCH_PASSWORD } from './presets.js'
import { LOGIN_USER_AGENT, REFRESH_USER_AGENT, endBenchSessions } from './sessions.js'

/** What the scenarios know about the seeded data and the bench's users. */
export interface BenchData {
  db: pg.Client
  users: number
  /** The highest seeded post id: posts above it were made by the bench and are removed. */
  posts: number
  commonWord: string
  rareWord: string
  deepSkip: number
  /** An access token of one of the bench's users (1..benchUsers), in the live session the bench started for them. */
  token: (userId: number) => string
  /** A cursor as the server signs it. */
  cursor: (position: CursorPosition) => string
}

/** The server a run loads, and with how many connections. */
export interface Target {
  url: string
  connections: number
}

/**
 * What one run sends: one request for every connection, or (`perConnection`, for a request
 * that carries state from one answer to the next) each connection's own, made when it opens.
 * (autocannon's per-connection `context` cannot hold such state: it is reset before each request.)
 */
export type BenchRequest = autocannon.Request | { perConnection: (connection: number) => autocannon.Request }

export interface Scenario {
  name: string
  /** Held to the ratio targets (Postline ≥ 0.85× the baseline's req/s, p99 ≤ 1.3×; a ranked feed also ≥ 0.85× `feed`). */
  ratioTarget: boolean
  /** The baseline has no such route: measured on Postline alone, with no ratio. */
  postlineOnly?: true
  /**
   * Postline's rate here against its rate on other scenarios, each measured right after this
   * one in every round (minutes apart, a shared machine's load would decide the ratio);
   * `floor` is the target, none when the ratio is only reported.
   */
  against?: { scenario: string, floor?: number, why: string }[]
  /** Connections for this scenario, when not the run's (login queues on bcrypt). */
  connections?: number
  /** Builds the request for one run on `target`; may read the database or call the server first. */
  request: (data: BenchData, target: Target) => Promise<BenchRequest>
  /** Puts the data back as seeded after a run. */
  cleanup?: (data: BenchData) => Promise<void>
}

/** A small deterministic PRNG (mulberry32), so that runs pick the same ids. */
export function random (seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const pick = (next: () => number, max: number) => 1 + Math.floor(next() * max)

// Tokens of the first BENCH_USERS users take turns, so requests are not all one user's.
const BENCH_USERS = 1000
/** How many users the bench signs tokens for (users 1 to this): a session is started for each. */
export const benchUserCount = (users: number) => Math.min(BENCH_USERS, users)
const benchUsers = (data: BenchData) => benchUserCount(data.users)

function authenticated (data: BenchData, next: () => number, request: autocannon.Request): autocannon.Request {
  request.headers = { ...request.headers, authorization: `Bearer ${data.token(pick(next, benchUsers(data)))}` }
  return request
}

type Against = NonNullable<Scenario['against']>

/** A ranked feed costs what the first page of the newest posts does. */
const LIKE_FEED: Against = [{ scenario: 'feed', floor: 0.85, why: 'Postline\'s first page' }]

function get (name: string, ratioTarget: boolean, path: (data: BenchData, next: () => number) => string, against?: Against): Scenario {
  return {
    name,
    ratioTarget,
    ...(against ? { against } : {}),
    async request (data) {
      const next = random(1)
      return { method: 'GET', setupRequest: request => authenticated(data, next, { ...request, path: path(data, next) }) }
    }
  }
}

/** How deep the deep cursors start: their page is the one after this many posts. */
export const DEEP_CURSOR = 10_000

/** DEEP_CURSOR, or on data too small for it (the small preset), as deep as leaves a full page. */
export const deepPosition = (posts: number) => Math.max(0, Math.min(DEEP_CURSOR, posts - 100))

const DEEP_POSITION_SQL = {
  new: 'select created_at::text as key, id from posts order by created_at desc, id desc offset $1 limit 1',
  hot: 'select hot as key, post_id as id from vote_counts order by hot desc, post_id desc offset $1 limit 1'
}

/** The position of `sort`'s deepPosition-th post, as the data is now. */
export async function deepFeedPosition (db: pg.Client, sort: 'new' | 'hot', posts: number): Promise<FeedPosition> {
  const { rows: [row] } = await db.query<{ key: string | number, id: number }>(DEEP_POSITION_SQL[sort], [deepPosition(posts) - 1])
  if (!row) throw new Error(`the data has too few posts for a position ${deepPosition(posts)} deep`)
  return { key: [row.key], id: row.id }
}

/** GET /posts continuing after the deepPosition-th post of `sort`. */
function deepCursor (name: string, sort: 'new' | 'hot', against: Against): Scenario {
  return {
    name,
    ratioTarget: true,
    against,
    async request (data) {
      const position = await deepFeedPosition(data.db, sort, data.posts)
      const next = random(11)
      const path = `/posts?sort=${sort}&cursor=${data.cursor({ sort, t: 'all', ...position })}`
      return { method: 'GET', setupRequest: request => authenticated(data, next, { ...request, path }) }
    }
  }
}

const removeBenchPosts = async (data: BenchData) => {
  await data.db.query('delete from posts where id > $1', [data.posts])
  // The deleted posts' entries sit at the head of the feed's index: left for autovacuum,
  // they slowed every later `feed` run (70,000 dead rows behind 10,000 live ones, once).
  await data.db.query('vacuum (analyze) posts, vote_counts')
}

/** The sessions the `refresh` runs started, and their chains of refresh tokens. */
const removeRefreshSessions = async (data: BenchData) => {
  await endBenchSessions(data.db, REFRESH_USER_AGENT)
  // Each refresh leaves a used refresh token and a session row version behind: cleared, so
  // that the next round, and the scenarios after, find the tables as before.
  await data.db.query('vacuum (analyze) sessions, refresh_tokens')
}

/** A refresh token from a password grant: a new session of `user`, marked as the bench's. */
async function firstRefreshToken (url: string, user: number): Promise<string> {
  const response = await fetch(`${url}/auth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', 'user-agent': REFRESH_USER_AGENT },
    body: new URLSearchParams({ grant_type: 'password', username: `user${user}@example.com`, password: BENCH_PASSWORD })
  })
  const body = await response.text()
  if (response.status !== 200) throw new Error(`refresh: the password grant for user ${user} was answered ${response.status} ${body.slice(0, 200)}`)
  return (JSON.parse(body) as { refresh_token: string }).refresh_token
}

/**
 * The refresh grant under load. Each connection has its own session (a password grant of a
 * user of its own at setup) and chains its refresh tokens: every request sends the one the
 * previous answer on this connection returned. A refused refresh breaks the chain: the
 * connection goes on sending the used token, so every later answer is a 400, counted as
 * non-2xx (and req/s counts only the 2xx); the bench fails on them.
 */
const refresh: Scenario = {
  name: 'refresh',
  ratioTarget: false,
  postlineOnly: true,
  async request (data, { url, connections }) {
    const first = await Promise.all(Array.from({ length: connections }, (_, i) => firstRefreshToken(url, 1 + i % benchUsers(data))))
    return {
      perConnection (connection) {
        let token = first[connection]
        if (token === undefined) throw new Error(`refresh: no refresh token for connection ${connection} (${first.length} were made)`)
        return {
          method: 'POST',
          path: '/auth/token',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          setupRequest: request => ({ ...request, body: `grant_type=refresh_token&refresh_token=${token}` }),
          onResponse (status, body) {
            if (status === 200) token = (JSON.parse(body) as { refresh_token: string }).refresh_token
          }
        }
      }
    }
  },
  cleanup: removeRefreshSessions
}

/**
 * Votes toggled on and off across many users and posts. The pairs' current state is read
 * from the database before each run, and requests take the pairs in turn: a pair comes back
 * only after 10,000 other requests, long after its previous request was answered (at most
 * `connections` are in flight), so every request is a real insert or delete that succeeds.
 * (autocannon's per-connection context cannot hold state: it is reset before each request.)
 */
const voteToggle: Scenario = {
  name: 'vote-toggle',
  ratioTarget: true,
  async request (data) {
    const next = random(7)
    const pairs = new Map<string, { user: number, post: number, voted: boolean }>()
    while (pairs.size < 10_000) {
      const user = pick(next, benchUsers(data))
      const post = pick(next, data.posts)
      pairs.set(`${user}:${post}`, { user, post, voted: false })
    }
    const all = [...pairs.values()]
    const { rows } = await data.db.query<{ user_id: number, post_id: number }>(
      'select user_id, post_id from votes where (user_id, post_id) in (select * from unnest($1::int[], $2::int[]))',
      [all.map(pair => pair.user), all.map(pair => pair.post)])
    for (const row of rows) pairs.get(`${row.user_id}:${row.post_id}`)!.voted = true
    let turn = 0
    return {
      method: 'POST',
      path: '/vote',
      headers: { 'content-type': 'application/json' },
      setupRequest (request) {
        const pair = all[turn++ % all.length]!
        const dir = pair.voted ? 0 : 1
        pair.voted = !pair.voted
        return { ...request, headers: { ...request.headers, authorization: `Bearer ${data.token(pair.user)}` }, body: JSON.stringify({ post_id: pair.post, dir }) }
      }
    }
  }
}

export const SCENARIOS: Scenario[] = [
  { name: 'root', ratioTarget: false, request: async () => ({ method: 'GET', path: '/' }) },
  get('feed', true, () => '/posts'),
  get('feed-search', true, data => `/posts?search=${data.commonWord}`),
  get('feed-search-rare', false, data => `/posts?search=${data.rareWord}`),
  get('feed-deep', false, data => `/posts?skip=${data.deepSkip}`, [{ scenario: 'feed', why: 'the first page, for comparison' }]),
  get('feed-hot', true, () => '/posts?sort=hot', LIKE_FEED),
  get('feed-top', true, () => '/posts?sort=top', LIKE_FEED),
  get('feed-top-day', true, () => '/posts?sort=top&t=day', LIKE_FEED),
  // A deep page by cursor costs what the first page does.
  deepCursor('feed-new-deep-cursor', 'new', [{ scenario: 'feed', floor: 0.9, why: 'the first page' }]),
  deepCursor('feed-hot-deep-cursor', 'hot', [...LIKE_FEED, { scenario: 'feed-hot', floor: 0.9, why: 'its first page' }]),
  get('user-posts', true, (data, next) => `/users/${pick(next, data.users)}/posts`, LIKE_FEED),
  get('post-by-id', true, (data, next) => `/posts/${pick(next, data.posts)}`),
  voteToggle,
  {
    name: 'create-post',
    ratioTarget: true,
    async request (data) {
      const next = random(3)
      const body = JSON.stringify({ title: 'A benchmark post', content: 'Written by the benchmark, removed after the run.' })
      return { method: 'POST', path: '/posts', headers: { 'content-type': 'application/json' }, body, setupRequest: request => authenticated(data, next, request) }
    },
    cleanup: removeBenchPosts
  },
  refresh,
  {
    name: 'login',
    ratioTarget: false,
    // Enough to keep every core busy with bcrypt; more would only queue (each takes ~250 ms).
    connections: 8,
    async request (data) {
      const next = random(5)
      return {
        method: 'POST',
        path: '/login',
        // Each login starts a session: marked as the bench's, removed after each run.
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'user-agent': LOGIN_USER_AGENT },
        setupRequest: request => ({ ...request, body: `username=user${pick(next, data.users)}%40example.com&password=${BENCH_PASSWORD}` })
      }
    },
    cleanup: data => endBenchSessions(data.db, LOGIN_USER_AGENT)
  }
]
