import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify'
import { createHmac } from 'node:crypto'
import t, { type Test } from 'tap'
import { TEST_SECRET, build, createUser, sql } from '../helpers/app.js'
import { VerifiedTokens } from '../../lib/verified-tokens.js'

const PROTECTED = ['/users/me', '/posts']

const HS256 = { alg: 'HS256', typ: 'JWT' }

const segment = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url')

function signToken (payload: object, { secret = TEST_SECRET, header = HS256 as object, hash = 'sha256' } = {}): string {
  const unsigned = `${segment(header)}.${segment(payload)}`
  return `${unsigned}.${createHmac(hash, secret).update(unsigned).digest('base64url')}`
}

const inSeconds = (seconds: number) => Math.floor(Date.now() / 1000) + seconds

const bearer = (token: string) => ({ authorization: `Bearer ${token}` })

function assertUnauthorized (t: Test, response: LightMyRequestResponse, detail: string, name: string) {
  t.equal(response.statusCode, 401, name)
  t.same(response.json(), { detail }, name)
  t.equal(response.headers['www-authenticate'], 'Bearer', name)
}

async function assertRejected (t: Test, app: FastifyInstance, authorization: string, detail: string, name: string) {
  for (const url of PROTECTED) {
    const response = await app.inject({ url, headers: { authorization } })
    assertUnauthorized(t, response, detail, `${name}: GET ${url}`)
  }
}

t.test('a token signed here with SECRET_KEY and a valid user_id is accepted', async t => {
  const app = await build(t)
  const user = await createUser(app)
  const token = signToken({ user_id: user.id, exp: inSeconds(600) })
  const me = await app.inject({ url: '/users/me', headers: bearer(token) })
  t.equal(me.statusCode, 200)
  t.equal(me.json().id, user.id)
  t.equal(me.json().email, user.email)
  const posts = await app.inject({ url: '/posts', headers: bearer(token) })
  t.equal(posts.statusCode, 200)
  t.same(posts.json(), [])
})

t.test('the Bearer scheme is matched without regard to letter case', async t => {
  const app = await build(t)
  const user = await createUser(app)
  const response = await app.inject({ url: '/users/me', headers: { authorization: `bearer ${user.token}` } })
  t.equal(response.statusCode, 200)
  t.equal(response.json().id, user.id)
})

t.test('no Authorization header is a 401 Not authenticated', async t => {
  const app = await build(t)
  await createUser(app)
  for (const url of PROTECTED) {
    assertUnauthorized(t, await app.inject({ url }), 'Not authenticated', `GET ${url}`)
  }
})

t.test('another scheme than Bearer is a 401 Not authenticated', async t => {
  const app = await build(t)
  const user = await createUser(app)
  await assertRejected(t, app, 'Basic abc', 'Not authenticated', 'Basic')
  await assertRejected(t, app, `Token ${user.token}`, 'Not authenticated', 'Token with a valid JWT')
  await assertRejected(t, app, user.token, 'Not authenticated', 'a bare JWT')
})

t.test('a Bearer header without a token is a 401 Could not validate credentials', async t => {
  const app = await build(t)
  await createUser(app)
  await assertRejected(t, app, 'Bearer', 'Could not validate credentials', 'Bearer')
})

t.test('a malformed token is a 401 Could not validate credentials', async t => {
  const app = await build(t)
  await createUser(app)
  for (const token of ['garbage', 'a.b.c', 'x'.repeat(2000), '...', 'eyJhbGciOiJIUzI1NiJ9.e30']) {
    await assertRejected(t, app, `Bearer ${token}`, 'Could not validate credentials', token.slice(0, 30))
  }
})

t.test('a token whose signature was changed is a 401', async t => {
  const app = await build(t)
  const user = await createUser(app)
  const [header, payload, signature = ''] = user.token.split('.')
  const changed = `${signature[0] === 'A' ? 'B' : 'A'}${signature.slice(1)}`
  await assertRejected(t, app, `Bearer ${header}.${payload}.${changed}`, 'Could not validate credentials', 'changed signature')
  await assertRejected(t, app, `Bearer ${header}.${payload}.`, 'Could not validate credentials', 'no signature')
})

t.test('a token whose payload was swapped for another user is a 401', async t => {
  const app = await build(t)
  const victim = await createUser(app)
  const attacker = await createUser(app)
  const [header, , signature] = attacker.token.split('.')
  const payload = segment({ user_id: victim.id, exp: inSeconds(600) })
  await assertRejected(t, app, `Bearer ${header}.${payload}.${signature}`, 'Could not validate credentials', 'swapped payload')
})

t.test('an alg none token is a 401', async t => {
  const app = await build(t)
  const user = await createUser(app)
  const payload = { user_id: user.id, exp: inSeconds(600) }
  for (const alg of ['none', 'None', 'NONE']) {
    const token = `${segment({ alg, typ: 'JWT' })}.${segment(payload)}.`
    await assertRejected(t, app, `Bearer ${token}`, 'Could not validate credentials', `alg ${alg}`)
  }
})

t.test('a token signed with another algorithm than HS256 is a 401', async t => {
  const app = await build(t)
  const user = await createUser(app)
  const payload = { user_id: user.id, exp: inSeconds(600) }
  const hs512 = signToken(payload, { header: { alg: 'HS512', typ: 'JWT' }, hash: 'sha512' })
  await assertRejected(t, app, `Bearer ${hs512}`, 'Could not validate credentials', 'HS512')
})

t.test('a token signed with a wrong secret is a 401', async t => {
  const app = await build(t)
  const user = await createUser(app)
  const token = signToken({ user_id: user.id, exp: inSeconds(600) }, { secret: `${TEST_SECRET}-not` })
  await assertRejected(t, app, `Bearer ${token}`, 'Could not validate credentials', 'wrong secret')
})

t.test('an expired token is a 401', async t => {
  const app = await build(t)
  const user = await createUser(app)
  const token = signToken({ user_id: user.id, exp: inSeconds(-120), iat: inSeconds(-3720) })
  await assertRejected(t, app, `Bearer ${token}`, 'Could not validate credentials', 'expired')
})

t.test('a token accepted (and so remembered) is refused once it expires', async t => {
  const app = await build(t)
  const user = await createUser(app)
  const expiresAt = inSeconds(2)
  const token = signToken({ user_id: user.id, exp: expiresAt })
  const before = await app.inject({ url: '/users/me', headers: bearer(token) })
  t.equal(before.statusCode, 200, 'accepted while valid')
  await new Promise(resolve => setTimeout(resolve, expiresAt * 1000 - Date.now() + 100))
  await assertRejected(t, app, `Bearer ${token}`, 'Could not validate credentials', 'after expiry')
})

t.test('remembered tokens: at most the bound, the oldest forgotten first, none past its exp', async t => {
  const now = Date.now()
  const tokens = new VerifiedTokens<{ exp?: number }>(2)
  tokens.set('a', { exp: now / 1000 + 60 })
  tokens.set('b', { exp: now / 1000 + 60 })
  tokens.set('c', { exp: now / 1000 + 60 })
  t.equal(tokens.get('a', now), undefined, 'the oldest went when a third came')
  t.ok(tokens.get('b', now) && tokens.get('c', now), 'the two newest are kept')
  t.equal(tokens.get('b', now + 60_000), undefined, 'expired at exp itself')
  t.equal(tokens.get('b', now), undefined, 'and forgotten once seen expired')
  tokens.set('d', {})
  t.equal(tokens.get('d', now), undefined, 'claims without exp are never answered from memory')
  const none = new VerifiedTokens<{ exp?: number }>(0)
  none.set('e', { exp: now / 1000 + 60 })
  t.equal(none.get('e', now), undefined, 'a bound of 0 keeps nothing')
})

t.test('a token whose user_id is not an integer id is a 401', async t => {
  const app = await build(t)
  const user = await createUser(app)
  const exp = inSeconds(600)
  const payloads = {
    'user_id as a string': { user_id: String(user.id), exp },
    'user_id as a float': { user_id: user.id + 0.5, exp },
    'user_id null': { user_id: null, exp },
    'user_id beyond int4': { user_id: 99999999999, exp },
    'user_id 0': { user_id: 0, exp },
    'no user_id, only sub': { sub: String(user.id), exp }
  }
  for (const [name, payload] of Object.entries(payloads)) {
    await assertRejected(t, app, `Bearer ${signToken(payload)}`, 'Could not validate credentials', name)
  }
})

t.test('a token for a user deleted afterwards is a 401', async t => {
  const app = await build(t)
  const user = await createUser(app)
  t.equal((await app.inject({ url: '/users/me', headers: user.headers })).statusCode, 200)
  await sql(app, 'delete from users where id = ?', [user.id])
  await assertRejected(t, app, user.headers.authorization, 'Could not validate credentials', 'deleted user')
})

t.test('authentication comes before validation', async t => {
  const app = await build(t)
  await createUser(app)
  const badToken = bearer(signToken({ user_id: 1, exp: inSeconds(600) }, { secret: 'wrong' }))
  const cases: [string, InjectOptions, string][] = [
    ['PUT /posts/1 with no body', { method: 'PUT', url: '/posts/1' }, 'Not authenticated'],
    ['POST /posts with an invalid body', { method: 'POST', url: '/posts', payload: { title: 5 } }, 'Not authenticated'],
    ['POST /posts with malformed JSON', { method: 'POST', url: '/posts', payload: '{"title"', headers: { 'content-type': 'application/json' } }, 'Not authenticated'],
    ['GET /posts?limit=abc', { method: 'GET', url: '/posts?limit=abc' }, 'Not authenticated'],
    ['GET /posts/abc', { method: 'GET', url: '/posts/abc' }, 'Not authenticated'],
    ['PATCH /posts/1 with an empty body', { method: 'PATCH', url: '/posts/1', payload: {} }, 'Not authenticated'],
    ['PUT /posts/1 with a bad token and no body', { method: 'PUT', url: '/posts/1', headers: badToken }, 'Could not validate credentials'],
    ['POST /posts with a bad token and an invalid body', { method: 'POST', url: '/posts', payload: { title: 5 }, headers: badToken }, 'Could not validate credentials']
  ]
  for (const [name, request, detail] of cases) {
    assertUnauthorized(t, await app.inject(request), detail, name)
  }
})
