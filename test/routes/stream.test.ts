import t from 'tap'
import { build, createPost, createUser, sql } from '../helpers/app.js'
import { openStream } from '../helpers/event-stream.js'

t.test('a bearer stream gets the API\'s and plain SQL\'s changes, in order, filtered by post_id', async t => {
  const app = await build(t)
  const base = await app.listen({ host: '127.0.0.1', port: 0 })
  const ada = await createUser(app)
  const all = await openStream(`${base}/stream`, ada.headers)
  t.teardown(all.close)
  t.equal(all.status, 200)
  t.match(all.headers.get('content-type'), /^text\/event-stream/)
  await all.next(block => block.comment === 'ping')

  const post = await createPost(app, ada, { title: 'live' })
  const other = await createPost(app, ada, { title: 'other' })
  const one = await openStream(`${base}/stream?post_id=${post.id}`, ada.headers)
  t.teardown(one.close)
  await one.next(block => block.comment === 'ping')
  const created = await all.next(block => block.event === 'post.created')
  t.same(JSON.parse(created.data!), { Post: post, votes: 0 }, 'post.created: the PostOut, as the API answered the write')
  const edited = await app.inject({ method: 'PUT', url: `/posts/${post.id}`, headers: ada.headers, payload: { title: 'live, "edited"', content: 'ü\nnew' } })
  const updated = await one.next(block => block.event === 'post.updated')
  t.same(JSON.parse(updated.data!), edited.json(), 'post.updated: the Post, as the API answered the edit')

  await sql(app, 'insert into votes (post_id, user_id) values (?, ?)', [post.id, ada.id])
  await sql(app, 'insert into votes (post_id, user_id) values (?, ?)', [other.id, ada.id])
  const votes = await one.next(block => block.event === 'post.votes')
  t.same(JSON.parse(votes.data!), { id: post.id, votes: 1 })
  await all.next(block => block.event === 'post.votes' && JSON.parse(block.data!).id === other.id)
  t.notOk(one.blocks.some(block => block.data?.includes(`"id":${other.id},`)), 'the filter keeps other posts out')

  t.equal((await app.inject({ method: 'DELETE', url: `/posts/${post.id}`, headers: ada.headers })).statusCode, 204)
  const deleted = await one.next(block => block.event === 'post.deleted')
  t.same(JSON.parse(deleted.data!), { id: post.id })
  const ids = all.blocks.filter(block => block.id).map(block => Number(block.id))
  t.same(ids, [...ids].sort((a, b) => a - b), 'ids increase')
})

t.test('bad requests: no token, bad post_id, a refused ticket', async t => {
  const app = await build(t)
  const base = await app.listen({ host: '127.0.0.1', port: 0 })
  const ada = await createUser(app)
  const none = await fetch(`${base}/stream?post_id=x`)
  t.equal(none.status, 401, 'the token before validation')
  t.equal((await none.json()).detail, 'Not authenticated')
  for (const query of ['post_id=x', 'post_id=0', 'post_id=0x10', 'post_id=5&post_id=1e0', 'post_id=%20', `${Array.from({ length: 101 }, (_, i) => `post_id=${i + 1}`).join('&')}`]) {
    const response = await fetch(`${base}/stream?${query}`, { headers: ada.headers })
    t.equal(response.status, 422, query.slice(0, 20))
    t.same((await response.json()).detail[0].loc.slice(0, 2), ['query', 'post_id'])
  }
  const head = await fetch(`${base}/stream`, { method: 'HEAD', headers: ada.headers, signal: AbortSignal.timeout(3000) })
  t.equal(head.status, 200, 'HEAD answers at once, opening no stream')
  t.match(head.headers.get('content-type'), /^text\/event-stream/)
  t.equal((await fetch(`${base}/stream`, { method: 'HEAD', signal: AbortSignal.timeout(3000) })).status, 401, 'HEAD needs the token')
  for (const ticket of ['nope', ada.token]) {
    const response = await fetch(`${base}/stream?ticket=${encodeURIComponent(ticket)}`)
    t.equal(response.status, 401)
    t.type((await response.json()).detail, 'string')
  }
  t.equal((await fetch(`${base}/stream?ticket=nope&post_id=x`)).status, 401, 'a refused ticket before validation')
  const ticket = (await app.inject({ method: 'POST', url: '/stream/tickets', headers: ada.headers })).json().ticket
  t.equal((await fetch(`${base}/stream?ticket=${ticket}&post_id=x`)).status, 422, 'a good ticket beside a bad post_id: the 422')
  const opened = await openStream(`${base}/stream?ticket=${ticket}`)
  t.teardown(opened.close)
  t.equal(opened.status, 200, 'and the ticket, not taken by a refused request, opens a stream')
})

t.test('a ticket opens one stream, once', async t => {
  const app = await build(t)
  const base = await app.listen({ host: '127.0.0.1', port: 0 })
  const ada = await createUser(app)
  const issued = await app.inject({ method: 'POST', url: '/stream/tickets', headers: ada.headers })
  t.equal(issued.statusCode, 201)
  t.equal(issued.json().expires_in, 30)
  const { ticket } = issued.json()
  const stream = await openStream(`${base}/stream?ticket=${ticket}`)
  t.teardown(stream.close)
  t.equal(stream.status, 200)
  await createPost(app, ada, { title: 'by ticket' })
  await stream.next(block => block.event === 'post.created')
  t.equal((await fetch(`${base}/stream?ticket=${ticket}`)).status, 401, 'used')
  t.equal((await app.inject({ method: 'POST', url: '/stream/tickets' })).statusCode, 401)

  const issue = async () => (await app.inject({ method: 'POST', url: '/stream/tickets', headers: ada.headers })).json().ticket as string
  const late = await issue()
  await sql(app, 'update stream_tickets set expires_at = now() - interval \'1 second\'')
  const expired = await fetch(`${base}/stream?ticket=${late}`)
  t.equal(expired.status, 401, 'expired')
  t.equal((await expired.json()).detail, 'Invalid, used or expired stream ticket')
  const orphan = await issue()
  t.equal((await app.inject({ method: 'POST', url: '/auth/logout', headers: ada.headers })).statusCode, 204)
  t.equal((await fetch(`${base}/stream?ticket=${orphan}`)).status, 401, 'its session ended before it was used')
  t.equal((await app.inject({ method: 'POST', url: '/stream/tickets', headers: ada.headers })).statusCode, 401, 'an ended session gets no ticket')
})

t.test('Last-Event-ID replays what followed; an unknown one gets a reset', async t => {
  const app = await build(t)
  const base = await app.listen({ host: '127.0.0.1', port: 0 })
  const ada = await createUser(app)
  const first = await createPost(app, ada, { title: 'one' })
  await createPost(app, ada, { title: 'two' })
  await createPost(app, ada, { title: 'three' })
  const [{ id: firstEvent }] = await sql<{ id: string }>(app, 'select id from stream_events where post_id = ? and type = \'post.created\'', [first.id]) as [{ id: string }]
  const replay = await openStream(`${base}/stream`, { ...ada.headers, 'last-event-id': firstEvent })
  t.teardown(replay.close)
  await replay.next(block => block.event === 'post.created' && JSON.parse(block.data!).Post.title === 'three')
  t.same(replay.blocks.filter(block => block.event).map(block => JSON.parse(block.data!).Post.title), ['two', 'three'])
  await createPost(app, ada, { title: 'four' })
  await replay.next(block => block.event === 'post.created' && JSON.parse(block.data!).Post.title === 'four')

  for (const lastEventId of ['garbage', '999999999']) {
    const reset = await openStream(`${base}/stream`, { ...ada.headers, 'last-event-id': lastEventId })
    t.teardown(reset.close)
    const block = await reset.next(block => block.event !== undefined)
    t.equal(block.event, 'reset', lastEventId)
    t.equal(block.data, '{}')
    const [{ latest }] = await sql<{ latest: string }>(app, 'select max(id)::text as latest from stream_events') as [{ latest: string }]
    t.equal(block.id, latest, 'with the id the stream stands at, so a reconnect resumes from there')
  }
})

t.test('clients that leave while their stream opens free their places', async t => {
  const app = await build(t, { config: { STREAM_MAX_CONNECTIONS: '3' } })
  const base = await app.listen({ host: '127.0.0.1', port: 0 })
  const ada = await createUser(app)
  await Promise.all(Array.from({ length: 10 }, (_, i) =>
    fetch(`${base}/stream`, { headers: ada.headers, signal: AbortSignal.timeout(1 + i) }).then(response => response.body?.cancel(), () => {})))
  const opens = async () => {
    const streams = await Promise.all(Array.from({ length: 3 }, () => openStream(`${base}/stream`, ada.headers)))
    for (const stream of streams) stream.close()
    await Promise.all(streams.map(stream => stream.ended))
    return streams.map(stream => stream.status)
  }
  let statuses: number[] = []
  for (const deadline = Date.now() + 5000; Date.now() < deadline; await new Promise(resolve => setTimeout(resolve, 250))) {
    statuses = await opens()
    if (statuses.every(status => status === 200)) break
  }
  t.same(statuses, [200, 200, 200], 'all three places are free again')
})

t.test('a logout ends the stream; a full process answers 503; shutdown ends streams', async t => {
  const app = await build(t, { config: { STREAM_MAX_CONNECTIONS: '1' } })
  const base = await app.listen({ host: '127.0.0.1', port: 0 })
  const ada = await createUser(app)
  const stream = await openStream(`${base}/stream`, ada.headers)
  t.teardown(stream.close)
  await stream.next(block => block.comment === 'ping')
  const full = await fetch(`${base}/stream`, { headers: ada.headers })
  t.equal(full.status, 503)
  t.ok(full.headers.get('retry-after'))
  // Another user's ticket (ada's own would end with her session below).
  const carol = await createUser(app)
  const ticket = (await app.inject({ method: 'POST', url: '/stream/tickets', headers: carol.headers })).json().ticket
  t.equal((await fetch(`${base}/stream?ticket=${ticket}`)).status, 503, 'a full process spends no ticket…')
  const started = Date.now()
  t.equal((await app.inject({ method: 'POST', url: '/auth/logout', headers: ada.headers })).statusCode, 204)
  await stream.ended
  t.ok(Date.now() - started < 5000, 'ended within 5 s')
  t.equal((await sql(app, 'select 1 from stream_tickets')).length, 1, '…it is still there to use once there is room')

  const bob = await createUser(app)
  const again = await openStream(`${base}/stream`, bob.headers)
  await again.next(block => block.comment === 'ping')
  const closing = Date.now()
  await app.close()
  await again.ended
  t.ok(Date.now() - closing < 3000, 'shutdown is not held up')
  t.notOk(app.stream.reserve(), 'and once it has begun, no stream takes a place (one that was checking its ticket or token is ended as it opens)')
})
