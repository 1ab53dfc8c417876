import { createHash } from 'node:crypto'
import t from 'tap'
import { startChangeFeed } from '../../db/change-feed.js'
import { withClient } from '../../db/client.js'
import { createEventReader, eventKnown, eventsBetween, issueTicket, latestEventId, pruneFeed, redeemTicket } from '../../db/queries/stream.js'
import { build, createPost, createUser, sql } from '../helpers/app.js'
import { pgBouncerMissing, startPgBouncer } from '../helpers/pgbouncer.js'

// The change feed of GET /stream: triggers write one event per committed change, whoever
// makes it, and the reader hands them out in order without skipping one still committing.

t.test('changes made through the API and in plain SQL become events, as committed', async t => {
  const app = await build(t)
  const reader = createEventReader(await latestEventId(app.pg))
  const user = await createUser(app, 'feed@example.com')
  const auth = user.headers

  const created = await app.inject({ method: 'POST', url: '/posts', headers: auth, payload: { title: 'first', content: 'body' } })
  t.equal(created.statusCode, 201)
  const post = created.json()
  t.equal((await app.inject({ method: 'PUT', url: `/posts/${post.id}`, headers: auth, payload: { title: 'edited', content: 'body' } })).statusCode, 200)
  t.equal((await app.inject({ method: 'POST', url: '/vote', headers: auth, payload: { post_id: post.id, dir: 1 } })).statusCode, 201)
  await sql(app, 'delete from votes where post_id = ?', [post.id])
  await sql(app, 'insert into posts (title, content, owner_id) values (?, ?, ?)', ['by sql', 'x', user.id])
  // Created and deleted in one transaction: only the deletion is seen.
  const client = await app.pg.connect()
  try {
    await client.query('begin')
    await client.query('insert into posts (title, content, owner_id) values (\'brief\', \'x\', $1)', [user.id])
    await client.query('delete from posts where title = \'brief\'')
    await client.query('commit')
  } finally {
    client.release()
  }
  t.equal((await app.inject({ method: 'DELETE', url: `/posts/${post.id}`, headers: auth })).statusCode, 204)

  const events = await reader.read(app.pg)
  t.same(events.map(event => event.type), ['post.created', 'post.updated', 'post.votes', 'post.votes', 'post.created', 'post.deleted', 'post.deleted'])
  const ids = events.map(event => event.id)
  t.same(ids, [...ids].sort((a, b) => a - b), 'ids increase')
  t.equal(new Set(ids).size, ids.length)

  const [first, updated, up, down, bySql] = events.map(event => JSON.parse(event.data))
  t.same(first, { Post: { ...post, created_at: first.Post.created_at, owner: { ...post.owner, created_at: first.Post.owner.created_at } }, votes: 0 })
  t.equal(Date.parse(first.Post.created_at), Date.parse(post.created_at), 'the same instant')
  t.equal(updated.title, 'edited')
  t.equal(updated.owner.email, 'feed@example.com')
  t.same(up, { id: post.id, votes: 1 })
  t.same(down, { id: post.id, votes: 0 })
  t.equal(bySql.Post.title, 'by sql')
  t.same(JSON.parse(events[6]!.data), { id: post.id })
  t.ok(events.every(event => !event.data.includes(' : ')), 'compact JSON')
  t.notOk(events.some(event => event.data.includes('password')), 'no password hash')
  t.same(await reader.read(app.pg), [], 'nothing twice')
})

t.test('a count is an event when it changes, and not for a post its own transaction deleted', async t => {
  const app = await build(t)
  const user = await createUser(app, 'counts@example.com')
  const post = (await app.inject({ method: 'POST', url: '/posts', headers: user.headers, payload: { title: 'counted', content: 'x' } })).json()
  t.equal((await app.inject({ method: 'POST', url: '/vote', headers: user.headers, payload: { post_id: post.id, dir: 1 } })).statusCode, 201)
  const reader = createEventReader(await latestEventId(app.pg))
  // Moved in time: its counter's row is updated with it, its count is not.
  await sql(app, 'update posts set created_at = created_at - interval \'1 day\' where id = ?', [post.id])
  const client = await app.pg.connect()
  try {
    await client.query('begin')
    await client.query('delete from votes where post_id = $1', [post.id])
    await client.query('delete from posts where id = $1', [post.id])
    await client.query('commit')
  } finally {
    client.release()
  }
  t.same((await reader.read(app.pg)).map(event => [event.type, event.postId]), [['post.updated', post.id], ['post.deleted', post.id]])
})

t.test('plain SQL that changes what a post shows from elsewhere: its owner, or its id', async t => {
  const app = await build(t)
  const [ada, bob] = [await createUser(app), await createUser(app)]
  const [first, second, bobs] = [await createPost(app, ada), await createPost(app, ada), await createPost(app, bob)]
  const reader = createEventReader(await latestEventId(app.pg))
  await sql(app, 'update users set email = ? where id = ?', ['renamed@example.com', ada.id])
  const renamed = await reader.read(app.pg)
  t.same(renamed.map(event => [event.type, event.postId]), [['post.updated', first.id], ['post.updated', second.id]], 'each of the owner\'s posts, and no other')
  t.same(renamed.map(event => JSON.parse(event.data).owner.email), ['renamed@example.com', 'renamed@example.com'])
  await sql(app, 'update users set password = ? where id = ?', ['not shown', ada.id])
  t.same(await reader.read(app.pg), [], 'a password shows in no post: no event')
  await sql(app, 'update posts set id = ? where id = ?', [bobs.id + 1000, bobs.id])
  t.same((await reader.read(app.pg)).map(event => [event.type, event.postId]), [['post.deleted', bobs.id], ['post.updated', bobs.id + 1000]], 'a new id: the old one is gone')
})

t.test('a TRUNCATE of posts, direct or by a cascade from users, is one post.deleted per post', async t => {
  const app = await build(t)
  const user = await createUser(app)
  await sql(app, 'insert into posts (title, content, owner_id) select \'t\' || n, \'x\', ? from generate_series(1, 3) n', [user.id])
  const ids = (await sql<{ id: number }>(app, 'select id from posts order by id')).map(row => row.id)
  const reader = createEventReader(await latestEventId(app.pg))
  await sql(app, 'truncate posts cascade')
  const events = await reader.read(app.pg)
  t.same(events.map(event => [event.type, JSON.parse(event.data)]), ids.map(id => ['post.deleted', { id }]))

  await sql(app, 'insert into posts (title, content, owner_id) values (\'again\', \'x\', ?)', [user.id])
  const [again] = await sql<{ id: number }>(app, 'select id from posts')
  await reader.read(app.pg)
  await sql(app, 'truncate users cascade')
  t.same((await reader.read(app.pg)).map(event => [event.type, JSON.parse(event.data)]), [['post.deleted', { id: again!.id }]], 'by a cascade from users')
})

t.test('the reader waits for a number still committing, and skips one rolled back', async t => {
  const app = await build(t)
  const [user] = await sql<{ id: number }>(app, 'insert into users (email, password) values (\'w@example.com\', \'x\') returning id')
  const reader = createEventReader(await latestEventId(app.pg))
  const insertPost = (title: string) => `insert into posts (title, content, owner_id) values ('${title}', 'x', ${user!.id})`

  // An unrelated transaction left open, holding a transaction id: it must not hold the feed up.
  const idle = await app.pg.connect()
  t.teardown(() => idle.release())
  await idle.query('begin')
  await idle.query('update users set password = password where id = $1', [user!.id])

  const slow = await app.pg.connect()
  t.teardown(() => slow.release())
  await slow.query('begin')
  await slow.query(insertPost('slow'))
  // Its event is numbered now (as at commit) and the transaction goes on.
  await slow.query('set constraints all immediate')
  await sql(app, insertPost('fast'))

  t.same(await reader.read(app.pg), [], 'nothing past the open number')
  t.same(await reader.read(app.pg), [], 'still open')
  await slow.query('commit')
  const titles = (await reader.read(app.pg)).map(event => JSON.parse(event.data).Post.title)
  t.same(titles, ['slow', 'fast'], 'in number order once committed')

  await slow.query('begin')
  await slow.query(insertPost('undone'))
  await slow.query('set constraints all immediate')
  await sql(app, insertPost('after'))
  t.same(await reader.read(app.pg), [])
  await slow.query('rollback')
  t.same((await reader.read(app.pg)).map(event => JSON.parse(event.data).Post.title), ['after'], 'the rolled-back number is skipped')

  // A gap whose writer ended before it was seen is skipped on the next read, with the idle
  // transaction still open.
  await sql(app, 'select setval(\'stream_events_id_seq\', nextval(\'stream_events_id_seq\') + 5)')
  await sql(app, insertPost('past a gap'))
  t.same(await reader.read(app.pg), [])
  t.same((await reader.read(app.pg)).map(event => JSON.parse(event.data).Post.title), ['past a gap'])
  await idle.query('rollback')
})

t.test('replay reads a known id onwards; the window keeps recent events and the newest ones', async t => {
  const app = await build(t)
  const user = await createUser(app)
  const start = await latestEventId(app.pg)
  await sql(app, 'insert into posts (title, content, owner_id) select \'p\' || g, \'x\', ? from generate_series(1, 6) g', [user.id])
  const [{ last }] = await sql<{ last: string }>(app, 'select max(id) as last from stream_events') as [{ last: string }]
  const ids = Array.from({ length: 6 }, (_, i) => Number(last) - 5 + i)
  t.ok(await eventKnown(app.pg, ids[0]!))
  t.notOk(await eventKnown(app.pg, Number(last) + 1), 'not yet written')
  t.notOk(await eventKnown(app.pg, 0))
  t.notOk(await eventKnown(app.pg, Number.MAX_SAFE_INTEGER + 2))
  t.same((await eventsBetween(app.pg, ids[1]!, ids[4]!)).map(event => event.id), ids.slice(2, 5))
  t.ok(ids[0]! > start)

  // The four oldest are old, but only those beyond the newest three go.
  await sql(app, 'update stream_events set created_at = now() - interval \'10 minutes\' where id <= ?', [ids[3]])
  await pruneFeed(app.pg, { minutes: 5, events: 3 })
  t.same((await sql<{ id: string }>(app, 'select id from stream_events where id >= ? order by id', [ids[0]])).map(row => Number(row.id)), ids.slice(3), 'old and beyond the newest three: gone')
  t.notOk(await eventKnown(app.pg, ids[0]!), 'a pruned id is unknown')

  // A long transaction's event is dated when it began, numbered when it ended: older than ids
  // before it. It is kept while any older id is, so that no replay passes over a hole.
  await sql(app, 'update stream_events set created_at = case when id = ? then now() - interval \'10 minutes\' else now() end where id >= ?', [ids[4], ids[3]])
  await pruneFeed(app.pg, { minutes: 5, events: 1 })
  t.same((await sql<{ id: string }>(app, 'select id from stream_events where id >= ? order by id', [ids[0]])).map(row => Number(row.id)), ids.slice(3), 'an old event between newer ones stays')
  await sql(app, 'update stream_events set created_at = now() - interval \'10 minutes\' where id >= ?', [ids[0]])
  await pruneFeed(app.pg, { minutes: 5, events: 1 })
  t.same((await sql<{ id: string }>(app, 'select id from stream_events where id >= ? order by id', [ids[0]])).map(row => Number(row.id)), ids.slice(5), 'all old: the newest one stays')
})

t.test('a ticket is taken once, while fresh and while its token stands', async t => {
  const app = await build(t)
  const user = await createUser(app)
  const payload = app.jwt.decode<{ user_id: number, sid: string, iat: number, exp: number }>(user.token)!
  const caller = { userId: payload.user_id, sessionId: payload.sid, issuedAt: payload.iat }
  const hash = (name: string) => createHash('sha256').update(name).digest()

  t.ok(await issueTicket(app.pg, caller, hash('one'), payload.exp))
  const taken = await redeemTicket(app.pg, hash('one'))
  t.same(taken, { caller, tokenExpiresAt: payload.exp })
  t.equal(await redeemTicket(app.pg, hash('one')), undefined, 'single use')
  t.equal(await redeemTicket(app.pg, hash('never issued')), undefined)

  t.ok(await issueTicket(app.pg, caller, hash('stale'), payload.exp))
  await sql(app, 'update stream_tickets set expires_at = now() - interval \'1 second\'')
  t.equal(await redeemTicket(app.pg, hash('stale')), undefined, 'expired')
  t.same(await sql(app, 'select count(*)::int as n from stream_tickets'), [{ n: 0 }], 'and gone')

  t.ok(await issueTicket(app.pg, caller, hash('ended'), payload.exp))
  t.equal((await app.inject({ method: 'POST', url: '/auth/logout', headers: user.headers })).statusCode, 204)
  t.equal(await redeemTicket(app.pg, hash('ended')), undefined, 'its session ended')
  t.notOk(await issueTicket(app.pg, caller, hash('after'), payload.exp), 'none for an ended session')
})

t.test('through a transaction-mode pooler (no direct URL), the feed reads with unnamed statements', { skip: pgBouncerMissing() }, async t => {
  const app = await build(t)
  const pooler = await startPgBouncer(app.config.DATABASE_URL!, 2)
  t.teardown(() => pooler.stop())
  const user = await createUser(app)
  const heard: string[] = []
  const feed = await startChangeFeed({ url: pooler.url, unnamedStatements: true, log: { info: () => {}, warn: () => {} }, intervalMs: () => 10, publish: events => { for (const event of events) heard.push(event.type) }, reset: () => {} })
  t.teardown(() => feed.stop())
  // Other clients on the pooler's server connections meanwhile, so the feed's statements land on both.
  const busy = Array.from({ length: 4 }, () => withClient(pooler.url, async client => { for (let i = 0; i < 50; i++) await client.query('select pg_sleep(0.002)') }))
  for (let i = 0; i < 5; i++) {
    await createPost(app, user)
    t.ok(await feed.sync(), `read ${i + 1} reached the newest event`)
  }
  await Promise.all(busy)
  t.same(heard, Array(5).fill('post.created'))
})
