import { readFileSync } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'
import pg from 'pg'
import t from 'tap'
import { call, signIn, type Session } from '../helpers/http.js'
import { startServer, until, type ServerProcess } from '../helpers/server-process.js'
import { startStreamingPair, streamingReplicaMissing, type Cluster } from '../helpers/streaming-replica.js'
import { REPLICA_READS_APPLICATION } from '../../db/replicas.js'

// Two Postline processes on a primary and a streaming replica that applies every commit
// APPLY_DELAY_MS late (pg_basebackup -R, recovery_min_apply_delay), with their users' write
// positions in the machine's Redis: reads leave the primary, and no user ever reads less than
// they have written, on either process, however far the replica trails.

const APPLY_DELAY_MS = 1500
const MAX_LAG_MS = 4000
/** A Redis database of this test's own: write positions are keyed by user id, which other clusters reuse. */
const REDIS_URL = 'redis://127.0.0.1:6379/11'

interface Post { id: number, title: string }
interface PostOut { Post: Post, votes: number }
interface Ready { status: string, databases?: { primary: string, replicas: Array<{ name: string, state: string, lag_ms?: number }> } }

const json = <T>(answer: { body: string }) => JSON.parse(answer.body) as T
const ready = async (server: ServerProcess) => json<Ready>(await call(`${server.url}/ready`))
const replicaState = async (server: ServerProcess) => (await ready(server)).databases?.replicas[0]?.state

async function redisReachable (): Promise<boolean> {
  const { Redis } = await import('ioredis')
  const redis = new Redis(REDIS_URL, { lazyConnect: true, connectTimeout: 500, maxRetriesPerRequest: 0, retryStrategy: () => null })
  redis.on('error', () => {})
  try {
    await redis.connect()
    await redis.flushdb()
    return true
  } catch {
    return false
  } finally {
    redis.disconnect()
  }
}

const skip = streamingReplicaMissing() || (!await redisReachable() && `no Redis answers at ${REDIS_URL}`)

t.test('DATABASE_READ_URLS: two servers on a primary and a lagging streaming replica', { skip }, async t => {
  const { primary, replica } = await startStreamingPair(t, { applyDelayMs: APPLY_DELAY_MS, logStatements: true })
  const env = { DATABASE_URL: primary.url, DATABASE_READ_URLS: replica.url, DATABASE_READ_MAX_LAG: String(MAX_LAG_MS), REDIS_URL }
  const servers = await Promise.all([startServer(t, env), startServer(t, env)])
  const [first, second] = servers as [ServerProcess, ServerProcess]
  const onReplica = new pg.Pool({ connectionString: replica.url, max: 1 })
  onReplica.on('error', () => {}) // its idle connection ends when the replica is stopped below
  t.teardown(() => onReplica.end())

  // The migrations reach the replica after the delay: until then it cannot serve reads.
  await until(async () => (await onReplica.query('select from pg_class where relname = \'posts\'')).rowCount === 1 || undefined, 30_000, () => 'the schema to reach the replica')

  await t.test('/ready says each database\'s state', async t => {
    const answer = await until(async () => { const body = await ready(first); return body.databases?.replicas[0]?.state === 'up' ? body : undefined }, 10_000, () => 'the replica to be up')
    t.match(answer, { status: 'ready', databases: { primary: 'up', replicas: [{ name: new URL(replica.url).host + '/postline', state: 'up' }] } })
    t.notMatch(JSON.stringify(answer), /postgres@/, 'no credentials in it')
    t.match(first.output(), /replica serving reads/, 'the log says the replica serves reads')
  })

  await t.test('read-your-writes across the servers, though the replica trails by the apply delay', async t => {
    const writer = await signIn(first.url, 'writer')
    const on = (session: Session, server: ServerProcess): Session => ({ ...session, url: server.url })
    let replicaLacked = 0
    for (let i = 0; i < 6; i++) {
      const [here, there] = i % 2 === 0 ? [first, second] : [second, first]
      const created = await call(`${here.url}/posts`, { headers: writer.headers, json: { title: `written ${i}`, content: 'fresh' } })
      t.equal(created.status, 201)
      const { id } = json<Post>(created)
      const { rowCount } = await onReplica.query('select from posts where id = $1', [id])
      if (rowCount === 0) replicaLacked++

      const read = await call(`${there.url}/posts/${id}`, { headers: on(writer, there).headers })
      t.equal(read.status, 200, `post ${id} read on the other server at once`)
      const page = json<PostOut[]>(await call(`${there.url}/posts?sort=new&limit=1`, { headers: writer.headers }))
      t.equal(page[0]?.Post.id, id, 'and it heads the writer\'s newest-first feed there')

      const edited = await call(`${there.url}/posts/${id}`, { method: 'PATCH', headers: writer.headers, json: { title: `edited ${i}` } })
      t.equal(edited.status, 200)
      t.equal(json<PostOut>(await call(`${here.url}/posts/${id}`, { headers: writer.headers })).Post.title, `edited ${i}`, 'an edit on one server is read on the other')

      t.equal((await call(`${here.url}/vote`, { headers: writer.headers, json: { post_id: id, dir: 1 } })).status, 201)
      t.equal(json<PostOut>(await call(`${there.url}/posts/${id}`, { headers: writer.headers })).votes, 1, 'so is a vote')
    }
    t.ok(replicaLacked > 0, `the replica itself still lacked the new post when it was read (${replicaLacked} of 6 times)`)
  })

  await t.test('reads of a user who has not written are served by the replica', async t => {
    const reader = await signIn(second.url, 'reader')
    // Its session row reaches the replica after the delay; reads before then are confirmed on the primary.
    await sleep(APPLY_DELAY_MS + 500)
    const before = replicaReads(replica)
    for (let i = 0; i < 40; i++) {
      const server = servers[i % 2]!
      t.equal((await call(`${server.url}/posts?limit=5`, { headers: reader.headers })).status, 200)
    }
    const served = replicaReads(replica) - before
    t.ok(served >= 40, `the replica ran ${served} statements for 40 reads`)
  })

  await t.test('a replica stopped and started under load: no 5xx, and the logs say so', async t => {
    const users = await Promise.all([signIn(first.url, 'load'), signIn(second.url, 'load')])
    const statuses: number[] = []
    const loading = { on: true }
    const load = Promise.all(users.flatMap((user, u) => [0, 1].map(async lane => {
      for (let i = 0; loading.on; i++) {
        const server = servers[(u + lane + i) % 2]!
        const answer = i % 4 === 0
          ? await call(`${server.url}/posts`, { headers: user.headers, json: { title: `load ${u}.${lane}.${i}`, content: 'x' } })
          : await call(`${server.url}/posts?limit=10`, { headers: user.headers })
        statuses.push(answer.status)
      }
    })))
    await sleep(500)
    await replica.stop('immediate')
    await until(async () => await replicaState(first) === 'down' && await replicaState(second) === 'down' ? true : undefined, 10_000, () => 'both servers to drop the replica')
    const readyWhileDown = await call(`${first.url}/ready`)
    await sleep(500)
    await replica.start()
    await until(async () => await replicaState(first) === 'up' && await replicaState(second) === 'up' ? true : undefined, 30_000, () => 'both servers to take the replica back')
    await sleep(500)
    loading.on = false
    await load
    t.equal(readyWhileDown.status, 200, '/ready stays 200 while the replica is down (reads go to the primary)')
    t.ok(statuses.length > 50, `the load ran (${statuses.length} requests)`)
    t.same(statuses.filter(status => status >= 500), [], 'no answer was a 5xx')
    t.ok(statuses.every(status => status === 200 || status === 201), 'every answer was a success')
    for (const server of servers) {
      t.match(server.output(), /replica dropped: reads go elsewhere/, 'the log says the replica was dropped')
      t.match(server.output(), /replica back: serving reads again/, 'and that it came back')
    }
  })

  await t.test('a replica whose replay is paused is skipped once it trails by more than DATABASE_READ_MAX_LAG', async t => {
    const writer = await signIn(first.url, 'pauser')
    await replica.psql('select pg_wal_replay_pause()')
    t.teardown(() => replica.psql('select pg_wal_replay_resume()').then(() => {}, () => {}))
    // The primary moves on; the replica does not.
    const writes = setInterval(() => { call(`${first.url}/posts`, { headers: writer.headers, json: { title: 'while paused', content: 'x' } }).catch(() => {}) }, 200)
    t.teardown(() => clearInterval(writes))
    const lagging = await until(async () => { const body = await ready(first); return body.databases?.replicas[0]?.state === 'lagging' ? body : undefined }, MAX_LAG_MS + 10_000, () => 'the replica to count as lagging')
    clearInterval(writes)
    t.ok(lagging.databases!.replicas[0]!.lag_ms! > MAX_LAG_MS, `its lag (${lagging.databases!.replicas[0]!.lag_ms} ms) is past the limit`)
    t.match(first.output(), /replica lagging: reads skip it/, 'the log says so')
    const before = replicaReads(replica)
    for (let i = 0; i < 10; i++) t.equal((await call(`${first.url}/posts?limit=3`, { headers: writer.headers })).status, 200)
    t.equal(replicaReads(replica) - before, 0, 'reads went to the primary')
    await replica.psql('select pg_wal_replay_resume()')
    await until(async () => await replicaState(first) === 'up' || undefined, MAX_LAG_MS + 10_000, () => 'the replica to catch up')
    t.pass('once it catches up it serves again')
  })
})

/** Statements the servers' read pools have run on the replica (its log names each statement's application). */
function replicaReads (replica: Cluster): number {
  return readFileSync(replica.logFile, 'utf8').split('\n').filter(line => line.startsWith(`${REPLICA_READS_APPLICATION}|`) && /(statement|execute [^:]*):/.test(line)).length
}
