import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify'
import { createHash, createHmac, randomBytes } from 'node:crypto'
import pg from 'pg'
import t, { type Test } from 'tap'
import { TEST_SECRET, build, createPost, createTestDatabase, createUser, sql, uniqueEmail, type TestUser } from '../helpers/app.js'
import { countRows } from '../helpers/assertions.js'

// Sessions (API.md "Sessions"): the token endpoint, refresh-token rotation and reuse, logout,
// the session list, ending one session, password change and account deletion, all through
// the HTTP layer on a real database.

const noRateLimits = { config: { LOGIN_RATE_LIMIT: '0', RATE_LIMIT: '0' } }

const form = (fields: Record<string, string>) =>
  ({ headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: new URLSearchParams(fields).toString() })

const tokenRequest = (app: FastifyInstance, fields: Record<string, string>, headers: Record<string, string> = {}) => {
  const request = form(fields)
  return app.inject({ method: 'POST', url: '/auth/token', headers: { ...request.headers, ...headers }, payload: request.payload })
}

interface Grant { access_token: string, token_type: string, expires_in: number, refresh_token: string }

async function passwordGrant (app: FastifyInstance, user: TestUser, headers: Record<string, string> = {}): Promise<Grant> {
  const response = await tokenRequest(app, { grant_type: 'password', username: user.email, password: user.password }, headers)
  if (response.statusCode !== 200) throw new Error(`password grant failed: ${response.statusCode} ${response.body}`)
  return response.json()
}

const refresh = (app: FastifyInstance, refreshToken: string) => tokenRequest(app, { grant_type: 'refresh_token', refresh_token: refreshToken })

const bearer = (token: string) => ({ authorization: `Bearer ${token}` })
const me = (app: FastifyInstance, token: string) => app.inject({ url: '/users/me', headers: bearer(token) })
const status = async (response: Promise<LightMyRequestResponse>) => (await response).statusCode
const claims = (token: string) => JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString())
const sha256 = (value: string) => createHash('sha256').update(value).digest()

/** An HS256 token as the course's server signs it: `user_id` and `exp` only (no `sid`, no `iat`), or with the claims given. */
function courseToken (payload: Record<string, unknown>): string {
  const header = Buffer.from(JSON.stringify({ alg: 'HS256', typ: 'JWT' })).toString('base64url')
  const body = Buffer.from(JSON.stringify(payload)).toString('base64url')
  return `${header}.${body}.${createHmac('sha256', TEST_SECRET).update(`${header}.${body}`).digest('base64url')}`
}
const inAnHour = () => Math.floor(Date.now() / 1000) + 3600

function assertInvalidGrant (t: Test, response: LightMyRequestResponse, name: string) {
  t.equal(response.statusCode, 400, `${name}: 400`)
  t.equal(response.json().error, 'invalid_grant', `${name}: invalid_grant (${response.body})`)
  t.equal(response.headers['cache-control'], 'no-store', `${name}: no-store`)
}

function assertUnauthorized (t: Test, response: LightMyRequestResponse, name: string) {
  t.equal(response.statusCode, 401, `${name}: 401`)
  t.strictSame(response.json(), { detail: 'Could not validate credentials' }, `${name}: body`)
}

t.test('/login answers as the course does and starts a session: its token carries the sid, which the session list shows', async t => {
  const app = await build(t, noRateLimits)
  const user = await createUser(app)
  const response = await app.inject({ method: 'POST', url: '/login', headers: { ...form({}).headers, 'user-agent': 'course-client/1.0' }, payload: new URLSearchParams({ username: user.email, password: user.password }).toString() })
  t.equal(response.statusCode, 200)
  t.strictSame(Object.keys(response.json()).sort(), ['access_token', 'token_type'], 'exactly the course\'s fields')
  const token = response.json().access_token as string
  const { sid, user_id: userId, exp, iat } = claims(token)
  t.equal(userId, user.id)
  t.match(sid, /^[0-9a-f-]{36}$/, 'the token carries its session id')
  t.equal(exp - iat, 3600, 'an hour long')
  const sessions = await app.inject({ url: '/auth/sessions', headers: bearer(token) })
  t.equal(sessions.statusCode, 200)
  const listed = sessions.json() as { id: string, current: boolean, user_agent: string | null, ip: string | null, created_at: string, last_used_at: string }[]
  t.equal(listed.length, 2, 'createUser\'s login and this one')
  t.strictSame(Object.keys(listed[0]!).sort(), ['created_at', 'current', 'id', 'ip', 'last_used_at', 'user_agent'])
  t.equal(listed[0]!.id, sid, 'newest first')
  t.equal(listed[0]!.current, true)
  t.equal(listed[1]!.current, false)
  t.equal(listed[0]!.user_agent, 'course-client/1.0')
  t.equal(listed[0]!.ip, '127.0.0.1')
  t.match(listed[0]!.created_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?[+-]\d\d:\d\d$/)
  t.equal((await sql(app, 'select (expires_at - created_at)::text as lasts from sessions where id = ?', [sid]))[0]!.lasts, '30 days', 'REFRESH_TOKEN_EXPIRE_DAYS by default')
})

t.test('the password grant: the tokens, no-store, a refresh token stored only as its hash', async t => {
  const app = await build(t, { config: { LOGIN_RATE_LIMIT: '0', RATE_LIMIT: '0', ACCESS_TOKEN_EXPIRE_MINUTES: '15', REFRESH_TOKEN_EXPIRE_DAYS: '7' } })
  const user = await createUser(app)
  const response = await tokenRequest(app, { grant_type: 'password', username: user.email.toUpperCase(), password: user.password, scope: 'ignored', client_id: 'swagger' })
  t.equal(response.statusCode, 200, response.body)
  t.equal(response.headers['cache-control'], 'no-store')
  const grant = response.json() as Grant
  t.strictSame(Object.keys(grant).sort(), ['access_token', 'expires_in', 'refresh_token', 'token_type'])
  t.equal(grant.token_type, 'bearer')
  t.equal(grant.expires_in, 900)
  t.match(grant.refresh_token, /^[A-Za-z0-9_-]{43,}$/, 'at least 256 bits, URL-safe')
  t.equal(await status(me(app, grant.access_token)), 200, 'the access token works')
  const { sid } = claims(grant.access_token)
  const stored = await sql<{ hash: Buffer, session_id: string }>(app, 'select hash, session_id from refresh_tokens')
  t.equal(stored.length, 1)
  t.ok(stored[0]!.hash.equals(sha256(grant.refresh_token)), 'stored as its SHA-256')
  t.equal(stored[0]!.session_id, sid)
  const dump = JSON.stringify(await sql(app, 'select * from sessions')) + JSON.stringify(await sql(app, 'select encode(hash, \'escape\') as hash from refresh_tokens'))
  t.notOk(dump.includes(grant.refresh_token), 'the token itself is stored nowhere')
  t.equal((await sql(app, 'select (expires_at - created_at)::text as lasts from sessions where id = ?', [sid]))[0]!.lasts, '7 days', 'REFRESH_TOKEN_EXPIRE_DAYS')

  // multipart, as the form it also is
  const multipart = new FormData()
  for (const [name, value] of Object.entries({ grant_type: 'password', username: user.email, password: user.password })) multipart.append(name, value)
  const request = new Request('http://localhost/', { method: 'POST', body: multipart })
  const multipartResponse = await app.inject({ method: 'POST', url: '/auth/token', headers: { 'content-type': request.headers.get('content-type')! }, payload: Buffer.from(await request.arrayBuffer()) })
  t.equal(multipartResponse.statusCode, 200, `multipart: ${multipartResponse.body}`)
})

t.test('bad token requests: RFC 6749 errors, never a 422 or a 5xx', async t => {
  const app = await build(t, noRateLimits)
  const user = await createUser(app)
  const cases: [string, Promise<LightMyRequestResponse>, string][] = [
    ['no grant_type', tokenRequest(app, { username: user.email, password: user.password }), 'invalid_request'],
    ['no body', app.inject({ method: 'POST', url: '/auth/token' }), 'invalid_request'],
    ['a JSON body (read as no fields)', app.inject({ method: 'POST', url: '/auth/token', payload: { grant_type: 'password', username: user.email, password: user.password } }), 'invalid_request'],
    ['unknown grant_type', tokenRequest(app, { grant_type: 'client_credentials' }), 'unsupported_grant_type'],
    ['grant_type in another case', tokenRequest(app, { grant_type: 'PASSWORD', username: user.email, password: user.password }), 'unsupported_grant_type'],
    ['password grant without password', tokenRequest(app, { grant_type: 'password', username: user.email }), 'invalid_request'],
    ['password grant without username', tokenRequest(app, { grant_type: 'password', password: user.password }), 'invalid_request'],
    ['password grant with an empty password', tokenRequest(app, { grant_type: 'password', username: user.email, password: '' }), 'invalid_request'],
    ['wrong password', tokenRequest(app, { grant_type: 'password', username: user.email, password: `${user.password}!` }), 'invalid_grant'],
    ['unknown email', tokenRequest(app, { grant_type: 'password', username: uniqueEmail('nobody'), password: user.password }), 'invalid_grant'],
    ['the right password past 72 bytes', tokenRequest(app, { grant_type: 'password', username: user.email, password: user.password.padEnd(72, '.') + 'x' }), 'invalid_grant'],
    ['refresh grant without a token', tokenRequest(app, { grant_type: 'refresh_token' }), 'invalid_request'],
    ['an unknown refresh token', refresh(app, randomBytes(32).toString('base64url')), 'invalid_grant'],
    ['a refresh token of the wrong length', refresh(app, 'short'), 'invalid_grant'],
    ['a 10 kB refresh token', refresh(app, 'a'.repeat(10_000)), 'invalid_grant'],
    ['a refresh token with a NUL', refresh(app, `${'a'.repeat(42)}\u0000`), 'invalid_grant'],
    ['a multipart form that cannot be read', app.inject({ method: 'POST', url: '/auth/token', headers: { 'content-type': 'multipart/form-data' }, payload: 'garbage' }), 'invalid_request'],
    ['a body that is no form (text/plain)', app.inject({ method: 'POST', url: '/auth/token', headers: { 'content-type': 'text/plain' }, payload: `grant_type=password&username=${user.email}&password=${user.password}` }), 'invalid_request'],
    ['a body of an unknown type', app.inject({ method: 'POST', url: '/auth/token', headers: { 'content-type': 'application/xml' }, payload: '<grant_type>password</grant_type>' }), 'invalid_request']
  ]
  for (const [name, pending, error] of cases) {
    const response = await pending
    t.equal(response.statusCode, 400, `${name}: 400 (${response.body})`)
    t.equal(response.json().error, error, `${name}: ${error}`)
    t.type(response.json().error_description, 'string', `${name}: a description`)
    t.equal(response.headers['cache-control'], 'no-store', `${name}: no-store`)
  }
  t.equal(await countRows(app, 'sessions'), 1, 'no refused request started a session (createUser\'s login aside)')
})

t.test('refresh rotates: each refresh token works once; a reuse within 10 s is refused, later it ends the session', async t => {
  const app = await build(t, noRateLimits)
  const user = await createUser(app)
  const first = await passwordGrant(app, user)
  const { sid } = claims(first.access_token)

  const second = await refresh(app, first.refresh_token)
  t.equal(second.statusCode, 200, second.body)
  t.equal(second.headers['cache-control'], 'no-store')
  const next = second.json() as Grant
  t.not(next.refresh_token, first.refresh_token, 'a new refresh token')
  t.equal(claims(next.access_token).sid, sid, 'the same session')
  t.equal(await status(me(app, next.access_token)), 200)

  // A racing retry: refused, and the session lives on.
  assertInvalidGrant(t, await refresh(app, first.refresh_token), 'reuse within 10 s')
  t.equal(await status(me(app, next.access_token)), 200, 'the session still stands')
  t.equal(await status(me(app, first.access_token)), 200, 'its older access token too')

  const third = await refresh(app, next.refresh_token)
  t.equal(third.statusCode, 200, 'the current refresh token still works')
  const latest = third.json() as Grant

  // The first token was used more than 10 s ago: theft. That session ends, the user's others stay.
  const other = await passwordGrant(app, user)
  await sql(app, 'update refresh_tokens set used_at = used_at - interval \'11 seconds\' where hash = ?', [sha256(first.refresh_token)])
  assertInvalidGrant(t, await refresh(app, first.refresh_token), 'reuse after 10 s')
  assertUnauthorized(t, await me(app, latest.access_token), 'the session\'s access token')
  assertUnauthorized(t, await me(app, first.access_token), 'its older access token')
  assertInvalidGrant(t, await refresh(app, latest.refresh_token), 'the session\'s current refresh token')
  t.equal(await status(me(app, other.access_token)), 200, 'the user\'s other session stays')
  t.equal(await status(me(app, user.token)), 200, 'and so does the /login session')
  t.equal(await countRows(app, 'sessions where id = ?', [sid]), 0)
  t.equal(await countRows(app, 'refresh_tokens'), 1, 'only the other session\'s token is left')
})

t.test('a reuse more than 10 s later, really waited for, ends the session', { timeout: 30_000 }, async t => {
  const app = await build(t, noRateLimits)
  const user = await createUser(app)
  const first = await passwordGrant(app, user)
  const next = (await refresh(app, first.refresh_token)).json() as Grant
  await new Promise(resolve => setTimeout(resolve, 10_500))
  assertInvalidGrant(t, await refresh(app, first.refresh_token), 'reuse 10.5 s later')
  assertUnauthorized(t, await me(app, next.access_token), 'the session ended')
})

t.test('concurrent refreshes with one token: exactly one is granted, and the session lives on', async t => {
  const app = await build(t, noRateLimits)
  const user = await createUser(app)
  const grant = await passwordGrant(app, user)
  const responses = await Promise.all(Array.from({ length: 8 }, () => refresh(app, grant.refresh_token)))
  const granted = responses.filter(response => response.statusCode === 200)
  t.equal(granted.length, 1, `one granted: ${responses.map(r => r.statusCode).join(' ')}`)
  t.equal(responses.filter(response => response.statusCode === 400 && response.json().error === 'invalid_grant').length, 7, 'the rest refused')
  t.equal(await status(me(app, (granted[0]!.json() as Grant).access_token)), 200, 'the session stands')
  t.equal(await status(refresh(app, (granted[0]!.json() as Grant).refresh_token)), 200, 'and its new refresh token works')
})

t.test('refresh tokens of an expired session, an ended one or a deleted user are refused', async t => {
  const app = await build(t, noRateLimits)
  const user = await createUser(app)
  const expiring = await passwordGrant(app, user)
  await sql(app, 'update sessions set expires_at = now() - interval \'1 second\' where id = ?', [claims(expiring.access_token).sid])
  assertInvalidGrant(t, await refresh(app, expiring.refresh_token), 'expired session')
  assertUnauthorized(t, await me(app, expiring.access_token), 'an expired session\'s access token')

  const ended = await passwordGrant(app, user)
  t.equal(await status(app.inject({ method: 'POST', url: '/auth/logout', headers: bearer(ended.access_token) })), 204)
  assertInvalidGrant(t, await refresh(app, ended.refresh_token), 'ended session')

  const doomed = await createUser(app)
  const doomedGrant = await passwordGrant(app, doomed)
  await sql(app, 'delete from users where id = ?', [doomed.id])
  assertInvalidGrant(t, await refresh(app, doomedGrant.refresh_token), 'deleted user')
  t.equal(await countRows(app, 'sessions where user_id = ?', [doomed.id]), 0, 'the deleted user\'s sessions went with them')
})

t.test('logout ends this session; scope=others the others; scope=global all, course tokens too', async t => {
  const app = await build(t, noRateLimits)
  const user = await createUser(app)
  const a = await passwordGrant(app, user)
  const b = await passwordGrant(app, user)
  const c = await passwordGrant(app, user)
  const course = courseToken({ user_id: user.id, exp: inAnHour() })
  t.equal(await status(me(app, course)), 200, 'a course token (no sid) works')

  t.equal(await status(app.inject({ method: 'POST', url: '/auth/logout', headers: bearer(a.access_token) })), 204)
  assertUnauthorized(t, await me(app, a.access_token), 'the logged-out session')
  assertUnauthorized(t, await app.inject({ method: 'POST', url: '/auth/logout', headers: bearer(a.access_token) }), 'logging out twice')
  t.equal(await status(me(app, b.access_token)), 200, 'another session stays')
  t.equal(await status(me(app, course)), 200, 'a course token stays')

  t.equal(await status(app.inject({ method: 'POST', url: '/auth/logout?scope=others', headers: bearer(b.access_token) })), 204)
  t.equal(await status(me(app, b.access_token)), 200, 'scope=others keeps this session')
  assertUnauthorized(t, await me(app, c.access_token), 'scope=others ends another')
  assertUnauthorized(t, await me(app, user.token), 'and the /login one')
  assertUnauthorized(t, await me(app, course), 'and a course token issued before')
  assertInvalidGrant(t, await refresh(app, c.refresh_token), 'an ended session\'s refresh token')

  const d = await passwordGrant(app, user)
  t.equal(await status(app.inject({ method: 'POST', url: '/auth/logout/?scope=global', headers: bearer(d.access_token) })), 204)
  assertUnauthorized(t, await me(app, d.access_token), 'scope=global ends this one')
  assertUnauthorized(t, await me(app, b.access_token), 'and every other')
  t.equal(await countRows(app, 'sessions where user_id = ?', [user.id]), 0)

  const bad = await app.inject({ method: 'POST', url: '/auth/logout?scope=everyone', headers: bearer((await passwordGrant(app, user)).access_token) })
  t.equal(bad.statusCode, 422)
  t.same(bad.json().detail[0].loc, ['query', 'scope'])
  t.equal(await status(app.inject({ method: 'POST', url: '/auth/logout' })), 401, 'no token')
})

t.test('course tokens without sid: accepted until the user ends all sessions or changes the password', async t => {
  const app = await build(t, noRateLimits)
  const user = await createUser(app)
  const before = courseToken({ user_id: user.id, exp: inAnHour() })
  t.equal(await status(me(app, before)), 200)
  t.equal(await status(app.inject({ url: '/posts', headers: bearer(before) })), 200)
  t.equal(await status(app.inject({ method: 'PUT', url: '/users/me/password', headers: bearer(user.token), payload: { current_password: user.password, new_password: 'a new password' } })), 204)
  assertUnauthorized(t, await me(app, before), 'a course token issued before the password change')
  assertUnauthorized(t, await app.inject({ url: '/posts', headers: bearer(before) }), 'on every protected route')
  const now = Math.floor(Date.now() / 1000)
  t.equal(await status(me(app, courseToken({ user_id: user.id, iat: now + 1, exp: now + 3601 }))), 200, 'one issued after it works')
  t.equal(await status(me(app, courseToken({ user_id: user.id, exp: now + 3601 }))), 200, 'and so does one without iat that expires a lifetime after it')

  // Malformed or foreign session ids are refused, not a 5xx.
  const other = await createUser(app)
  assertUnauthorized(t, await me(app, courseToken({ user_id: user.id, sid: 'not-a-uuid', exp: inAnHour() })), 'a sid that is no uuid')
  assertUnauthorized(t, await me(app, courseToken({ user_id: user.id, sid: 42, exp: inAnHour() })), 'a sid that is no string')
  assertUnauthorized(t, await me(app, courseToken({ user_id: user.id, sid: claims(other.token).sid, exp: inAnHour() })), 'another user\'s sid')
  assertUnauthorized(t, await me(app, courseToken({ user_id: user.id, sid: '00000000-0000-4000-8000-000000000000', exp: inAnHour() })), 'an unknown sid')
})

t.test('the session list: the user\'s live sessions only, newest first', async t => {
  const app = await build(t, noRateLimits)
  const user = await createUser(app)
  const other = await createUser(app)
  const a = await passwordGrant(app, user, { 'user-agent': 'first' })
  const b = await passwordGrant(app, user, { 'user-agent': 'second' })
  await sql(app, 'update sessions set expires_at = now() - interval \'1 second\' where id = ?', [claims(user.token).sid])
  const listed = (await app.inject({ url: '/auth/sessions/', headers: bearer(a.access_token) })).json() as { id: string, current: boolean, user_agent: string }[]
  t.strictSame(listed.map(session => session.id), [claims(b.access_token).sid, claims(a.access_token).sid], 'live sessions, newest first; not the expired one, not another user\'s')
  t.strictSame(listed.map(session => session.current), [false, true])
  t.strictSame(listed.map(session => session.user_agent), ['second', 'first'])

  const before = (await app.inject({ url: '/auth/sessions', headers: bearer(b.access_token) })).json()[0].last_used_at as string
  await new Promise(resolve => setTimeout(resolve, 5))
  const refreshed = (await refresh(app, b.refresh_token)).json() as Grant
  const after = (await app.inject({ url: '/auth/sessions', headers: bearer(refreshed.access_token) })).json()[0].last_used_at as string
  t.ok(Date.parse(after) > Date.parse(before), `a refresh moves last_used_at (${before} → ${after})`)

  const course = (await app.inject({ url: '/auth/sessions', headers: bearer(courseToken({ user_id: other.id, exp: inAnHour() })) })).json() as { current: boolean }[]
  t.strictSame(course.map(session => session.current), [false], 'a course token has no current session')
  assertUnauthorized(t, await app.inject({ url: '/auth/sessions', headers: bearer(courseToken({ user_id: 2_000_000, exp: inAnHour() })) }), 'a user that does not exist')
})

t.test('ending one session: the user\'s own, live; anything else is a 404 and ends nothing', async t => {
  const app = await build(t, noRateLimits)
  const user = await createUser(app)
  const other = await createUser(app)
  const a = await passwordGrant(app, user)
  const b = await passwordGrant(app, user)
  const bSid = claims(b.access_token).sid
  const end = (id: string, token = a.access_token) => app.inject({ method: 'DELETE', url: `/auth/sessions/${id}`, headers: bearer(token) })

  t.equal(await status(end(bSid)), 204)
  assertUnauthorized(t, await me(app, b.access_token), 'the ended session')
  assertInvalidGrant(t, await refresh(app, b.refresh_token), 'its refresh token')
  t.equal(await status(me(app, a.access_token)), 200, 'the caller\'s session stays')

  for (const [name, id] of [['already ended', bSid], ['another user\'s', claims(other.token).sid], ['unknown', '00000000-0000-4000-8000-000000000000'], ['not a uuid', 'abc'], ['long', 'x'.repeat(90)]] as const) {
    const response = await end(id)
    t.equal(response.statusCode, 404, `${name}: 404`)
    t.match(response.json().detail, /^Session with id: .* does not exist$/, `${name}: detail`)
  }
  t.equal(await status(me(app, other.token)), 200, 'the other user\'s session was not touched')
  const expired = await passwordGrant(app, user)
  await sql(app, 'update sessions set expires_at = now() where id = ?', [claims(expired.access_token).sid])
  t.equal(await status(end(claims(expired.access_token).sid)), 404, 'an expired session is not live')

  t.equal(await status(end(claims(a.access_token).sid)), 204, 'the caller may end their own')
  assertUnauthorized(t, await me(app, a.access_token), 'then it is ended')
  assertUnauthorized(t, await end(bSid), 'and the ended token cannot end more')
})

t.test('password change: 403 and nothing changes on a wrong current password; else the others end, this one stays', async t => {
  const app = await build(t, noRateLimits)
  const user = await createUser(app)
  const other = await passwordGrant(app, user)
  const current = await passwordGrant(app, user)
  const change = (payload: unknown, token = current.access_token) => app.inject({ method: 'PUT', url: '/users/me/password', headers: bearer(token), payload: payload as Record<string, unknown> })
  const hashBefore = (await sql(app, 'select password from users where id = ?', [user.id]))[0]!.password

  const wrong = await change({ current_password: 'not the password', new_password: 'another password' })
  t.equal(wrong.statusCode, 403)
  t.strictSame(wrong.json(), { detail: 'Invalid Credentials' })
  t.equal((await sql(app, 'select password from users where id = ?', [user.id]))[0]!.password, hashBefore, 'the hash is unchanged')
  t.equal(await status(me(app, other.access_token)), 200, 'the other sessions stay')
  t.equal(await status(change({ current_password: '', new_password: 'another password' })), 403, 'an empty current password is a wrong one')

  for (const [name, payload, field] of [
    ['too short', { current_password: user.password, new_password: 'short' }, 'new_password'],
    ['past 72 bytes', { current_password: user.password, new_password: 'é'.repeat(37) }, 'new_password'],
    ['missing', { current_password: user.password }, 'new_password'],
    ['no current password', { new_password: 'another password' }, 'current_password']
  ] as const) {
    const response = await change(payload)
    t.equal(response.statusCode, 422, `${name}: 422`)
    t.ok(response.json().detail.some((entry: { loc: string[] }) => entry.loc[1] === field), `${name}: names ${field}`)
  }
  t.equal((await sql(app, 'select password from users where id = ?', [user.id]))[0]!.password, hashBefore, 'still unchanged')

  t.equal((await change({ current_password: user.password, new_password: 'another password' })).statusCode, 204)
  t.equal(await status(me(app, current.access_token)), 200, 'this session stays')
  t.equal(await status(refresh(app, current.refresh_token)), 200, 'and can refresh')
  assertUnauthorized(t, await me(app, other.access_token), 'another session ends')
  assertUnauthorized(t, await me(app, user.token), 'and the /login one')
  assertInvalidGrant(t, await refresh(app, other.refresh_token), 'the other session\'s refresh token')
  t.equal(await status(tokenRequest(app, { grant_type: 'password', username: user.email, password: user.password })), 400, 'the old password no longer logs in')
  t.equal(await status(tokenRequest(app, { grant_type: 'password', username: user.email, password: 'another password' })), 200, 'the new one does')
  assertUnauthorized(t, await change({ current_password: 'x', new_password: 'another password' }, other.access_token), 'an ended session cannot change it')
})

t.test('account deletion: 403 and nothing deleted on a wrong password; else the user, posts, votes and sessions go', async t => {
  const app = await build(t, noRateLimits)
  const user = await createUser(app)
  const other = await createUser(app)
  const second = await passwordGrant(app, user)
  const own = await createPost(app, user)
  const others = await createPost(app, other)
  t.equal(await status(app.inject({ method: 'POST', url: '/vote', headers: bearer(user.token), payload: { post_id: others.id, dir: 1 } })), 201)
  t.equal(await status(app.inject({ method: 'POST', url: '/vote', headers: bearer(other.token), payload: { post_id: own.id, dir: 1 } })), 201)
  const remove = (payload?: Record<string, unknown>, token = user.token) => app.inject({ method: 'DELETE', url: '/users/me', headers: bearer(token), ...(payload ? { payload } : {}) })

  const wrong = await remove({ password: 'not the password' })
  t.equal(wrong.statusCode, 403)
  t.strictSame(wrong.json(), { detail: 'Invalid Credentials' })
  t.equal(await countRows(app, 'users where id = ?', [user.id]), 1, 'nothing deleted')
  t.equal((await remove({ password: '' })).statusCode, 403, 'an empty password is a wrong one')
  t.equal((await remove()).statusCode, 422, 'no body')
  t.equal((await remove({})).statusCode, 422, 'no password')
  assertUnauthorized(t, await app.inject({ method: 'DELETE', url: '/users/me', headers: bearer('not.a.token') }), 'a bad token')

  t.equal((await remove({ password: user.password })).statusCode, 204)
  t.equal(await countRows(app, 'users where id = ?', [user.id]), 0, 'the user is gone')
  t.equal(await countRows(app, 'posts where owner_id = ?', [user.id]), 0, 'their posts')
  t.equal(await countRows(app, 'votes where user_id = ?', [user.id]), 0, 'their votes')
  t.equal(await countRows(app, 'sessions where user_id = ?', [user.id]), 0, 'their sessions')
  t.equal(await countRows(app, 'session_resets where user_id = ?', [user.id]), 0)
  t.equal((await app.inject({ url: `/posts/${others.id}`, headers: bearer(other.token) })).json().votes, 0, 'the vote count follows')
  assertUnauthorized(t, await me(app, second.access_token), 'every session ended')
  assertInvalidGrant(t, await refresh(app, second.refresh_token), 'refresh tokens too')
  t.equal(await status(app.inject({ url: `/users/${user.id}` })), 404)
  t.equal(await status(me(app, other.token)), 200, 'another user is untouched')
})

t.test('deleting an account while its other sessions are mid-request: 2xx or 401, never a 5xx, nothing half deleted', async t => {
  const app = await build(t, noRateLimits)
  const other = await createUser(app)
  const target = await createPost(app, other)
  for (let round = 0; round < 6; round++) {
    const victim = await createUser(app)
    const session = await passwordGrant(app, victim)
    const ownPost = await createPost(app, victim)
    const requests = [
      ...[1, 0, 1].map(dir => app.inject({ method: 'POST', url: '/vote', headers: bearer(session.access_token), payload: { post_id: target.id, dir } })),
      app.inject({ method: 'POST', url: '/posts', headers: bearer(session.access_token), payload: { title: 'Racing', content: 'the deletion' } }),
      app.inject({ method: 'PATCH', url: `/posts/${ownPost.id}`, headers: bearer(session.access_token), payload: { title: 'Racing' } }),
      app.inject({ url: '/posts?sort=hot&include=voted', headers: bearer(session.access_token) }),
      refresh(app, session.refresh_token)
    ]
    const [deleted, ...responses] = await Promise.all([
      new Promise(resolve => setTimeout(resolve, round)).then(() => app.inject({ method: 'DELETE', url: '/users/me', headers: bearer(victim.token), payload: { password: victim.password } })),
      ...requests
    ])
    t.equal(deleted.statusCode, 204, `round ${round}: deleted`)
    t.strictSame(responses.filter(r => r.statusCode >= 500).map(r => `${r.statusCode} ${r.body}`), [], `round ${round}: no 5xx`)
    for (const table of ['posts where owner_id = ?', 'votes where user_id = ?', 'sessions where user_id = ?']) {
      t.equal(await countRows(app, table, [victim.id]), 0, `round ${round}: none left in ${table.split(' ')[0]}`)
    }
    assertUnauthorized(t, await me(app, session.access_token), `round ${round}: the other session is refused afterwards`)
  }
  const [{ votes }] = await sql<{ votes: number }>(app, 'select votes from vote_counts where post_id = ?', [target.id]) as [{ votes: number }]
  t.equal(votes, await countRows(app, 'votes where post_id = ?', [target.id]), 'the vote count is exact')
})

t.test('a refresh queued behind an account\'s deletion on the session\'s row: no deadlock, the deletion wins', async t => {
  // A third connection holds the session's row; the deletion, then the refresh, queue behind
  // it. When it lets go, the deletion removes the session and, by cascade, its refresh tokens:
  // a refresh that had locked its token's row before the session's then waited for the
  // deletion while the deletion waited for it (PostgreSQL's deadlock detected, a 500).
  const databaseUrl = await createTestDatabase(t)
  const app = await build(t, { ...noRateLimits, databaseUrl })
  const user = await createUser(app)
  const grant = await passwordGrant(app, user)
  const holder = new pg.Client({ connectionString: databaseUrl })
  await holder.connect()
  t.teardown(() => holder.end())
  const waiting = async (count: number) => {
    for (let tries = 0; tries < 200; tries++) {
      // Inside its transaction the holder would see the activity as it first read it.
      await holder.query('select pg_stat_clear_snapshot()')
      const { rows } = await holder.query<{ n: number }>('select count(*)::int as n from pg_stat_activity where datname = current_database() and state = \'active\' and wait_event_type = \'Lock\'')
      if (rows[0]!.n >= count) return
      await new Promise(resolve => setTimeout(resolve, 25))
    }
    throw new Error(`${count} statements did not come to wait for the session's row`)
  }
  await holder.query('begin')
  await holder.query('select from sessions where id = $1 for update', [claims(grant.access_token).sid])
  const deletion = app.inject({ method: 'DELETE', url: '/users/me', headers: bearer(grant.access_token), payload: { password: user.password } })
  await waiting(1)
  const refreshed = refresh(app, grant.refresh_token)
  await waiting(2)
  await holder.query('commit')
  const [deleted, refusal] = await Promise.all([deletion, refreshed])
  t.equal(deleted.statusCode, 204, `the deletion: ${deleted.body}`)
  assertInvalidGrant(t, refusal, 'the refresh of the deleted session')
  t.equal(await countRows(app, 'users where id = ?', [user.id]), 0, 'the user is gone')
  t.equal(await countRows(app, 'refresh_tokens'), 0, 'and every refresh token')
})

t.test('two app instances on one database: a session ended on one is refused on the other at once', async t => {
  const databaseUrl = await createTestDatabase(t)
  const a = await build(t, { ...noRateLimits, databaseUrl })
  const b = await build(t, { ...noRateLimits, databaseUrl })
  const user = await createUser(a)
  const grant = await passwordGrant(a, user)
  t.equal(await status(me(b, grant.access_token)), 200, 'the session works on both')
  t.equal(await status(b.inject({ url: '/posts', headers: bearer(grant.access_token) })), 200)
  t.equal(await status(a.inject({ method: 'POST', url: '/auth/logout', headers: bearer(grant.access_token) })), 204)
  const ended = Date.now()
  const requests: InjectOptions[] = [
    { url: '/users/me' },
    { url: '/posts?sort=top' },
    { url: '/posts/1' },
    { method: 'POST', url: '/posts', payload: { title: 't', content: 'c' } },
    { method: 'POST', url: '/vote', payload: { post_id: 1, dir: 1 } },
    { url: `/users/${user.id}/posts` }
  ]
  for (const request of requests) {
    assertUnauthorized(t, await b.inject({ ...request, headers: bearer(grant.access_token) }), `the other instance: ${request.method ?? 'GET'} ${request.url}`)
  }
  t.ok(Date.now() - ended < 1000, 'all within a second')
  assertInvalidGrant(t, await refresh(b, grant.refresh_token), 'its refresh token on the other instance')
})

t.test('the token endpoint is rate-limited as /login (per address and per account)', async t => {
  const app = await build(t, { config: { LOGIN_RATE_LIMIT: '4', RATE_LIMIT: '0' } })
  const user = await createUser(app)
  const attempts = []
  for (let i = 0; i < 4; i++) attempts.push(await tokenRequest(app, { grant_type: 'password', username: user.email, password: 'wrong password' }))
  t.strictSame(attempts.map(response => response.statusCode), [400, 400, 429, 429], 'createUser\'s registration and login counted too')
  t.ok(Number(attempts[3]!.headers['retry-after']) > 0, 'Retry-After')
  t.equal((await refresh(app, randomBytes(32).toString('base64url'))).statusCode, 429, 'the refresh grant is counted per address too')
})

t.test('password change and account deletion are limited as logins are (each checks a password)', async t => {
  const app = await build(t, { config: { LOGIN_RATE_LIMIT: '4', RATE_LIMIT: '0' } })
  const user = await createUser(app)
  const statuses = []
  for (let i = 0; i < 2; i++) statuses.push(await status(app.inject({ method: 'PUT', url: '/users/me/password', headers: user.headers, payload: { current_password: 'a wrong guess', new_password: 'another password' } })))
  statuses.push(await status(app.inject({ method: 'DELETE', url: '/users/me', headers: user.headers, payload: { password: user.password } })))
  t.strictSame(statuses, [403, 403, 429], 'createUser\'s registration and login counted too')
  t.equal(await countRows(app, 'users where id = ?', [user.id]), 1, 'the refused deletion deleted nothing')
})

t.test('a truncate of users (the course\'s reset) takes every session with it: a reused id inherits none', async t => {
  const app = await build(t, noRateLimits)
  const user = await createUser(app)
  const grant = await passwordGrant(app, user)
  await app.inject({ method: 'POST', url: '/auth/logout?scope=global', headers: bearer(grant.access_token) })
  await passwordGrant(app, user)
  await sql(app, 'truncate users, posts, votes restart identity')
  for (const table of ['sessions', 'refresh_tokens', 'session_resets']) t.equal(await countRows(app, table), 0, `${table} is empty`)
  const reborn = await createUser(app)
  t.equal(reborn.id, user.id, 'the id is reused')
  assertInvalidGrant(t, await refresh(app, grant.refresh_token), 'the old user\'s refresh token')
  assertUnauthorized(t, await me(app, grant.access_token), 'the old user\'s access token')
  t.equal(await status(me(app, courseToken({ user_id: reborn.id, exp: inAnHour() }))), 200, 'no reset carried over to the new user')
})

t.test('logins racing the user\'s deletion: each is granted or refused, never a 5xx, and no session outlives the user', async t => {
  const app = await build(t, noRateLimits)
  for (let round = 0; round < 5; round++) {
    const user = await createUser(app)
    const logins = Array.from({ length: 6 }, (_, i) => i % 2
      ? tokenRequest(app, { grant_type: 'password', username: user.email, password: user.password })
      : app.inject({ method: 'POST', url: '/login', ...form({ username: user.email, password: user.password }) }))
    const [, ...responses] = await Promise.all([
      new Promise(resolve => setTimeout(resolve, round * 3)).then(() => sql(app, 'delete from users where id = ?', [user.id])),
      ...logins
    ])
    t.strictSame(responses.filter(r => ![200, 400, 403].includes(r.statusCode)).map(r => `${r.statusCode} ${r.body}`), [], `round ${round}: 200, or the refusal of each endpoint`)
    t.equal(await countRows(app, 'sessions where user_id = ?', [user.id]), 0, `round ${round}: no session left for the deleted user`)
  }
})

t.test('a token whose session has ended gets its 401 before any validation, as a token that never was valid', async t => {
  const app = await build(t, noRateLimits)
  const user = await createUser(app)
  const post = await createPost(app, user)
  const ended = await passwordGrant(app, user)
  t.equal(await status(app.inject({ method: 'POST', url: '/auth/logout', headers: bearer(ended.access_token) })), 204)
  const invalid: InjectOptions[] = [
    { method: 'POST', url: '/posts', payload: {} },
    { url: '/posts?limit=0' },
    { url: '/posts?sort=bogus' },
    { url: '/posts?cursor=zzz' },
    { url: '/posts/abc' },
    { method: 'PUT', url: `/posts/${post.id}`, payload: {} },
    { method: 'PATCH', url: `/posts/${post.id}`, payload: {} },
    { method: 'POST', url: '/vote', payload: { post_id: post.id, dir: 5 } },
    { method: 'POST', url: '/vote', headers: { 'content-type': 'text/plain' }, payload: 'x' },
    { method: 'POST', url: '/vote', headers: { 'content-type': 'application/json' }, payload: '{"post_id":' },
    { url: `/users/${user.id}/posts?t=bad` },
    { method: 'POST', url: '/auth/logout?scope=bad' },
    { method: 'PUT', url: '/users/me/password', payload: { current_password: user.password, new_password: 'short' } },
    { method: 'DELETE', url: '/users/me', payload: {} }
  ]
  for (const request of invalid) {
    const response = await app.inject({ ...request, headers: { ...request.headers, ...bearer(ended.access_token) } })
    assertUnauthorized(t, response, `${request.method ?? 'GET'} ${request.url} ${JSON.stringify(request.payload ?? '')}`)
    t.equal(response.headers['www-authenticate'], 'Bearer')
  }
  // A live token still gets the 422 (the check above costs only refused requests).
  const live = await app.inject({ method: 'POST', url: '/posts', headers: user.headers, payload: {} })
  t.equal(live.statusCode, 422, 'a live token: 422')
  // A deleted user's token too.
  const gone = await createUser(app)
  await sql(app, 'delete from users where id = ?', [gone.id])
  assertUnauthorized(t, await app.inject({ method: 'POST', url: '/posts', headers: gone.headers, payload: {} }), 'a deleted user\'s token with an invalid body')
})

t.test('a password change made with a token without sid refuses every such token issued before it, its own too', async t => {
  const app = await build(t, noRateLimits)
  const user = await createUser(app)
  const now = Math.floor(Date.now() / 1000)
  const older = courseToken({ user_id: user.id, exp: now + 3000 })
  const caller = courseToken({ user_id: user.id, exp: now + 3300 })
  const newer = courseToken({ user_id: user.id, exp: now + 3500 })
  for (const token of [older, caller, newer]) t.equal(await status(me(app, token)), 200, 'accepted before')
  t.equal(await status(app.inject({ method: 'PUT', url: '/users/me/password', headers: bearer(caller), payload: { current_password: user.password, new_password: 'a new password' } })), 204)
  for (const [name, token] of [['issued before the caller', older], ['the caller', caller], ['issued after the caller, before the change', newer]]) {
    assertUnauthorized(t, await me(app, token!), `a sessionless token ${name}`)
  }
  assertUnauthorized(t, await me(app, user.token), 'the /login session ends too (another session)')
  const after = courseToken({ user_id: user.id, iat: now + 2, exp: now + 3602 })
  t.equal(await status(me(app, after)), 200, 'one issued after the change works')
})
