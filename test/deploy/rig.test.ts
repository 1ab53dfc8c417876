import { readFileSync } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'
import pg from 'pg'
import t from 'tap'
import { openStream } from '../helpers/event-stream.js'
import { call, type Answer } from '../helpers/http.js'
import { nginxMissing, startNginx } from '../helpers/nginx.js'
import { addNetworkHost, networkHostsMissing, redisServerMissing, startRedis, type NetworkHost } from '../helpers/network-hosts.js'
import { pgBouncerMissing, startPgBouncer } from '../helpers/pgbouncer.js'
import { startServer, until, type ServerProcess } from '../helpers/server-process.js'
import { startStreamingPair, streamingReplicaMissing, type Cluster } from '../helpers/streaming-replica.js'
import { uniqueEmail } from '../helpers/app.js'
import { CHANGE_FEED_APPLICATION } from '../../db/change-feed.js'
import { MIGRATION_LOCK } from '../../db/migrate.js'
import { shippedMigrations } from '../../db/migration-files.js'
import { REPLICA_READS_APPLICATION } from '../../db/replicas.js'

// The whole scale-out topology as real processes on this machine: a PostgreSQL primary and a
// streaming replica that applies each commit a second late, Debian's PgBouncer in transaction
// mode in front of the primary, Redis, two Postline hosts configured as docs/scaling.md says,
// each in a network namespace of its own (a host with its own address, reaching the databases
// over a veth link), and Debian's nginx balancing them with the repo's configuration. Clients
// talk to nginx; the parts are stopped, killed and restarted under their load.

const APPLY_DELAY_MS = 1000
/** PgBouncer's server connections: fewer than the hosts' pools have clients, so consecutive statements of one client land on different ones. */
const SERVER_CONNECTIONS = 4
const MAX_LAG_MS = 4000
/** The addresses the hosts' links are given (see addNetworkHost). */
const HOST_NETWORK = '10.201.0.0/16'
const LOGIN_RATE_LIMIT = 4

interface Post { id: number, title: string }
interface PostOut { Post: Post, votes: number }
interface Client { headers: Record<string, string> }
interface Ready { status: string, databases?: { primary: string, replicas: Array<{ name: string, state: string, lag_ms?: number }> } }

const json = <T>(answer: Answer) => JSON.parse(answer.body) as T
const ready = async (host: ServerProcess) => json<Ready>(await call(`${host.url}/ready`))
const replicaState = async (host: ServerProcess) => (await ready(host)).databases?.replicas[0]?.state

/** Statements the hosts' read pools have run on the replica (its log names each statement's application). */
const replicaReads = (replica: Cluster): number =>
  readFileSync(replica.logFile, 'utf8').split('\n').filter(line => line.startsWith(`${REPLICA_READS_APPLICATION}|`) && /(statement|execute [^:]*):/.test(line)).length

const skip = streamingReplicaMissing() || pgBouncerMissing() || nginxMissing() || redisServerMissing()
/** Why the hosts share this machine's loopback (no network namespaces: not root), or false. */
const sharedLoopback = networkHostsMissing()

/** `url` with its host name replaced by `address`. */
function at (url: string, address: string): string {
  const moved = new URL(url)
  moved.hostname = address
  return moved.toString()
}

t.test('primary, lagging replica, PgBouncer, Redis, two Postline hosts and nginx', { skip }, async t => {
  const { primary, replica } = await startStreamingPair(t, { applyDelayMs: APPLY_DELAY_MS, logStatements: true, reachableFrom: HOST_NETWORK })
  const pgBouncer = await startPgBouncer(primary.url, SERVER_CONNECTIONS, { listenEverywhere: true })
  t.teardown(pgBouncer.stop)
  const { port: redisPort } = await startRedis(t)
  if (sharedLoopback) t.comment(`the hosts share this machine's loopback: ${sharedLoopback}`)
  const places: NetworkHost[] = sharedLoopback
    ? [0, 1].map(() => ({ address: '127.0.0.1', gateway: '127.0.0.1', within: [] }))
    : await Promise.all([addNetworkHost(t), addNetworkHost(t)])
  // Each host reaches the databases, the pooler and Redis at this machine's end of its link, and
  // trusts X-Forwarded-For from there (nginx) and from 127.0.0.1: this test's clients, which
  // name addresses of their own there, as proxies in front of nginx would.
  const hosts = await Promise.all(places.map(({ address, gateway, within }) => startServer(t, {
    HOST: address,
    DATABASE_URL: at(pgBouncer.url, gateway),
    DATABASE_DIRECT_URL: at(primary.url, gateway),
    DATABASE_PREPARED_STATEMENTS: 'false',
    DATABASE_READ_URLS: at(replica.url, gateway),
    DATABASE_READ_MAX_LAG: String(MAX_LAG_MS),
    REDIS_URL: `redis://${gateway}:${redisPort}`,
    TRUST_PROXY: `${gateway},127.0.0.1`,
    LOGIN_RATE_LIMIT: String(LOGIN_RATE_LIMIT)
  }, { within }))) as [ServerProcess, ServerProcess]
  if (!sharedLoopback) t.same(hosts.map(host => new URL(host.url).hostname), places.map(place => place.address), 'each host serves on an address of its own')
  const nginx = await startNginx(t, hosts.map(host => new URL(host.url).host))
  const api = nginx.url
  const onPrimary = new pg.Pool({ connectionString: primary.url, max: 1 })
  const onReplica = new pg.Pool({ connectionString: replica.url, max: 1 })
  onReplica.on('error', () => {}) // its connection ends when the replica is stopped below
  t.teardown(() => Promise.all([onPrimary.end(), onReplica.end()]))
  await until(async () => (await onReplica.query('select from pg_class where relname = \'posts\'')).rowCount === 1 || undefined, 30_000, () => 'the schema to reach the replica')
  await until(async () => (await Promise.all(hosts.map(replicaState))).every(state => state === 'up') || undefined, 10_000, () => 'both hosts to read from the replica')

  /** A user registered and logged in through nginx, from an address of its own (the attempt limits are per address). */
  let clients = 0
  async function signIn (): Promise<Client> {
    const address = { 'x-forwarded-for': `198.51.100.${++clients}` }
    const email = uniqueEmail('rig')
    const created = await call(`${api}/users`, { headers: address, json: { email, password: 'password123' } })
    if (created.status !== 201) throw new Error(`POST /users: ${created.status} ${created.body}`)
    const login = await call(`${api}/login`, { method: 'POST', headers: address, body: new URLSearchParams({ username: email, password: 'password123' }) })
    if (login.status !== 200) throw new Error(`POST /login: ${login.status} ${login.body}`)
    return { headers: { ...address, authorization: `Bearer ${json<{ access_token: string }>(login).access_token}` } }
  }

  await t.test('the hosts started together on an empty database and migrated it once, on the primary', async t => {
    const { rows } = await onPrimary.query<{ name: string, n: string }>('select name, count(*) as n from mikro_orm_migrations group by name order by name')
    t.same(rows.map(row => row.name), (await shippedMigrations()).sort(), 'every migration is recorded…')
    t.ok(rows.every(row => row.n === '1'), '…once')
    const held = await onPrimary.query('select from pg_locks where locktype = \'advisory\' and objid = $1', [MIGRATION_LOCK])
    t.equal(held.rowCount, 0, 'and the migration lock is not left held')
  })

  await t.test('/ready says each database\'s state; the log, that the replica serves reads', async t => {
    const answer = await ready(hosts[0])
    t.match(answer, { status: 'ready', databases: { primary: 'up', replicas: [{ name: `${places[0]!.gateway}:${new URL(replica.url).port}/postline`, state: 'up' }] } })
    t.notMatch(JSON.stringify(answer), /postgres@/, 'no credentials in it')
    for (const host of hosts) t.match(host.output(), /replica serving reads/)
  })

  await t.test('the course flow through nginx', async t => {
    const email = uniqueEmail('course')
    const address = { 'x-forwarded-for': '198.51.100.200' }
    t.equal((await call(`${api}/users`, { headers: address, json: { email, password: 'password123' } })).status, 201, 'POST /users')
    const login = await call(`${api}/login`, { method: 'POST', headers: address, body: new URLSearchParams({ username: email, password: 'password123' }) })
    t.equal(login.status, 200, 'POST /login')
    const headers = { authorization: `Bearer ${json<{ access_token: string }>(login).access_token}` }
    const created = await call(`${api}/posts`, { headers, json: { title: 'through the rig', content: 'every part real' } })
    t.equal(created.status, 201, 'POST /posts')
    const { id } = json<Post>(created)
    t.equal(json<PostOut>(await call(`${api}/posts/${id}`, { headers })).Post.title, 'through the rig', 'GET /posts/{id}')
    t.equal((await call(`${api}/posts/${id}`, { method: 'PUT', headers, json: { title: 'replaced', content: 'again' } })).status, 200, 'PUT /posts/{id}')
    t.equal((await call(`${api}/vote`, { headers, json: { post_id: id, dir: 1 } })).status, 201, 'POST /vote')
    const listed = json<PostOut[]>(await call(`${api}/posts?sort=new&limit=5`, { headers }))
    t.match(listed[0], { Post: { id, title: 'replaced' }, votes: 1 }, 'GET /posts: the writer sees the edit and the vote at once')
    t.equal((await call(`${api}/posts/${id}`, { method: 'DELETE', headers })).status, 204, 'DELETE /posts/{id}')
    t.equal((await call(`${api}/posts/${id}`, { headers })).status, 404, 'and it is gone for the writer at once')
  })

  await t.test('read-your-writes across hosts: nginx sends each next request to the other host', async t => {
    const writer = await signIn()
    let replicaLacked = 0
    for (let i = 0; i < 4; i++) {
      const { id } = json<Post>(await call(`${api}/posts`, { headers: writer.headers, json: { title: `rig ${i}`, content: 'x' } }))
      if ((await onReplica.query('select from posts where id = $1', [id])).rowCount === 0) replicaLacked++
      t.equal(json<PostOut[]>(await call(`${api}/posts?sort=new&limit=1`, { headers: writer.headers }))[0]?.Post.id, id, 'the new post heads the writer\'s feed')
      t.equal((await call(`${api}/posts/${id}`, { method: 'PATCH', headers: writer.headers, json: { title: `edited ${i}` } })).status, 200)
      t.equal(json<PostOut>(await call(`${api}/posts/${id}`, { headers: writer.headers })).Post.title, `edited ${i}`, 'the edit is read back')
      t.equal((await call(`${api}/vote`, { headers: writer.headers, json: { post_id: id, dir: 1 } })).status, 201)
      t.equal(json<PostOut>(await call(`${api}/posts/${id}`, { headers: writer.headers })).votes, 1, 'so is a vote')
    }
    t.ok(replicaLacked > 0, `the replica itself lacked the new post (${replicaLacked} of 4 times)`)
    // Their account deleted: their own lookup of it (token sent) says so at once, on either host.
    const { id: me } = json<{ id: number }>(await call(`${api}/users/me`, { headers: writer.headers }))
    t.equal((await call(`${api}/users/me`, { method: 'DELETE', headers: writer.headers, json: { password: 'password123' } })).status, 204)
    for (let i = 0; i < 2; i++) t.equal((await call(`${api}/users/${me}`, { headers: writer.headers })).status, 404, 'GET /users/{id} of the deleted account, by its owner')
  })

  await t.test('reads of a user who has not written are served by the replica', async t => {
    const reader = await signIn()
    // Its session reaches the replica after the delay; reads before then are confirmed on the primary.
    await sleep(APPLY_DELAY_MS + 500)
    const before = replicaReads(replica)
    // A second page: the read cache (fed from the primary) holds only first pages.
    for (let i = 0; i < 20; i++) t.equal((await call(`${api}/posts?limit=5&skip=1`, { headers: reader.headers })).status, 200)
    const served = replicaReads(replica) - before
    t.ok(served >= 20, `the replica ran ${served} statements for 20 reads through both hosts`)
  })

  await t.test('a session ended by a refresh token\'s reuse is refused on the other host within a second, though the replica applies it a second late', async t => {
    const address = { 'x-forwarded-for': '198.51.100.250' }
    const email = uniqueEmail('revoked')
    t.equal((await call(`${api}/users`, { headers: address, json: { email, password: 'password123' } })).status, 201)
    const tokenRequest = (fields: Record<string, string>) => call(`${hosts[0].url}/auth/token`, { method: 'POST', headers: address, body: new URLSearchParams(fields) })
    const grant = await tokenRequest({ grant_type: 'password', username: email, password: 'password123' })
    t.equal(grant.status, 200, `password grant: ${grant.body}`)
    const { access_token: accessToken, refresh_token: first } = json<{ access_token: string, refresh_token: string }>(grant)
    t.equal((await tokenRequest({ grant_type: 'refresh_token', refresh_token: first })).status, 200, 'rotated')
    // The first token was used long enough ago for its reuse to count as theft.
    await onPrimary.query('update refresh_tokens set used_at = used_at - interval \'1 minute\' where hash = sha256(convert_to($1, \'UTF8\'))', [first])
    // The session reaches the replica: the other host then reads this token's pages there.
    await sleep(APPLY_DELAY_MS + 500)
    const headers = { ...address, authorization: `Bearer ${accessToken}` }
    // A second page: the read cache holds only first pages.
    const page = `${hosts[1].url}/posts?limit=5&skip=1`
    const before = replicaReads(replica)
    t.equal((await call(page, { headers })).status, 200)
    t.ok(replicaReads(replica) > before, 'the other host read the token\'s page on the replica')
    const reused = await tokenRequest({ grant_type: 'refresh_token', refresh_token: first })
    const ended = performance.now()
    t.match(json(reused), { error: 'invalid_grant' }, 'the reuse is refused, and ends the session')
    const refusedAfter = await until(async () => (await call(page, { headers })).status === 401 ? performance.now() - ended : undefined, 10_000, () => 'the ended session\'s token to be refused')
    t.ok(refusedAfter < 1000, `the other host refused its token ${Math.round(refusedAfter)} ms after the session ended`)
  })

  await t.test('a live update stream through nginx hears writes made on either host', async t => {
    const [reader, writer] = [await signIn(), await signIn()]
    const stream = await openStream(`${api}/stream`, reader.headers)
    t.teardown(() => stream.close())
    t.equal(stream.status, 200)
    for (const host of hosts) {
      const { id } = json<Post>(await call(`${host.url}/posts`, { headers: writer.headers, json: { title: `live from ${host.url}`, content: 'x' } }))
      const event = await stream.next(block => block.event === 'post.created' && JSON.parse(block.data!).Post.id === id, 10_000)
      t.match(JSON.parse(event.data!), { Post: { id } }, `post.created for a post written on ${host.url}`)
    }
    // Through the pooler its name would carry the client's address (application_name_add_host).
    const { rows } = await onPrimary.query<{ name: string }>('select application_name as name from pg_stat_activity where datname = current_database() and application_name like $1', [`${CHANGE_FEED_APPLICATION}%`])
    t.same(rows.map(row => row.name), hosts.map(() => CHANGE_FEED_APPLICATION), 'each host\'s change feed (its stream\'s and its read cache\'s) reads the primary straight, not through the pooler')
    const { rows: [backends] } = await onPrimary.query<{ n: number }>('select count(*)::int as n from pg_stat_activity where datname = current_database() and backend_type = \'client backend\' and application_name not like $1 and pid <> pg_backend_pid()', [`${CHANGE_FEED_APPLICATION}%`])
    t.ok(backends!.n <= SERVER_CONNECTIONS, `the rest of the primary's connections are the pooler's few (${backends!.n}), not the hosts' pools`)
  })

  await t.test('the attempt limit is counted across hosts (in Redis)', async t => {
    const email = uniqueEmail('limited')
    const statuses: number[] = []
    for (let i = 0; i <= LOGIN_RATE_LIMIT; i++) {
      // Straight to each host in turn, as nginx would forward it (the hosts trust 127.0.0.1's X-Forwarded-For).
      const answer = await call(`${hosts[i % 2]!.url}/login`, { method: 'POST', headers: { 'x-forwarded-for': '203.0.113.7' }, body: new URLSearchParams({ username: email, password: 'wrong-password' }) })
      statuses.push(answer.status)
    }
    t.same(statuses.slice(0, LOGIN_RATE_LIMIT), Array(LOGIN_RATE_LIMIT).fill(403), `${LOGIN_RATE_LIMIT} failed attempts, split over the two hosts`)
    t.equal(statuses.at(-1), 429, 'the next, on either host, is refused')
  })

  /** Requests through nginx from `users`, two lanes each, until `during` resolves: every answer, and the posts answered 201. */
  async function underLoad (users: Client[], during: () => Promise<void>) {
    const answers: Array<{ request: string, status: number, retryAfter: boolean }> = []
    const created: number[] = []
    const loading = { on: true }
    const lanes = users.flatMap((user, u) => [0, 1].map(async lane => {
      for (let i = 0; loading.on; i++) {
        const write = i % 3 === 0
        const response = await fetch(write ? `${api}/posts` : `${api}/posts?limit=5`, write
          ? { method: 'POST', headers: { ...user.headers, 'content-type': 'application/json' }, body: JSON.stringify({ title: `load ${u}.${lane}.${i}`, content: 'x' }) }
          : { headers: user.headers }).catch(() => undefined)
        const status = response?.status ?? 0
        const body = response ? await response.text() : ''
        answers.push({ request: write ? 'POST /posts' : 'GET /posts', status, retryAfter: response?.headers.has('retry-after') === true })
        if (write && status === 201) created.push((JSON.parse(body) as Post).id)
      }
    }))
    await sleep(300)
    await during()
    await sleep(300)
    loading.on = false
    await Promise.all(lanes)
    return { answers, created }
  }

  const load = await Promise.all([signIn(), signIn()])

  await t.test('the replica stopped and started under load: no 5xx, and the logs say so', async t => {
    let readyWhileDown = 0
    const { answers } = await underLoad(load, async () => {
      await replica.stop('immediate')
      await until(async () => (await Promise.all(hosts.map(replicaState))).every(state => state === 'down') || undefined, 10_000, () => 'both hosts to drop the replica')
      readyWhileDown = (await call(`${hosts[0].url}/ready`)).status
      await replica.start()
      await until(async () => (await Promise.all(hosts.map(replicaState))).every(state => state === 'up') || undefined, 30_000, () => 'both hosts to take the replica back')
    })
    t.ok(answers.length > 20, `${answers.length} requests`)
    t.same(answers.filter(answer => answer.status < 200 || answer.status >= 300).map(answer => `${answer.request} ${answer.status}`), [], 'every one a success')
    t.equal(readyWhileDown, 200, '/ready stays 200 while the replica is down (reads go to the primary)')
    for (const host of hosts) {
      t.match(host.output(), /replica dropped: reads go elsewhere/, 'the log says the replica was dropped')
      t.match(host.output(), /replica back: serving reads again/, 'and that it came back')
    }
  })

  await t.test('a replica whose replay is paused is skipped once it trails by more than DATABASE_READ_MAX_LAG', async t => {
    const [writer] = load as [Client, Client]
    const host = hosts[0]
    // A reader the replica could serve: its session replayed, and no write of its own.
    const reader = await signIn()
    await sleep(APPLY_DELAY_MS + 500)
    await replica.psql('select pg_wal_replay_pause()')
    t.teardown(() => replica.psql('select pg_wal_replay_resume()').then(() => {}, () => {}))
    // The primary moves on; the replica does not.
    const writes = setInterval(() => { call(`${host.url}/posts`, { headers: writer.headers, json: { title: 'while paused', content: 'x' } }).catch(() => {}) }, 200)
    t.teardown(() => clearInterval(writes))
    const lagging = await until(async () => { const body = await ready(host); return body.databases?.replicas[0]?.state === 'lagging' ? body : undefined }, MAX_LAG_MS + 10_000, () => 'the replica to count as lagging')
    clearInterval(writes)
    t.ok(lagging.databases!.replicas[0]!.lag_ms! > MAX_LAG_MS, `its lag (${lagging.databases!.replicas[0]!.lag_ms} ms) is past the limit`)
    // The log line may reach the pipe a moment after /ready answers.
    await until(async () => /replica lagging: reads skip it/.test(host.output()) || undefined, 5000, () => 'the log to say the replica lags').catch(() => {})
    t.match(host.output(), /replica lagging: reads skip it/, 'the log says so')
    const before = replicaReads(replica)
    for (let i = 0; i < 10; i++) t.equal((await call(`${host.url}/posts?limit=3`, { headers: reader.headers })).status, 200)
    t.equal(replicaReads(replica) - before, 0, 'reads, even of a user who has not written, went to the primary')
    await replica.psql('select pg_wal_replay_resume()')
    await until(async () => await replicaState(host) === 'up' || undefined, MAX_LAG_MS + 10_000, () => 'the replica to catch up')
    t.pass('once it catches up it serves again')
  })

  await t.test('PgBouncer restarted under load: 503 with Retry-After at worst, then recovery', async t => {
    const { answers } = await underLoad(load, () => pgBouncer.restart())
    const failed = answers.filter(answer => answer.status < 200 || answer.status >= 300)
    t.same(failed.filter(answer => answer.status !== 503 || !answer.retryAfter).map(answer => `${answer.request} ${answer.status}`), [], `no failure but a 503 with Retry-After (${failed.length} of ${answers.length})`)
    const after = await Promise.all(load.map(user => call(`${api}/posts?limit=1`, { headers: user.headers })))
    t.same(after.map(answer => answer.status), [200, 200], 'afterwards every request succeeds')
  })

  await t.test('control: a server with named statements (the default) through the same pooler fails', async t => {
    const named = await startServer(t, { DATABASE_URL: pgBouncer.url, DATABASE_DIRECT_URL: primary.url })
    // The load's users, straight to it, three lanes each.
    const namedStatuses: number[] = []
    await Promise.all(load.flatMap(user => [0, 1, 2].map(async lane => {
      for (let i = 0; i < 20; i++) {
        const answer = i % 3 === 0
          ? await call(`${named.url}/posts`, { headers: user.headers, json: { title: `named ${lane}.${i}`, content: 'x' } })
          : await call(`${named.url}/posts?limit=5`, { headers: user.headers })
        namedStatuses.push(answer.status)
      }
    })))
    t.ok(namedStatuses.filter(status => status >= 500).length > 0, `a statement prepared on one server connection is missing on the next: ${namedStatuses.filter(status => status >= 500).length} of ${namedStatuses.length} answers are 5xx`)
    t.match(named.output(), /prepared statement/, 'its log says why')
    await named.stop()
  })

  await t.test('an API host killed under load: reads retried on the other, every 201 kept', async t => {
    const { answers, created } = await underLoad(load, async () => {
      hosts[1].child.kill('SIGKILL')
      await hosts[1].exited
      await sleep(700)
    })
    const reads = answers.filter(answer => answer.request === 'GET /posts')
    t.same(reads.filter(answer => answer.status !== 200).map(answer => answer.status), [], `all ${reads.length} reads succeeded: nginx retried those the dead host could not answer`)
    const writes = answers.filter(answer => answer.request === 'POST /posts')
    t.same(writes.filter(answer => answer.status !== 201 && answer.status !== 503).map(answer => answer.status), [], 'a write is 201, or 503 when it was under way on the killed host')
    const { rows } = await onPrimary.query<{ id: number }>('select id from posts where id = any($1::int[])', [created])
    t.equal(rows.length, created.length, `every one of the ${created.length} posts answered 201 is stored`)
  })
})
