import type { FastifyInstance } from 'fastify'
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { projectRoot } from '../../lib/project-root.js'
import type { CacheStatus } from '../../schemas/ready.js'
import { build, createPost, createTestDatabase, createUser, sql, TEST_SECRET, type TestUser } from '../helpers/app.js'
import { castVote } from '../helpers/assertions.js'
import { call } from '../helpers/http.js'
import { startServer, until } from '../helpers/server-process.js'
import { startTcpProxy } from '../helpers/tcp-proxy.js'
import { redisServerMissing, startRedis } from '../helpers/network-hosts.js'

// The read cache (CACHE_MAX_MB, on by default): a read it answers alone is as exact as the
// database's, whoever wrote (this process, another one, plain SQL); under load, within the
// contract's bounds (another's change within 100 ms, an ended session within 1 s), a user's own
// writes always. It steps aside while the change feed cannot vouch for it, and stays within its
// memory.

const cacheOf = async (app: FastifyInstance): Promise<CacheStatus> => (await app.inject({ url: '/ready' })).json().cache
/** The cache's feed starts with the first read it could answer: one is made, then the feed awaited. */
async function serving (app: FastifyInstance, user: TestUser) {
  await app.inject({ url: '/posts?limit=1', headers: user.headers })
  await until(async () => (await cacheOf(app)).serving || undefined, 10_000, () => 'the read cache to serve')
}
const read = async (app: FastifyInstance, user: TestUser, url: string) => {
  const response = await app.inject({ url, headers: user.headers })
  if (response.statusCode !== 200) throw new Error(`${url}: ${response.statusCode} ${response.body}`)
  return response.json()
}
const firstIds = async (app: FastifyInstance, user: TestUser, url: string) => (await read(app, user, url)).map((post: { Post: { id: number } }) => post.Post.id)

/** Reads `url` and says whether the cache answered it. */
async function hitOrMiss (app: FastifyInstance, user: TestUser, url: string): Promise<{ body: any, hit: boolean }> {
  const before = await cacheOf(app)
  const body = await read(app, user, url)
  return { body, hit: (await cacheOf(app)).hits === before.hits + 1 }
}

t.test('a process\'s own votes, edits, new and deleted posts are in its very next read; the reads between are hits', async t => {
  const app = await build(t)
  const [ada, bob] = [await createUser(app), await createUser(app)]
  const post = await createPost(app, ada, { title: 'Cached' })
  await serving(app, ada)

  const filled = await app.inject({ url: `/posts/${post.id}`, headers: ada.headers })
  const again = await hitOrMiss(app, bob, `/posts/${post.id}`)
  t.ok(again.hit, 'the next is a hit, for another user too')
  t.equal(again.body.votes, 0)
  const hit = await app.inject({ url: `/posts/${post.id}`, headers: ada.headers })
  t.equal(hit.headers['content-type'], 'application/json; charset=utf-8', 'a hit is JSON')
  t.equal(hit.body, filled.body, 'the same bytes as the read that filled it')
  t.equal(hit.headers.etag, filled.headers.etag, 'and the same ETag')
  t.equal((await app.inject({ url: `/posts/${post.id}`, headers: { ...ada.headers, 'if-none-match': hit.headers.etag as string } })).statusCode, 304)

  await castVote(app, bob, post.id, 1)
  t.equal((await read(app, ada, `/posts/${post.id}`)).votes, 1, 'a vote')
  t.equal((await app.inject({ method: 'PATCH', url: `/posts/${post.id}`, headers: ada.headers, payload: { title: 'Edited' } })).statusCode, 200)
  t.equal((await read(app, ada, `/posts/${post.id}`)).Post.title, 'Edited', 'an edit')

  for (const sort of ['new', 'top', 'hot']) await read(app, ada, `/posts?sort=${sort}&limit=3`)
  const newer = await createPost(app, bob, { title: 'Newer' })
  t.equal((await firstIds(app, ada, '/posts?sort=new&limit=3'))[0], newer.id, 'a new post heads `new`')
  await castVote(app, ada, newer.id, 1)
  await castVote(app, bob, newer.id, 1)
  t.equal((await firstIds(app, ada, '/posts?sort=top&limit=3'))[0], newer.id, 'votes reorder `top`')
  t.equal((await firstIds(app, ada, '/posts?sort=hot&limit=3'))[0], newer.id, 'and `hot`')
  // The feed's own word of those votes drops the page once more (it cannot tell them from another's).
  await read(app, ada, '/posts?sort=top&limit=3')
  t.ok((await hitOrMiss(app, ada, '/posts?sort=top&limit=3')).hit, 'an unchanged page is a hit')
  t.equal((await app.inject({ method: 'DELETE', url: `/posts/${newer.id}`, headers: bob.headers })).statusCode, 204)
  t.notOk((await firstIds(app, ada, '/posts?sort=top&limit=3')).includes(newer.id), 'a deleted post leaves the page')
  t.equal((await app.inject({ url: `/posts/${newer.id}`, headers: ada.headers })).statusCode, 404)
})

t.test('plain SQL writes are in the next read: counts patched in place, other changes refilled', async t => {
  const app = await build(t)
  const [ada, bob] = [await createUser(app), await createUser(app)]
  const posts = [await createPost(app, ada, { title: 'One' }), await createPost(app, ada, { title: 'Two' })]
  await serving(app, ada)
  for (let i = 0; i < 2; i++) {
    await read(app, ada, `/posts/${posts[0]!.id}`)
    await read(app, ada, '/posts?sort=new&limit=5')
    await read(app, ada, '/posts?sort=top&limit=5')
  }

  await sql(app, 'insert into votes (user_id, post_id) values (?, ?)', [bob.id, posts[0]!.id])
  const counted = await hitOrMiss(app, ada, `/posts/${posts[0]!.id}`)
  t.equal(counted.body.votes, 1, 'a vote by SQL')
  t.ok(counted.hit, 'patched in place: still a hit')
  const newest = await hitOrMiss(app, ada, '/posts?sort=new&limit=5')
  t.equal(newest.body.find((post: { Post: { id: number } }) => post.Post.id === posts[0]!.id).votes, 1, 'in a `new` page too')
  t.ok(newest.hit)

  await sql(app, 'insert into votes (user_id, post_id) values (?, ?), (?, ?)', [ada.id, posts[1]!.id, bob.id, posts[1]!.id])
  t.equal((await firstIds(app, ada, '/posts?sort=top&limit=5'))[0], posts[1]!.id, 'SQL votes reorder `top`')
  await sql(app, 'update posts set title = \'Changed by SQL\' where id = ?', [posts[0]!.id])
  t.equal((await read(app, ada, `/posts/${posts[0]!.id}`)).Post.title, 'Changed by SQL')
  await sql(app, 'update posts set created_at = now() - interval \'2 days\' where id = ?', [posts[1]!.id])
  t.notOk((await firstIds(app, ada, '/posts?sort=top&t=day&limit=5')).includes(posts[1]!.id), 'back-dated out of the window')
  await sql(app, 'delete from posts where id = ?', [posts[0]!.id])
  t.equal((await app.inject({ url: `/posts/${posts[0]!.id}`, headers: ada.headers })).statusCode, 404, 'deleted by SQL')
})

t.test('while the feed waits behind a transaction still committing, what was committed after it is read from the database', async t => {
  const app = await build(t)
  const [ada, bob] = [await createUser(app), await createUser(app)]
  const post = await createPost(app, ada)
  const url = `/posts/${post.id}`
  await serving(app, ada)
  await read(app, ada, url)
  t.ok((await hitOrMiss(app, ada, url)).hit, 'cached')
  const client = await app.pg.connect()
  try {
    // Its event is numbered now (the trigger runs at the statement, not at commit), and it stays open.
    await client.query('begin')
    await client.query('set constraints all immediate')
    await client.query('insert into posts (title, content, owner_id) values (\'held\', \'x\', $1)', [ada.id])
    await sql(app, 'insert into votes (user_id, post_id) values (?, ?)', [bob.id, post.id])
    for (const wait of [0, 200]) {
      await new Promise(resolve => setTimeout(resolve, wait))
      const during = await hitOrMiss(app, ada, url)
      t.equal(during.body.votes, 1, `the vote committed after it is in the read ${wait} ms later`)
      t.notOk(during.hit, 'from the database, not the cache')
    }
    await client.query('rollback')
  } finally {
    client.release()
  }
  await until(async () => (await hitOrMiss(app, ada, url)).hit || undefined, 5000, () => 'the cache to serve again')
  t.equal((await read(app, ada, url)).votes, 1, 'and the cache has the vote once the feed gets past it')
})

t.test('plain SQL that changes a post from elsewhere (its owner\'s email, its id) is in the next read', async t => {
  const app = await build(t)
  const ada = await createUser(app)
  const post = await createPost(app, ada)
  await serving(app, ada)
  for (let i = 0; i < 2; i++) {
    await read(app, ada, `/posts/${post.id}`)
    await read(app, ada, '/posts?limit=5')
  }
  await sql(app, 'update users set email = ? where id = ?', ['renamed@example.com', ada.id])
  t.equal((await read(app, ada, `/posts/${post.id}`)).Post.owner.email, 'renamed@example.com', 'the post')
  t.equal((await read(app, ada, '/posts?limit=5'))[0].Post.owner.email, 'renamed@example.com', 'a page')
  await read(app, ada, `/posts/${post.id}`)
  await sql(app, 'update posts set id = ? where id = ?', [post.id + 1000, post.id])
  t.equal((await app.inject({ url: `/posts/${post.id}`, headers: ada.headers })).statusCode, 404, 'the old id is gone')
  t.equal((await read(app, ada, `/posts/${post.id + 1000}`)).Post.id, post.id + 1000, 'the new one answers')
})

t.test('a windowed page takes in a post dated later when its time comes, and lets go of one that leaves the window', async t => {
  const app = await build(t)
  const ada = await createUser(app)
  const [leaving, arriving] = [await createPost(app, ada, { title: 'Leaving' }), await createPost(app, ada, { title: 'Arriving' })]
  await sql(app, 'update posts set created_at = now() - interval \'1 hour\' + interval \'3 seconds\' where id = ?', [leaving.id])
  await sql(app, 'update posts set created_at = now() + interval \'1500 milliseconds\' where id = ?', [arriving.id])
  await serving(app, ada)
  const url = '/posts?sort=new&t=hour&limit=5'
  t.strictSame(await firstIds(app, ada, url), [leaving.id], 'before: only the one within the hour')
  // The updates' own events drop the page once; from then on it is held.
  await read(app, ada, url)
  await read(app, ada, url)
  t.ok((await hitOrMiss(app, ada, url)).hit, 'held')
  await new Promise(resolve => setTimeout(resolve, 1700))
  t.strictSame(await firstIds(app, ada, url), [arriving.id, leaving.id], 'the later one has come')
  await new Promise(resolve => setTimeout(resolve, 1500))
  t.strictSame(await firstIds(app, ada, url), [arriving.id], 'the older one has gone')
})

t.test('a token whose session ended is refused by a cached read at once', async t => {
  const app = await build(t)
  const ada = await createUser(app)
  const post = await createPost(app, ada)
  await serving(app, ada)
  await read(app, ada, `/posts/${post.id}`)
  t.ok((await hitOrMiss(app, ada, `/posts/${post.id}`)).hit)
  await sql(app, 'delete from sessions where user_id = ?', [ada.id])
  for (const url of [`/posts/${post.id}`, '/posts']) {
    const refused = await app.inject({ url, headers: ada.headers })
    t.equal(refused.statusCode, 401, url)
    t.strictSame(refused.json(), { detail: 'Could not validate credentials' })
  }

  // Readers of one key share its fill, whichever token it ran with: each is still judged by its own.
  const bob = await createUser(app)
  const fresh = await createPost(app, bob)
  const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => app.inject({ url: `/posts/${fresh.id}`, headers: (i % 2 ? bob : ada).headers })))
  t.strictSame(answers.map(answer => answer.statusCode), Array.from({ length: 20 }, (_, i) => i % 2 ? 200 : 401), 'the ended token refused, the live one answered')
})

t.test('another process\'s writes are in this one\'s next read', async t => {
  const databaseUrl = await createTestDatabase(t)
  const app = await build(t, { databaseUrl })
  const other = await startServer(t, { DATABASE_URL: databaseUrl, SECRET_KEY: TEST_SECRET })
  const [ada, bob] = [await createUser(app), await createUser(app)]
  const post = await createPost(app, ada, { title: 'Shared' })
  const readThere = async () => JSON.parse((await call(`${other.url}/posts/${post.id}`, { headers: ada.headers })).body)
  const cacheThere = async (): Promise<CacheStatus> => JSON.parse((await call(`${other.url}/ready`)).body).cache
  await call(`${other.url}/posts?limit=1`, { headers: ada.headers })
  await until(async () => (await cacheThere()).serving || undefined, 10_000, () => 'the other process\'s cache')
  await readThere()
  const { hits } = await cacheThere()
  t.equal((await readThere()).votes, 0)
  t.equal((await cacheThere()).hits, hits + 1, 'a hit there')

  await castVote(app, bob, post.id, 1)
  t.equal((await readThere()).votes, 1, 'a vote here')
  t.equal((await app.inject({ method: 'PUT', url: `/posts/${post.id}`, headers: ada.headers, payload: { title: 'Replaced', content: 'here' } })).statusCode, 200)
  t.equal((await readThere()).Post.title, 'Replaced', 'an edit here')
})

t.test('while the change feed\'s connection is down the cache is dropped and bypassed; back, it serves again', async t => {
  const databaseUrl = await createTestDatabase(t)
  const direct = new URL(databaseUrl)
  const proxy = await startTcpProxy(t, direct.hostname, Number(direct.port || 5432))
  direct.hostname = '127.0.0.1'
  direct.port = String(proxy.port)
  const app = await build(t, { databaseUrl, config: { DATABASE_DIRECT_URL: direct.toString() } })
  const ada = await createUser(app)
  const post = await createPost(app, ada, { title: 'Before' })
  await serving(app, ada)
  await read(app, ada, `/posts/${post.id}`)
  t.ok((await hitOrMiss(app, ada, `/posts/${post.id}`)).hit)

  proxy.cut()
  await until(async () => (await cacheOf(app)).serving ? undefined : true, 10_000, () => 'the cache to stop serving')
  t.equal((await cacheOf(app)).entries, 0, 'dropped')
  await sql(app, 'update posts set title = \'While down\' where id = ?', [post.id])
  for (let i = 0; i < 3; i++) {
    const bypassed = await hitOrMiss(app, ada, `/posts/${post.id}`)
    t.equal(bypassed.body.Post.title, 'While down')
    t.notOk(bypassed.hit, 'asked of the database')
  }
  t.equal((await cacheOf(app)).entries, 0, 'nothing kept while down')

  proxy.restore()
  await serving(app, ada)
  await sql(app, 'update posts set title = \'Back\' where id = ?', [post.id])
  t.equal((await read(app, ada, `/posts/${post.id}`)).Post.title, 'Back')
  // Filled before the feed told of the change, so dropped when it does: the read after is a hit.
  await read(app, ada, `/posts/${post.id}`)
  t.ok((await hitOrMiss(app, ada, `/posts/${post.id}`)).hit, 'a hit again')
})

/**
 * Reads `urls` in `loops` parallel loops until `stop()` (the load under which hits go unchecked),
 * calling `seen` with each answer and when its request began.
 */
function readUnderLoad (get: (url: string) => Promise<{ status: number, body: string }>, urls: string[], loops: number, seen: (url: string, began: number, answer: { status: number, body: string }) => void) {
  const state = { stopped: false }
  const running = Promise.all(Array.from({ length: loops }, async (_, loop) => {
    for (let i = loop; !state.stopped; i++) {
      const url = urls[i % urls.length]!
      const began = Date.now()
      seen(url, began, await get(url))
    }
  }))
  return async () => { state.stopped = true; await running }
}
const pause = (ms: number) => new Promise(resolve => setTimeout(resolve, ms))

t.test('under load, hits come without a check of their own, yet every change is in the reads within 100 ms and an ended session is refused within 1 s', async t => {
  const app = await build(t)
  const [ada, bob, cy] = [await createUser(app), await createUser(app), await createUser(app)]
  const post = await createPost(app, ada, { title: 'Loaded' })
  await serving(app, ada)
  const url = `/posts/${post.id}`
  const inject = async (url: string, user: TestUser) => {
    const response = await app.inject({ url, headers: user.headers })
    return { status: response.statusCode, body: response.body }
  }
  const answers: { user: string, began: number, status: number, votes?: number }[] = []
  const loads = [[ada, 'ada'], [bob, 'bob']].map(([user, name]) => readUnderLoad(url => inject(url, user as TestUser), [url], 32, (_url, began, answer) => {
    answers.push({ user: name as string, began, status: answer.status, votes: answer.status === 200 ? JSON.parse(answer.body).votes : undefined })
  }))
  await pause(300)
  const { unchecked: before } = await cacheOf(app)

  await sql(app, 'insert into votes (user_id, post_id) values (?, ?)', [cy.id, post.id])
  const voted = Date.now()
  await pause(300)
  // Ended by another hand (plain SQL): within a second, every process refuses the token.
  await sql(app, 'delete from sessions where user_id = ?', [bob.id])
  const ended = Date.now()
  await pause(1200)
  // Ended by this process (a logout): refused by the very next read.
  const logout = await app.inject({ method: 'POST', url: '/auth/logout', headers: ada.headers })
  t.equal(logout.statusCode, 204)
  const loggedOut = Date.now()
  await pause(200)
  for (const stop of loads) await stop()

  const { unchecked: after } = await cacheOf(app)
  t.ok(after - before > 50, `${after - before} hits under load answered without a check of their own`)
  const late = answers.filter(answer => answer.began >= voted + 100 && answer.status === 200)
  t.ok(late.length > 0 && late.every(answer => answer.votes === 1), `every read begun 100 ms after the vote has it (${late.length} reads)`)
  t.ok(answers.some(answer => answer.user === 'bob' && answer.began < ended && answer.status === 200), 'bob was answered before his session ended')
  const bobLate = answers.filter(answer => answer.user === 'bob' && answer.began >= ended + 1000)
  t.ok(bobLate.length > 0 && bobLate.every(answer => answer.status === 401), `bob refused from 1 s after (${bobLate.length} reads)`)
  const adaLate = answers.filter(answer => answer.user === 'ada' && answer.began >= loggedOut)
  t.ok(adaLate.length > 0 && adaLate.every(answer => answer.status === 401), `ada refused from her logout on (${adaLate.length} reads)`)
})

/** A DATABASE_DIRECT_URL (the change feed's) to the test's database through a proxy that answers `answerDelayMs` late. */
async function slowFeedUrl (t: Test, databaseUrl: string, answerDelayMs: number): Promise<string> {
  const direct = new URL(databaseUrl)
  const proxy = await startTcpProxy(t, direct.hostname, Number(direct.port || 5432), { answerDelayMs })
  direct.hostname = '127.0.0.1'
  direct.port = String(proxy.port)
  return direct.toString()
}

/**
 * Clients enough that, on a machine busy with other tests, the hits that wait for one check come
 * back together, and their next requests are counted as load (BUSY_HITS in plugins/read-cache).
 */
const LOAD_CONNECTIONS = 64

/**
 * `connections` clients of autocannon (a process of its own, so that this one's event loop stays
 * free) reading `url` with `headers` until the test ends or the returned function is called.
 */
function loadFromAnotherProcess (t: Test, url: string, headers: Record<string, string>, connections: number): () => void {
  const args = [join(projectRoot(), 'node_modules', 'autocannon', 'autocannon.js'), '-c', String(connections), '-d', '60', '--silent']
  for (const [name, value] of Object.entries(headers)) args.push('-H', `${name}=${value}`)
  const child = spawn(process.execPath, [...args, url], { stdio: 'ignore' })
  const stop = () => { if (child.exitCode === null) child.kill('SIGKILL') }
  t.teardown(stop)
  return stop
}

/** Waits until the server answers hits without a check of their own (its load threshold reached). */
async function underLoad (unchecked: () => Promise<number>) {
  const base = await unchecked()
  await until(async () => await unchecked() > base + 50 || undefined, 20_000, () => 'the load to reach the read cache\'s threshold')
}

/** A Postline process on the test's database whose change feed answers late, and the app that arranges its rows. */
async function serverWithSlowFeed (t: Test, config: Record<string, string> = {}) {
  const databaseUrl = await createTestDatabase(t)
  const app = await build(t, { databaseUrl, config })
  // Its reads of the feed, back to back under load, each begin a few milliseconds before the
  // hits they vouch for, and tell of a change only that long after it.
  const server = await startServer(t, { DATABASE_URL: databaseUrl, DATABASE_DIRECT_URL: await slowFeedUrl(t, databaseUrl, 5), SECRET_KEY: TEST_SECRET, ...config })
  const [ada, bob] = [await createUser(app), await createUser(app)]
  const post = await createPost(app, bob, { title: 'Read under load' })
  const url = `/posts/${post.id}`
  const readThere = async (user: TestUser) => JSON.parse((await call(`${server.url}${url}`, { headers: user.headers })).body)
  await readThere(ada)
  await until(async () => JSON.parse((await call(`${server.url}/ready`)).body).cache.serving || undefined, 10_000, () => 'the server\'s cache')
  /** Hits answered without a check of their own. */
  const unchecked = async () => JSON.parse((await call(`${server.url}/ready`)).body).cache.unchecked as number
  return { app, server, ada, bob, post, url, readThere, unchecked }
}

t.test('under load, a write is in the next reads on its process, though a read of the feed begun before it tells an older count after', async t => {
  const { app, server, ada, bob, post, url, readThere, unchecked } = await serverWithSlowFeed(t)
  const cy = await createUser(app)
  const stop = loadFromAnotherProcess(t, `${server.url}${url}`, bob.headers, LOAD_CONNECTIONS)
  await underLoad(unchecked)
  const before = await unchecked()
  const vote = async (user: TestUser, dir: number) =>
    (await call(`${server.url}/vote`, { method: 'POST', headers: user.headers, json: { post_id: post.id, dir } })).status
  for (let i = 0; i < 20; i++) {
    // Two votes back to back: the feed's read that tells of the first may come after the second is answered.
    const dir = i % 2 === 0 ? 1 : 0
    t.strictSame([await vote(ada, dir), await vote(cy, dir)], [201, 201])
    const votes = [(await readThere(cy)).votes]
    await pause(8)
    votes.push((await readThere(bob)).votes)
    t.strictSame(votes, Array(2).fill(2 * dir), `votes ${2 * i + 1} and ${2 * i + 2}: in the voter's next read, and in another user's after`)
  }
  t.ok(await unchecked() - before > 0, `${await unchecked() - before} hits answered without a check of their own meanwhile`)
  stop()
})

t.test('with REDIS_URL, a user\'s own write is in their next read on another process at once, under load there too', { skip: redisServerMissing() }, async t => {
  const redis = await startRedis(t)
  const { app, server, ada, bob, post, url, readThere, unchecked } = await serverWithSlowFeed(t, { REDIS_URL: `redis://127.0.0.1:${redis.port}` })
  const stop = loadFromAnotherProcess(t, `${server.url}${url}`, bob.headers, LOAD_CONNECTIONS)
  await underLoad(unchecked)
  const before = await unchecked()
  for (let i = 0; i < 20; i++) {
    t.equal((await castVote(app, ada, post.id, i % 2 === 0 ? 1 : 0)).statusCode, 201)
    t.equal((await readThere(ada)).votes, i % 2 === 0 ? 1 : 0, `vote ${i + 1} is in ada's next read there`)
  }
  t.ok(await unchecked() - before > 0, `${await unchecked() - before} hits there answered without a check of their own meanwhile`)
  stop()
})

t.test('memory stays within CACHE_MAX_MB, the least recently read going first', async t => {
  const app = await build(t, { config: { CACHE_MAX_MB: '1' } })
  const ada = await createUser(app)
  const count = 1000
  const ids = (await sql<{ id: number }>(app, 'insert into posts (title, content, owner_id) select \'Post \' || n, repeat(\'words \', 20), ? from generate_series(1, ?) n returning id', [ada.id, count])).map(row => row.id)
  await serving(app, ada)
  for (const id of ids) await read(app, ada, `/posts/${id}`)
  const status = await cacheOf(app)
  t.equal(status.max_bytes, 1024 * 1024)
  t.ok(status.bytes <= status.max_bytes, `${status.bytes} bytes held`)
  t.ok(status.entries > 100 && status.entries < count, `${status.entries} of ${count} posts held`)
  t.ok((await hitOrMiss(app, ada, `/posts/${ids.at(-1)}`)).hit, 'the latest read is held')
  t.notOk((await hitOrMiss(app, ada, `/posts/${ids[0]}`)).hit, 'the first read is gone')
})

t.test('CACHE_MAX_MB=0 turns the cache off: /ready says nothing of it, reads still answer', async t => {
  const app = await build(t, { config: { CACHE_MAX_MB: '0' } })
  const ada = await createUser(app)
  const post = await createPost(app, ada)
  t.strictSame((await app.inject({ url: '/ready' })).json(), { status: 'ready' })
  t.equal((await read(app, ada, `/posts/${post.id}`)).Post.id, post.id)
  await sql(app, 'update posts set title = \'By SQL\' where id = ?', [post.id])
  t.equal((await read(app, ada, `/posts/${post.id}`)).Post.title, 'By SQL')
})
