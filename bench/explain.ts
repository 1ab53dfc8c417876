// `npm run explain`: EXPLAIN (ANALYZE, BUFFERS) of each feed statement the bench's scenarios
// run, on the bench database as it is (seed it first), printed as markdown for bench/RESULTS.md.
// The caller is user 1 in a live session, as the bench's tokens are: the session is started in
// a transaction that is rolled back at the end, so nothing is left behind.
import pg from 'pg'
import type { Caller } from '../db/queries/caller.js'
import { feedQuery, feedShape, feedValues, type FeedRequest } from '../db/queries/feeds.js'
import { openBenchDatabase } from './database.js'
import { deepFeedPosition, deepPosition } from './scenarios.js'
import { BENCH_USER_AGENT } from './sessions.js'

const page = { limit: 10, skip: 0, search: '', voted: false } as const

async function statements (db: pg.Client): Promise<[name: string, request: FeedRequest][]> {
  const { rows: [facts] } = await db.query<{ posts: number, owner: number }>(
    'select (select count(*) from posts)::int as posts, (select owner_id from posts order by id limit 1) as owner')
  const depth = deepPosition(facts!.posts)
  const newAt = await deepFeedPosition(db, 'new', facts!.posts)
  const hotAt = await deepFeedPosition(db, 'hot', facts!.posts)
  return [
    ['feed', { ...page, sort: 'new', t: 'all' }],
    ['feed-hot', { ...page, sort: 'hot', t: 'all' }],
    ['feed-top', { ...page, sort: 'top', t: 'all' }],
    ['feed-top-day', { ...page, sort: 'top', t: 'day' }],
    ['feed-new-deep-cursor', { ...page, sort: 'new', t: 'all', after: newAt }],
    ['feed-hot-deep-cursor', { ...page, sort: 'hot', t: 'all', after: hotAt }],
    ['user-posts', { ...page, sort: 'new', t: 'all', ownerId: facts!.owner }],
    [`feed-deep (skip=${depth})`, { ...page, sort: 'new', t: 'all', skip: depth }]
  ]
}

const database = await openBenchDatabase()
const db = new pg.Client({ connectionString: database.url })
await db.connect()
try {
  await db.query('begin')
  const { rows: [session] } = await db.query<{ id: string }>(
    'insert into sessions (user_id, expires_at, user_agent) values (1, now() + interval \'1 hour\', $1) returning id', [BENCH_USER_AGENT])
  const caller: Caller = { userId: 1, sessionId: session!.id, issuedAt: Date.now() / 1000 }
  for (const [name, request] of await statements(db)) {
    const { text } = feedQuery(feedShape(request))
    // Planned for the values, as the server's prepared statements are: their generic plan, not
    // knowing the limit, costs far more than a custom one, so PostgreSQL keeps planning each run.
    const { rows } = await db.query<{ 'QUERY PLAN': string }>(`explain (analyze, buffers) ${text}`, feedValues(caller, request))
    console.log(`#### ${name}\n\n\`\`\`\n${rows.map(row => row['QUERY PLAN']).join('\n')}\n\`\`\`\n`)
  }
} finally {
  await db.query('rollback').catch(() => {})
  await db.end()
  await database.stop?.()
}
