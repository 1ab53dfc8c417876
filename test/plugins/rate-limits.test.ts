import { randomInt } from 'node:crypto'
import { Socket } from 'node:net'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import t, { type Test } from 'tap'
import { WritePositions } from '../../db/write-positions.js'
import { build, createUser, sql, uniqueEmail } from '../helpers/app.js'
import { redisServerMissing, startRedis } from '../helpers/network-hosts.js'

const REDIS = { host: '127.0.0.1', port: 6379 }

/** An address of its own for each test, so runs (and parallel files) never share a count. */
const someAddress = () => `10.${randomInt(256)}.${randomInt(256)}.${randomInt(1, 255)}`

const loginForm = (username: string, password = 'wrong password') =>
  ({ method: 'POST' as const, url: '/login', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: new URLSearchParams({ username, password }).toString() })

function assertLimited (t: Test, response: LightMyRequestResponse, name: string) {
  t.equal(response.statusCode, 429, name)
  t.match(response.json(), { detail: /^Too many requests: retry in \d+ seconds?$/ }, `${name}: detail`)
  const retryAfter = Number(response.headers['retry-after'])
  t.ok(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 60, `${name}: Retry-After ${response.headers['retry-after']} is 1..60 s`)
}

async function redisAnswers (): Promise<boolean> {
  return new Promise(resolve => {
    const socket = new Socket()
    socket.setTimeout(500)
    socket.once('connect', () => { socket.destroy(); resolve(true) })
    socket.once('error', () => resolve(false))
    socket.once('timeout', () => { socket.destroy(); resolve(false) })
    socket.connect(REDIS.port, REDIS.host)
  })
}

t.test('login: LOGIN_RATE_LIMIT attempts a minute per client IP, whatever the accounts', async t => {
  const app = await build(t, { config: { LOGIN_RATE_LIMIT: '3', TRUST_PROXY: 'true' } })
  const ip = someAddress()
  for (let i = 0; i < 3; i++) {
    const response = await app.inject({ ...loginForm(uniqueEmail()), headers: { ...loginForm('').headers, 'x-forwarded-for': ip } })
    t.equal(response.statusCode, 403, `attempt ${i + 1} is answered`)
  }
  assertLimited(t, await app.inject({ ...loginForm(uniqueEmail()), headers: { ...loginForm('').headers, 'x-forwarded-for': ip } }), 'the 4th attempt')
  const other = await app.inject({ ...loginForm(uniqueEmail()), headers: { ...loginForm('').headers, 'x-forwarded-for': someAddress() } })
  t.equal(other.statusCode, 403, 'another address still gets its attempts')
})

t.test('login: LOGIN_RATE_LIMIT attempts a minute per account, whatever the addresses', async t => {
  const app = await build(t, { config: { LOGIN_RATE_LIMIT: '5', TRUST_PROXY: 'true' } })
  // Its registration and first login are two of the account's five.
  const user = await createUser(app)
  const attempt = (username: string, password?: string) =>
    app.inject({ ...loginForm(username, password), headers: { ...loginForm('').headers, 'x-forwarded-for': someAddress() } })
  for (let i = 0; i < 3; i++) t.equal((await attempt(user.email)).statusCode, 403, `attempt ${i + 1} is answered`)
  assertLimited(t, await attempt(user.email.toUpperCase(), user.password), 'the right password, from a 4th address, in other letter case')
  t.equal((await attempt(uniqueEmail())).statusCode, 403, 'another account still gets its attempts')
})

t.test('registration counts as an attempt, and a refused one writes nothing', async t => {
  const app = await build(t, { config: { LOGIN_RATE_LIMIT: '2' } })
  const register = (email: string) => app.inject({ method: 'POST', url: '/users', payload: { email, password: 'password123' } })
  t.equal((await register(uniqueEmail())).statusCode, 201)
  t.equal((await register(uniqueEmail())).statusCode, 201)
  const refused = uniqueEmail()
  assertLimited(t, await register(refused), 'the 3rd registration from one address')
  t.same(await sql(app, 'select id from users where email = ?', [refused]), [], 'no user was created')
})

t.test('LOGIN_RATE_LIMIT=0 turns the attempt limit off', async t => {
  const app = await build(t, { config: { LOGIN_RATE_LIMIT: '0' } })
  const email = uniqueEmail()
  const statuses = new Set<number>()
  for (let i = 0; i < 15; i++) statuses.add((await app.inject(loginForm(email))).statusCode)
  t.strictSame([...statuses], [403])
})

t.test('RATE_LIMIT: requests a minute per client IP on every route', async t => {
  const app = await build(t, { config: { RATE_LIMIT: '5', TRUST_PROXY: 'true' } })
  const ip = someAddress()
  const get = (url: string, address = ip) => app.inject({ url, headers: { 'x-forwarded-for': address } })
  const statuses = []
  for (const url of ['/', '/users/1', '/', '/openapi.json', '/']) statuses.push((await get(url)).statusCode)
  t.notOk(statuses.includes(429), `five requests are served (${statuses.join(', ')})`)
  assertLimited(t, await get('/users/1'), 'the 6th request')
  t.equal((await get('/', someAddress())).statusCode, 200, 'another address is served')
  t.equal((await get('/health')).statusCode, 200, '/health is never limited')
})

t.test('RATE_LIMIT counts refused requests too: guessing tokens on protected routes is limited', async t => {
  const app = await build(t, { config: { RATE_LIMIT: '3', TRUST_PROXY: 'true' } })
  const headers = { 'x-forwarded-for': someAddress(), authorization: 'Bearer not-a-token' }
  const requests = [{ url: '/posts' }, { url: '/posts/1' }, { url: '/users/me' }, { url: '/posts' }]
  const statuses = []
  for (const request of requests) statuses.push((await app.inject({ ...request, headers })).statusCode)
  t.strictSame(statuses.slice(0, 3), [401, 401, 401], 'the first three are refused as unauthenticated')
  assertLimited(t, await app.inject({ url: '/vote', method: 'POST', headers }), 'the 4th, unauthenticated too, is limited')
})

t.test('X-Forwarded-For is believed only when TRUST_PROXY says so', async t => {
  const app = await build(t, { config: { RATE_LIMIT: '2' } })
  const get = () => app.inject({ url: '/', headers: { 'x-forwarded-for': someAddress() } })
  t.equal((await get()).statusCode, 200)
  t.equal((await get()).statusCode, 200)
  assertLimited(t, await get(), 'a new forged address each time does not help')
})

t.test('with REDIS_URL, processes share the counts', { skip: !await redisAnswers() && `no Redis on ${REDIS.host}:${REDIS.port}` }, async t => {
  const config = { LOGIN_RATE_LIMIT: '3', RATE_LIMIT: '1000', TRUST_PROXY: 'true', REDIS_URL: `redis://${REDIS.host}:${REDIS.port}` }
  const [first, second]: FastifyInstance[] = [await build(t, { config }), await build(t, { config })]
  const ip = someAddress()
  const attempt = (app: FastifyInstance) => app.inject({ ...loginForm(uniqueEmail()), headers: { ...loginForm('').headers, 'x-forwarded-for': ip } })
  t.equal((await attempt(first!)).statusCode, 403)
  t.equal((await attempt(second!)).statusCode, 403)
  t.equal((await attempt(first!)).statusCode, 403)
  assertLimited(t, await attempt(second!), 'the 4th attempt, counted across both')
})

t.test('with REDIS_URL unreachable, requests are served (and counted nowhere)', async t => {
  const app = await build(t, { config: { LOGIN_RATE_LIMIT: '1', RATE_LIMIT: '1', REDIS_URL: 'redis://127.0.0.1:1' } })
  for (let i = 0; i < 3; i++) t.equal((await app.inject({ url: '/' })).statusCode, 200, `request ${i + 1}`)
})

t.test('a Redis that stops answering holds no request up: each goes on without it within a moment', { skip: redisServerMissing() }, async t => {
  const redis = await startRedis(t)
  const app = await build(t, { config: { LOGIN_RATE_LIMIT: '5', RATE_LIMIT: '1000', REDIS_URL: `redis://127.0.0.1:${redis.port}` } })
  const user = await createUser(app)
  t.equal((await app.inject({ url: '/' })).statusCode, 200, 'counted in Redis while it answers')
  redis.child.kill('SIGSTOP')
  t.teardown(() => { redis.child.kill('SIGCONT') })
  for (const [method, url, payload] of [['GET', '/'], ['GET', '/users/me'], ['POST', '/posts', { title: 'Redis frozen', content: 'x' }]] as const) {
    const started = Date.now()
    const answer = await app.inject({ method, url, headers: user.headers, ...(payload ? { payload } : {}) })
    t.ok(answer.statusCode < 300, `${method} ${url} answered ${answer.statusCode}`)
    t.ok(Date.now() - started < 2000, `${method} ${url} within 2 s (${Date.now() - started} ms)`)
  }
  const started = Date.now()
  t.equal(await new WritePositions(app.redis, 60_000).lastOf(user.id), Number.POSITIVE_INFINITY, 'a write position cannot be known: reads go to the primary')
  t.ok(Date.now() - started < 1000, 'known to be unknown within a second')
})
