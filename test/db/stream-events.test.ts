import t from 'tap'
import { createEventReader, latestEventId } from '../../db/queries/stream.js'
import { build, createUser, sql } from '../helpers/app.js'

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
