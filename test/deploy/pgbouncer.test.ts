import pg from 'pg'
import t from 'tap'
import { CHANGE_FEED_APPLICATION } from '../../db/change-feed.js'
import { MIGRATION_LOCK } from '../../db/migrate.js'
import { shippedMigrations } from '../../db/migration-files.js'
import { createEmptyDatabase } from '../helpers/app.js'
import { openStream } from '../helpers/event-stream.js'
import { call, signIn, type Answer as HttpAnswer, type Session } from '../helpers/http.js'
import { pgBouncerMissing, startPgBouncer } from '../helpers/pgbouncer.js'
import { startServer, type ServerProcess } from '../helpers/server-process.js'

// Postline behind Debian's PgBouncer (1.18: no prepared statements in transaction mode) in
// transaction mode, as the contract's scale-out configuration runs it: DATABASE_URL is the
// pooler, DATABASE_DIRECT_URL the primary, DATABASE_PREPARED_STATEMENTS=false. The pooler has
// fewer server connections than the two servers' pools have clients, so consecutive statements
// of one client land on different server connections.

const SERVER_CONNECTIONS = 4
const CONCURRENCY = 30

type Answer = HttpAnswer & { request: string }

/** The requests of the load, in turn: each is given the session, the request's number and a post id. */
const REQUESTS: Array<[string, (session: Session, i: number, postId: number) => Promise<HttpAnswer>]> = [
  ['POST /posts', ({ url, headers }, i) => call(`${url}/posts`, { headers, json: { title: `post ${i}`, content: 'through the pooler' } })],
  ['POST /vote', ({ url, headers }, i, postId) => call(`${url}/vote`, { headers, json: { post_id: postId, dir: i % 2 } })],
  ['GET /posts/:id', ({ url, headers }, _, postId) => call(`${url}/posts/${postId}`, { headers })],
  ['GET /posts', ({ url, headers }) => call(`${url}/posts?limit=10`, { headers })],
  ['GET /posts?search=', ({ url, headers }) => call(`${url}/posts?limit=5&search=post`, { headers })]
]

/**
 * The course flow's requests, `total` of them, `CONCURRENCY` at a time, spread over the servers:
 * each user writes posts, votes, and reads the feed and posts by id. Returns every answer.
 */
async function mixedLoad (servers: ServerProcess[], total: number, signInAt = servers): Promise<Answer[]> {
  const signedIn = await Promise.all(Array.from({ length: 10 }, (_, i) => signIn(signInAt[i % signInAt.length]!.url, 'pooled')))
  const sessions = signedIn.map((session, i) => ({ ...session, url: servers[i % servers.length]!.url }))
  const postIds: number[] = []
  const answers: Answer[] = []
  let next = 0
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    for (let i = next++; i < total; i = next++) {
      const postId = postIds[(i * 7) % Math.max(1, postIds.length)] ?? 1
      const [request, send] = REQUESTS[i % REQUESTS.length]!
      const answer = await send(sessions[i % sessions.length]!, i, postId)
      if (request === 'POST /posts' && answer.status === 201) postIds.push((JSON.parse(answer.body) as { id: number }).id)
      answers.push({ request, ...answer })
    }
  }))
  return answers
}

const serverErrors = (answers: Answer[]) =>
  answers.filter(answer => answer.status >= 500).map(answer => `${answer.request} ${answer.status} ${answer.body}`)

const skip = pgBouncerMissing()

t.test('two servers behind PgBouncer in transaction mode, with DATABASE_DIRECT_URL and DATABASE_PREPARED_STATEMENTS=false', { skip }, async t => {
  const direct = await createEmptyDatabase(t)
  const pgBouncer = await startPgBouncer(direct, SERVER_CONNECTIONS)
  t.teardown(pgBouncer.stop)
  const pooled = pgBouncer.url
  const env = { DATABASE_URL: pooled, DATABASE_DIRECT_URL: direct, DATABASE_PREPARED_STATEMENTS: 'false', DATABASE_POOL_SIZE: '10' }

  const servers = await Promise.all([startServer(t, env), startServer(t, env)])
  const primary = new pg.Pool({ connectionString: direct, max: 1 })
  t.teardown(() => primary.end())

  await t.test('they start together on an empty database and migrate it once, on the primary', async t => {
    for (const server of servers) t.equal((await fetch(`${server.url}/ready`)).status, 200, 'GET /ready is 200')
    const { rows } = await primary.query<{ name: string, n: string }>('select name, count(*) as n from mikro_orm_migrations group by name order by name')
    t.same(rows.map(row => row.name), (await shippedMigrations()).sort(), 'every migration is recorded…')
    t.ok(rows.every(row => row.n === '1'), '…once')
    const held = await primary.query('select from pg_locks where locktype = \'advisory\' and objid = $1', [MIGRATION_LOCK])
    t.equal(held.rowCount, 0, 'and the migration lock is not left held')
  })

  await t.test(`${CONCURRENCY} clients at a time across both servers: no 5xx`, async t => {
    const answers = await mixedLoad(servers, 400)
    t.same(serverErrors(answers), [], 'no answer is a 5xx')
    t.ok(answers.filter(answer => answer.request === 'POST /posts' && answer.status === 201).length > 0, 'posts are written')
    t.ok(answers.filter(answer => answer.request === 'GET /posts/:id' && answer.status === 200).length > 0, 'and read back')
    const { rows: [backends] } = await primary.query<{ n: number }>('select count(*)::int as n from pg_stat_activity where datname = current_database() and backend_type = \'client backend\' and pid <> pg_backend_pid()')
    t.ok(backends!.n <= SERVER_CONNECTIONS + 2, `the primary saw the pooler's few connections (${backends!.n}), not the servers' ${2 * 10}`)
  })

  await t.test('GET /stream on one server sees a post written through the other; its change feed reads the primary directly', async t => {
    const [reader, writer] = [await signIn(servers[0]!.url), await signIn(servers[1]!.url)]
    const stream = await openStream(`${reader.url}/stream`, reader.headers)
    t.teardown(() => stream.close())
    t.equal(stream.status, 200)
    const created = await call(`${writer.url}/posts`, { headers: writer.headers, json: { title: 'across the pooler', content: 'live' } })
    const { id } = JSON.parse(created.body) as { id: number }
    const event = await stream.next(block => block.event === 'post.created' && JSON.parse(block.data!).Post.id === id, 10_000)
    t.match(JSON.parse(event.data!), { Post: { id, title: 'across the pooler' }, votes: 0 }, 'post.created arrives')
    // Through the pooler its name would carry the client's address (application_name_add_host).
    const { rows } = await primary.query<{ name: string }>('select application_name as name from pg_stat_activity where datname = current_database() and application_name like $1', [`${CHANGE_FEED_APPLICATION}%`])
    t.same(rows.map(row => row.name), [CHANGE_FEED_APPLICATION], 'one change-feed connection, straight to the primary')
  })

  await t.test('control: with named statements (the default), the same load through the same pooler fails', async t => {
    const named = await startServer(t, { DATABASE_URL: pooled, DATABASE_DIRECT_URL: direct, DATABASE_POOL_SIZE: '10' })
    // Its users sign in on a server without named statements; then it takes the same load.
    const answers = await mixedLoad([named], 200, [servers[0]!])
    t.ok(serverErrors(answers).length > 0, `a statement prepared on one server connection is missing on the next: ${serverErrors(answers).length} of ${answers.length} answers are 5xx`)
    t.match(named.output(), /prepared statement/, 'the server logs say why')
  })
})
