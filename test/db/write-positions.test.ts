import { Redis } from 'ioredis'
import t from 'tap'
import { WritePositions } from '../../db/write-positions.js'

// Each user's last write position, which decides whether a replica may serve their reads: it
// only ever rises, and when it cannot be known the answer sends reads to the primary.

const USER = 424242

// Asked before any test is defined: once they have all ended, tap takes no further one.
const url = 'redis://127.0.0.1:6379/12'
const probe = new Redis(url, { lazyConnect: true, connectTimeout: 500, maxRetriesPerRequest: 0, retryStrategy: () => null })
probe.on('error', () => {})
const redisMissing = await probe.connect().then(() => false, () => `no Redis answers at ${url}`)
t.teardown(() => probe.disconnect())

t.test('in memory (no Redis): the highest position a user wrote at, 0 for a user who has not written', async t => {
  const positions = new WritePositions(undefined, 60_000)
  t.equal(await positions.lastOf(USER), 0)
  await positions.record(USER, 500)
  await positions.record(USER, 300)
  t.equal(await positions.lastOf(USER), 500, 'a later, lower position (a concurrent write) does not lower it')
  t.equal(await positions.lastOf(USER + 1), 0, 'another user is not held to it')
})

t.test('in memory: forgotten once it is no longer needed', async t => {
  const positions = new WritePositions(undefined, 1)
  await positions.record(USER, 500)
  await new Promise(resolve => setTimeout(resolve, 5))
  t.equal(await positions.lastOf(USER), 0)
})

t.test('in Redis: shared by every process, and only ever raised', { skip: redisMissing }, async t => {
  const user = 100_000 + (process.pid % 100_000)
  const [one, other] = [new Redis(url), new Redis(url)]
  t.teardown(async () => {
    await probe.del(`postline-write-position:${user}`)
    for (const client of [one, other]) client.disconnect()
  })
  const [here, there] = [new WritePositions(one, 60_000), new WritePositions(other, 60_000)]
  await here.record(user, 2 ** 40 + 7)
  t.equal(await there.lastOf(user), 2 ** 40 + 7, 'a position recorded by one process is read by another, exactly')
  await there.record(user, 1000)
  t.equal(await here.lastOf(user), 2 ** 40 + 7, 'a lower one does not replace it')
  t.ok(await probe.pttl(`postline-write-position:${user}`) > 50_000, 'it expires on its own')

  other.disconnect()
  t.equal(await there.lastOf(user), Number.POSITIVE_INFINITY, 'when Redis cannot answer, no replica is good enough: reads go to the primary')
})

t.test('in Redis: just after Redis connects again, no position counts as known for a while', { skip: redisMissing }, async t => {
  const user = 200_000 + (process.pid % 100_000)
  const client = new Redis(url)
  t.teardown(async () => {
    await probe.del(`postline-write-position:${user}`)
    client.disconnect()
  })
  await new Promise(resolve => client.once('ready', resolve))
  const positions = new WritePositions(client, 60_000, { doubtMs: 300 })
  await new Promise(resolve => setTimeout(resolve, 350))
  await positions.record(user, 1234)
  t.equal(await positions.lastOf(user), 1234, 'known while Redis stays')
  // As after a restart that emptied it: the connection drops, and the position is gone.
  await probe.del(`postline-write-position:${user}`)
  client.disconnect(true)
  await new Promise(resolve => client.once('ready', resolve))
  t.equal(await positions.lastOf(user), Number.POSITIVE_INFINITY, 'back: unknown for a while (reads go to the primary)')
  await new Promise(resolve => setTimeout(resolve, 350))
  t.equal(await positions.lastOf(user), 0, 'then as Redis holds it')
})
