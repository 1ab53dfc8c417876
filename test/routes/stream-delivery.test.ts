import t, { type Test } from 'tap'
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { CHANGE_FEED_APPLICATION } from '../../db/change-feed.js'
import { TEST_SECRET, build, createPost, createTestDatabase, createUser, sql, type TestUser } from '../helpers/app.js'
import { openStream, type OpenStream, type StreamBlock } from '../helpers/event-stream.js'
import { captureLog } from '../helpers/log.js'
import { startServer } from '../helpers/server-process.js'

/** A stream that has started (its first `: ping` is in), closed when the test ends. */
async function openedStream (t: Test, url: string, headers: Record<string, string> = {}): Promise<OpenStream> {
  const stream = await openStream(url, headers)
  t.teardown(stream.close)
  t.equal(stream.status, 200, 'the stream opens')
  await stream.next(block => block.comment === 'ping')
  return stream
}

const events = (stream: OpenStream) => stream.blocks.filter(block => block.event !== undefined)
const asSeen = (block: StreamBlock) => `${block.id} ${block.event} ${block.data}`
const titled = (title: string) => (block: StreamBlock) => block.event === 'post.created' && JSON.parse(block.data!).Post.title === title

t.test('two processes on one database: every change reaches both, with the same ids, and either replays or redeems for the other', async t => {
  const databaseUrl = await createTestDatabase(t)
  const app = await build(t, { databaseUrl })
  const base = await app.listen({ host: '127.0.0.1', port: 0 })
  const other = await startServer(t, { DATABASE_URL: databaseUrl, SECRET_KEY: TEST_SECRET })
  t.teardown(other.stop)
  const ada = await createUser(app)

  const here = await openedStream(t, `${base}/stream`, ada.headers)
  const there = await openedStream(t, `${other.url}/stream`, ada.headers)

  // One change made through each process, and one in plain SQL.
  const created = await fetch(`${other.url}/posts`, { method: 'POST', headers: { ...ada.headers, 'content-type': 'application/json' }, body: JSON.stringify({ title: 'from the other process', content: 'x' }) })
  t.equal(created.status, 201)
  const post = await created.json() as { id: number }
  t.equal((await app.inject({ method: 'POST', url: '/vote', headers: ada.headers, payload: { post_id: post.id, dir: 1 } })).statusCode, 201)
  await sql(app, 'update posts set title = ? where id = ?', ['edited in SQL', post.id])

  for (const stream of [here, there]) await stream.next(block => block.event === 'post.updated')
  t.same(events(here).map(block => block.event), ['post.created', 'post.votes', 'post.updated'])
  t.same(events(there).map(asSeen), events(here).map(asSeen), 'the same events, ids and data on both processes')
  t.same(JSON.parse(events(there)[1]!.data!), { id: post.id, votes: 1 })

  // A reconnect that lands on the other process replays from the id this one gave.
  const replay = await openStream(`${other.url}/stream`, { ...ada.headers, 'last-event-id': events(here)[0]!.id! })
  t.teardown(replay.close)
  await replay.next(block => block.event === 'post.updated')
  t.same(events(replay).map(asSeen), events(here).slice(1).map(asSeen), 'what followed, exactly once')

  // A ticket issued by one process opens the stream on the other.
  const issued = await app.inject({ method: 'POST', url: '/stream/tickets', headers: ada.headers })
  const byTicket = await openedStream(t, `${other.url}/stream?ticket=${issued.json().ticket}`)
  await createPost(app, ada, { title: 'after the ticket' })
  await byTicket.next(titled('after the ticket'))
})

t.test('the feed\'s connection dropped: it connects again and delivers every event once, in order', async t => {
  const app = await build(t)
  const base = await app.listen({ host: '127.0.0.1', port: 0 })
  const ada = await createUser(app)
  const stream = await openedStream(t, `${base}/stream`, ada.headers)
  await createPost(app, ada, { title: 'before' })
  await stream.next(titled('before'))

  const feedConnections = () => sql<{ pid: number }>(app, 'select pid from pg_stat_activity where datname = current_database() and application_name = ?', [CHANGE_FEED_APPLICATION])
  const [reader] = await feedConnections()
  t.ok(reader, 'the feed reads on a connection of its own')
  const [killed] = await sql<{ done: boolean }>(app, 'select pg_terminate_backend(?) as done', [reader!.pid])
  t.equal(killed!.done, true)
  // Written while the reader is down or reconnecting: a mix of the API and plain SQL.
  for (const title of ['during 1', 'during 2']) await createPost(app, ada, { title })
  await sql(app, 'insert into posts (title, content, owner_id) select \'during sql \' || n, \'x\', ? from generate_series(1, 3) n', [ada.id])
  await createPost(app, ada, { title: 'after' })

  await stream.next(titled('after'), 10_000)
  const titles = events(stream).map(block => JSON.parse(block.data!).Post.title)
  t.same(titles, ['before', 'during 1', 'during 2', 'during sql 1', 'during sql 2', 'during sql 3', 'after'], 'nothing lost, nothing twice')
  const ids = events(stream).map(block => Number(block.id))
  t.same(ids, [...ids].sort((a, b) => a - b))
  const [again] = await feedConnections()
  t.ok(again && again.pid !== reader!.pid, 'a new connection reads the feed')
})

/** A `GET /stream` on a socket that reads its headers and then nothing more. */
async function stalledStream (base: string, user: TestUser) {
  const { hostname, port } = new URL(base)
  const socket = connect(Number(port), hostname)
  socket.write(`GET /stream HTTP/1.1\r\nHost: ${hostname}\r\nAuthorization: ${user.headers.authorization}\r\nAccept: text/event-stream\r\n\r\n`)
  const head = await new Promise<string>((resolve, reject) => {
    let text = ''
    const onData = (chunk: Buffer) => {
      text += chunk.toString('latin1')
      if (text.includes('\r\n\r\n')) {
        socket.off('data', onData)
        socket.pause()
        resolve(text)
      }
    }
    socket.on('data', onData).once('error', reject)
  })
  const closed = new Promise<void>(resolve => socket.once('close', () => resolve()))
  return { socket, head, closed }
}

/** A `GET /stream` read by curl into a file: a client that reads at full speed, whatever this process is busy with. */
function curlStream (t: Test, url: string, user: TestUser) {
  const file = join(mkdtempSync(join(tmpdir(), 'postline-stream-')), 'stream.txt')
  const curl = spawn('curl', ['-sN', '-o', file, '-H', `authorization: ${user.headers.authorization}`, url], { stdio: 'ignore' })
  t.teardown(() => { curl.kill(); rmSync(dirname(file), { recursive: true, force: true }) })
  /** The stream's text so far. */
  const text = () => existsSync(file) ? readFileSync(file, 'utf8') : ''
  return { text }
}

/** Polls `check` every 200 ms until it returns true, for up to `ms`; says whether it did. */
async function eventually (check: () => boolean | Promise<boolean>, ms: number): Promise<boolean> {
  for (const deadline = Date.now() + ms; Date.now() < deadline; await sleep(200)) if (await check()) return true
  return check()
}

t.test('a client that stops reading is dropped once 1 MiB waits for it; the others get everything', async t => {
  const app = await build(t, { config: { STREAM_MAX_CONNECTIONS: '2' } })
  const base = await app.listen({ host: '127.0.0.1', port: 0 })
  const ada = await createUser(app)
  const stalled = await stalledStream(base, ada)
  t.teardown(() => { stalled.socket.destroy() })
  t.match(stalled.head, /^HTTP\/1\.1 200/)
  const reading = curlStream(t, `${base}/stream`, ada)
  t.ok(await eventually(() => reading.text().startsWith(': ping'), 10_000), 'the reading stream opens')
  t.equal((await fetch(`${base}/stream`, { headers: ada.headers })).status, 503, 'both streams count')

  // Far more than the socket buffers and the 1 MiB allowance hold: 2,000 events of about 8 kB.
  const COUNT = 2000
  await sql(app, 'insert into posts (title, content, owner_id) select \'bulk \' || n, repeat(\'x\', 8000), ? from generate_series(1, ?::int) n', [ada.id, COUNT])
  t.ok(await eventually(() => reading.text().includes(`"title":"bulk ${COUNT}"`), 30_000), 'the last event reaches the reading client')
  t.equal(reading.text().split('event: post.created\n').length - 1, COUNT, 'the reading client got every event')

  // Dropped: its place is free again (once the server has seen it take nothing for a while),
  // and what it reads now ends short of the whole.
  const opens = () => fetch(`${base}/stream?post_id=1`, { headers: ada.headers, signal: AbortSignal.timeout(500) }).then(response => response.status === 200, () => false)
  t.ok(await eventually(opens, 15_000), 'the stalled stream no longer holds a place')
  let received = 0
  stalled.socket.on('data', (chunk: Buffer) => { received += chunk.length })
  stalled.socket.resume()
  await stalled.closed
  t.ok(received < COUNT * 8000, `the dropped client got ${received} bytes, not all of them`)
})

t.test('a client that stops reading while events keep coming is dropped once 1 MiB waits for it, not at the hard limit', async t => {
  const { lines, stream } = captureLog()
  const app = await build(t, { logger: { level: 'info', stream } })
  const base = await app.listen({ host: '127.0.0.1', port: 0 })
  const ada = await createUser(app)
  const stalled = await stalledStream(base, ada)
  t.teardown(() => { stalled.socket.destroy() })
  const drop = () => lines.find(line => line.msg === 'stream: a client that stopped reading is dropped')

  // A steady flow, an event of about 200 kB every 100 ms, until the client is dropped: each
  // write grows what the server has queued, but the client takes none of it.
  const flowing = { on: true }
  const flow = (async () => {
    for (let n = 0; flowing.on && n < 300; n++) {
      await sql(app, 'insert into posts (title, content, owner_id) values (\'flow\', repeat(\'x\', 200000), ?)', [ada.id])
      await sleep(100)
    }
  })()
  t.ok(await eventually(() => drop() !== undefined, 45_000), 'the client is dropped while the events still come')
  flowing.on = false
  await flow
  const queued = drop()?.queued as number
  t.ok(queued > 1024 * 1024 && queued < 5 * 1024 * 1024, `dropped with ${queued} bytes queued: past 1 MiB by about a second of the flow, far below the 8 MiB no client may hold`)
})

t.test('a stream ends when its token expires', async t => {
  const app = await build(t)
  const base = await app.listen({ host: '127.0.0.1', port: 0 })
  const ada = await createUser(app)
  const { sid } = app.jwt.decode<{ sid: string }>(ada.token)!
  const shortLived = app.jwt.sign({ user_id: ada.id, sub: String(ada.id), sid }, { expiresIn: 2 })
  const started = Date.now()
  const stream = await openedStream(t, `${base}/stream`, { authorization: `Bearer ${shortLived}` })
  await stream.ended
  const lasted = Date.now() - started
  t.ok(lasted > 1000 && lasted < 2000 + 5000, `ended ${lasted} ms after it opened, within 5 s of the expiry`)
  t.equal((await fetch(`${base}/stream`, { headers: { authorization: `Bearer ${shortLived}` } })).status, 401, 'and cannot open again')
})

t.test('many streams of one user all get the events, and one logout ends them all', async t => {
  const app = await build(t)
  const base = await app.listen({ host: '127.0.0.1', port: 0 })
  const ada = await createUser(app)
  const bob = await createUser(app)
  const streams = await Promise.all(Array.from({ length: 20 }, () => openedStream(t, `${base}/stream`, ada.headers)))
  const ticket = (await app.inject({ method: 'POST', url: '/stream/tickets', headers: ada.headers })).json().ticket
  streams.push(await openedStream(t, `${base}/stream?ticket=${ticket}`))
  const bobs = await openedStream(t, `${base}/stream`, bob.headers)

  await createPost(app, bob, { title: 'for all' })
  await Promise.all([...streams, bobs].map(stream => stream.next(titled('for all'))))

  const started = Date.now()
  t.equal((await app.inject({ method: 'POST', url: '/auth/logout', headers: ada.headers })).statusCode, 204)
  await Promise.all(streams.map(stream => stream.ended))
  t.ok(Date.now() - started < 5000, 'all 21 ended within 5 s')
  await createPost(app, bob, { title: 'bob goes on' })
  await bobs.next(titled('bob goes on'))
  await sleep(50)
  t.notOk(streams.some(stream => stream.blocks.some(titled('bob goes on'))), 'the ended streams got nothing more')
})
