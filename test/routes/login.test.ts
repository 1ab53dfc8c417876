import bcrypt from 'bcrypt'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { createHmac, randomBytes } from 'node:crypto'
import t from 'tap'
import { TEST_SECRET, build, createUser, sql, uniqueEmail } from '../helpers/app.js'

const JWT = /^[\w-]+\.[\w-]+\.[\w-]+$/

const postForm = (app: FastifyInstance, fields: Record<string, string>, headers: Record<string, string> = {}) =>
  app.inject({
    method: 'POST',
    url: '/login',
    payload: new URLSearchParams(fields).toString(),
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }
  })

function multipartBody (fields: Record<string, string>) {
  const boundary = `----postline-${randomBytes(8).toString('hex')}`
  const parts = Object.entries(fields).map(([name, value]) =>
    `--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`)
  return {
    payload: `${parts.join('')}--${boundary}--\r\n`,
    headers: { 'content-type': `multipart/form-data; boundary=${boundary}` }
  }
}

const decodeSegment = (token: string, index: number) =>
  JSON.parse(Buffer.from(token.split('.')[index] ?? '', 'base64url').toString('utf8'))

function problems (response: LightMyRequestResponse): [unknown[], string][] {
  const { detail } = response.json() as { detail: { loc: unknown[], type: string }[] }
  return detail
    .map(({ loc, type }): [unknown[], string] => [loc, type])
    .sort(([a], [b]) => a.join('.').localeCompare(b.join('.')))
}

async function insertUser (app: FastifyInstance, email: string, hash: string): Promise<number> {
  const [row] = await sql<{ id: number }>(app, 'insert into users (email, password) values (?, ?) returning id', [email, hash])
  return row!.id
}

t.test('POST /login with a urlencoded form answers 200 with a bearer token', async t => {
  const app = await build(t)
  const user = await createUser(app)
  const response = await postForm(app, { username: user.email, password: user.password })
  t.equal(response.statusCode, 200)
  t.match(response.headers['content-type'], /^application\/json/)
  const body = response.json()
  t.same(Object.keys(body).sort(), ['access_token', 'token_type'])
  t.equal(body.token_type, 'bearer')
  t.match(body.access_token, JWT)
})

t.test('POST /login/ with a trailing slash logs in too', async t => {
  const app = await build(t)
  const user = await createUser(app)
  const response = await app.inject({
    method: 'POST',
    url: '/login/',
    payload: new URLSearchParams({ username: user.email, password: user.password }).toString(),
    headers: { 'content-type': 'application/x-www-form-urlencoded' }
  })
  t.equal(response.statusCode, 200)
  t.equal(response.json().token_type, 'bearer')
})

t.test('the token is an HS256 JWT signed with SECRET_KEY, carrying user_id and exp an hour away', async t => {
  const app = await build(t)
  const user = await createUser(app)
  const now = Math.floor(Date.now() / 1000)
  const token = (await postForm(app, { username: user.email, password: user.password })).json().access_token
  t.match(decodeSegment(token, 0), { alg: 'HS256' })
  const payload = decodeSegment(token, 1)
  t.equal(typeof payload.user_id, 'number')
  t.equal(payload.user_id, user.id)
  t.equal(typeof payload.exp, 'number')
  t.ok(Math.abs(payload.exp - (now + 60 * 60)) <= 5, `exp ${payload.exp} is about ${now + 3600}`)
  if (payload.sub !== undefined) t.equal(payload.sub, String(user.id))
  const [header, body, signature] = token.split('.')
  t.equal(signature, createHmac('sha256', TEST_SECRET).update(`${header}.${body}`).digest('base64url'))
})

t.test('ACCESS_TOKEN_EXPIRE_MINUTES sets the token\'s lifetime', async t => {
  const app = await build(t, { config: { ACCESS_TOKEN_EXPIRE_MINUTES: '5' } })
  const user = await createUser(app)
  const now = Math.floor(Date.now() / 1000)
  const payload = decodeSegment(user.token, 1)
  t.ok(Math.abs(payload.exp - (now + 5 * 60)) <= 5, `exp ${payload.exp} is about ${now + 300}`)
})

t.test('POST /login with a multipart form logs in too', async t => {
  const app = await build(t)
  const user = await createUser(app)
  const response = await app.inject({ method: 'POST', url: '/login', ...multipartBody({ username: user.email, password: user.password }) })
  t.equal(response.statusCode, 200)
  const body = response.json()
  t.equal(body.token_type, 'bearer')
  t.equal(decodeSegment(body.access_token, 1).user_id, user.id)
})

t.test('a wrong multipart password is a 403', async t => {
  const app = await build(t)
  const user = await createUser(app)
  const response = await app.inject({ method: 'POST', url: '/login', ...multipartBody({ username: user.email, password: 'wrong-password' }) })
  t.equal(response.statusCode, 403)
  t.same(response.json(), { detail: 'Invalid Credentials' })
})

t.test('a wrong password and an unknown email get the same 403', async t => {
  const app = await build(t)
  const user = await createUser(app)
  const wrongPassword = await postForm(app, { username: user.email, password: 'wrong-password' })
  const unknownEmail = await postForm(app, { username: uniqueEmail('nobody'), password: user.password })
  t.equal(wrongPassword.statusCode, 403)
  t.same(wrongPassword.json(), { detail: 'Invalid Credentials' })
  t.equal(unknownEmail.statusCode, 403)
  t.equal(unknownEmail.body, wrongPassword.body)
  t.equal(unknownEmail.headers['content-type'], wrongPassword.headers['content-type'])
})

t.test('a password past 72 bytes is refused even when its first 72 bytes are the password (bcrypt reads no more)', async t => {
  const app = await build(t)
  // 72 bytes exactly: the longest password registration takes, in multi-byte characters too.
  const password = 'é'.repeat(36)
  const user = await createUser(app, uniqueEmail(), password)
  t.equal(Buffer.byteLength(password), 72)
  for (const longer of [`${password}x`, `${password}${'x'.repeat(100)}`, `${password}é`]) {
    const response = await postForm(app, { username: user.email, password: longer })
    t.equal(response.statusCode, 403, `${Buffer.byteLength(longer)} bytes`)
    t.same(response.json(), { detail: 'Invalid Credentials' })
  }
  // A seeded hash of the first 72 bytes, as passlib would have made it, does not let the longer one in either.
  const email = uniqueEmail('seeded')
  await insertUser(app, email, await bcrypt.hash('p'.repeat(72), 4))
  t.equal((await postForm(app, { username: email, password: 'p'.repeat(80) })).statusCode, 403, 'seeded user, 80 bytes')
  t.equal((await postForm(app, { username: email, password: 'p'.repeat(72) })).statusCode, 200, 'seeded user, the 72 bytes')
  t.equal((await postForm(app, { username: user.email, password })).statusCode, 200, 'the password itself logs in')
})

t.test('a missing username or password is a 422 naming the missing field', async t => {
  const app = await build(t)
  const user = await createUser(app)
  const noUsername = await postForm(app, { password: user.password })
  t.equal(noUsername.statusCode, 422)
  t.same(problems(noUsername), [[['body', 'username'], 'missing']])
  const noPassword = await postForm(app, { username: user.email })
  t.equal(noPassword.statusCode, 422)
  t.same(problems(noPassword), [[['body', 'password'], 'missing']])
  const neither = await postForm(app, { grant_type: 'password' })
  t.equal(neither.statusCode, 422)
  t.same(problems(neither), [[['body', 'password'], 'missing'], [['body', 'username'], 'missing']])
  const empty = await postForm(app, {})
  t.equal(empty.statusCode, 422)
  t.same(problems(empty), [[['body', 'password'], 'missing'], [['body', 'username'], 'missing']])
})

t.test('a multipart form without a password is a 422', async t => {
  const app = await build(t)
  const user = await createUser(app)
  const response = await app.inject({ method: 'POST', url: '/login', ...multipartBody({ username: user.email }) })
  t.equal(response.statusCode, 422)
  t.same(problems(response), [[['body', 'password'], 'missing']])
})

t.test('a JSON body is not read as the form: 422 with both fields missing', async t => {
  const app = await build(t)
  const user = await createUser(app)
  const response = await app.inject({ method: 'POST', url: '/login', payload: { username: user.email, password: user.password } })
  t.equal(response.statusCode, 422)
  t.same(problems(response), [[['body', 'password'], 'missing'], [['body', 'username'], 'missing']])
})

t.test('Swagger UI\'s extra form fields and Basic header are ignored', async t => {
  const app = await build(t)
  const user = await createUser(app)
  const basic = `Basic ${Buffer.from('x:y').toString('base64')}`
  const response = await postForm(app, {
    grant_type: 'password',
    username: user.email,
    password: user.password,
    scope: '',
    client_id: 'x',
    client_secret: 'y'
  }, { authorization: basic })
  t.equal(response.statusCode, 200)
  t.equal(decodeSegment(response.json().access_token, 1).user_id, user.id)
})

t.test('the email logs in whatever its letter case', async t => {
  const app = await build(t)
  const user = await createUser(app, uniqueEmail('Mixed.Case'))
  for (const username of [user.email.toLowerCase(), user.email.toUpperCase()]) {
    const response = await postForm(app, { username, password: user.password })
    t.equal(response.statusCode, 200, username)
    t.equal(decodeSegment(response.json().access_token, 1).user_id, user.id, username)
  }
})

t.test('a user inserted by SQL with a passlib-style bcrypt hash logs in, $2b$ and $2a$ alike', async t => {
  const app = await build(t)
  const hash = await bcrypt.hash('secret-pass', 4)
  t.match(hash, /^\$2b\$/)
  const variants = { $2b$: hash, $2a$: `$2a${hash.slice(3)}` }
  for (const [prefix, stored] of Object.entries(variants)) {
    const email = uniqueEmail(`seeded-${prefix.slice(1, 3)}`)
    const id = await insertUser(app, email, stored)
    const good = await postForm(app, { username: email, password: 'secret-pass' })
    t.equal(good.statusCode, 200, prefix)
    t.equal(decodeSegment(good.json().access_token, 1).user_id, id, prefix)
    const bad = await postForm(app, { username: email, password: 'secret-pasS' })
    t.equal(bad.statusCode, 403, prefix)
    t.same(bad.json(), { detail: 'Invalid Credentials' }, prefix)
  }
})

t.test('the token from /login works on GET /users/me', async t => {
  const app = await build(t)
  const user = await createUser(app)
  const response = await postForm(app, { username: user.email, password: user.password })
  const me = await app.inject({ url: '/users/me', headers: { authorization: `Bearer ${response.json().access_token}` } })
  t.equal(me.statusCode, 200)
  t.same(me.json(), (await app.inject({ url: `/users/${user.id}` })).json())
  t.equal(me.json().email, user.email)
})
