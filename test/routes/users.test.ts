import bcrypt from 'bcrypt'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import t from 'tap'
import { build, createUser, login, sql, uniqueEmail } from '../helpers/app.js'

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/

const register = (app: FastifyInstance, payload: unknown, url = '/users') =>
  app.inject({ method: 'POST', url, payload: payload as Record<string, unknown> })

/** The `[loc, type]` of every entry of a 422's detail list, in a stable order. */
function problems (response: LightMyRequestResponse): [unknown[], string][] {
  const { detail } = response.json() as { detail: { loc: unknown[], msg: string, type: string }[] }
  return detail
    .map(({ loc, type }): [unknown[], string] => [loc, type])
    .sort(([a], [b]) => a.join('.').localeCompare(b.join('.')))
}

t.test('POST /users answers 201 with exactly id, email and created_at', async t => {
  const app = await build(t)
  const email = uniqueEmail()
  const before = Date.now()
  const response = await register(app, { email, password: 'password123' })
  t.equal(response.statusCode, 201)
  t.match(response.headers['content-type'], /^application\/json/)
  const body = response.json()
  t.same(Object.keys(body).sort(), ['created_at', 'email', 'id'])
  t.ok(Number.isInteger(body.id) && body.id > 0, 'id is a positive integer')
  t.equal(body.email, email)
  t.match(body.created_at, RFC3339)
  const createdAt = Date.parse(body.created_at)
  t.ok(Math.abs(createdAt - before) < 60_000, 'created_at is about now')
  t.notMatch(response.body, /password|\$2[ab]\$/)
})

t.test('POST /users/ with a trailing slash registers too', async t => {
  const app = await build(t)
  const email = uniqueEmail()
  const response = await register(app, { email, password: 'password123' }, '/users/')
  t.equal(response.statusCode, 201)
  t.equal(response.json().email, email)
  const rows = await sql(app, 'select count(*)::int as n from users where email = ?', [email])
  t.same(rows, [{ n: 1 }])
})

t.test('the stored password is a bcrypt hash of the password, not the password', async t => {
  const app = await build(t)
  const user = await createUser(app, uniqueEmail(), 'plain-text-secret')
  const [row] = await sql<{ password: string }>(app, 'select password from users where id = ?', [user.id])
  t.not(row?.password, 'plain-text-secret')
  t.match(row?.password, /^\$2b\$04\$[./A-Za-z0-9]{53}$/)
  t.equal(await bcrypt.compare('plain-text-secret', row!.password), true)
})

t.test('registering a taken email is a 409 with a detail', async t => {
  const app = await build(t)
  const email = uniqueEmail()
  t.equal((await register(app, { email, password: 'password123' })).statusCode, 201)
  const response = await register(app, { email, password: 'another-password' })
  t.equal(response.statusCode, 409)
  const body = response.json()
  t.same(Object.keys(body), ['detail'])
  t.match(body.detail, /already registered/i)
  const rows = await sql(app, 'select count(*)::int as n from users where email = ?', [email])
  t.same(rows, [{ n: 1 }])
})

t.test('an email differing only in letter case is the same email: 409', async t => {
  const app = await build(t)
  const email = uniqueEmail('Ada.Lovelace')
  t.equal((await register(app, { email, password: 'password123' })).statusCode, 201)
  for (const variant of [email.toLowerCase(), email.toUpperCase()]) {
    const response = await register(app, { email: variant, password: 'password123' })
    t.equal(response.statusCode, 409, variant)
    t.match(response.json(), { detail: /already registered/i })
  }
  const rows = await sql(app, 'select count(*)::int as n from users where lower(email) = lower(?)', [email])
  t.same(rows, [{ n: 1 }])
})

t.test('an invalid email is a 422 at body.email', async t => {
  const app = await build(t)
  for (const email of ['not-an-email', 'ada@', '@example.com', 'ada lovelace@example.com', '']) {
    const response = await register(app, { email, password: 'password123' })
    t.equal(response.statusCode, 422, JSON.stringify(email))
    t.same(problems(response), [[['body', 'email'], 'value_error']], JSON.stringify(email))
  }
  const rows = await sql(app, 'select count(*)::int as n from users')
  t.same(rows, [{ n: 0 }])
})

t.test('a password shorter than 8 characters is a 422; 8 is enough', async t => {
  const app = await build(t)
  const short = await register(app, { email: uniqueEmail(), password: '1234567' })
  t.equal(short.statusCode, 422)
  t.same(problems(short), [[['body', 'password'], 'string_too_short']])
  t.match(short.json(), { detail: [{ msg: String }] })
  const enough = await register(app, { email: uniqueEmail(), password: '12345678' })
  t.equal(enough.statusCode, 201)
})

t.test('a password over 72 bytes is a 422 even when it is 72 characters or fewer', async t => {
  const app = await build(t)
  const tooLong = {
    'é × 40 (80 bytes)': 'é'.repeat(40),
    'emoji × 19 (76 bytes)': '😀'.repeat(19),
    'a × 71 + é (73 bytes)': `${'a'.repeat(71)}é`
  }
  for (const [name, password] of Object.entries(tooLong)) {
    const response = await register(app, { email: uniqueEmail(), password })
    t.equal(response.statusCode, 422, name)
    t.same(problems(response), [[['body', 'password'], 'string_too_long']], name)
  }
  const rows = await sql(app, 'select count(*)::int as n from users')
  t.same(rows, [{ n: 0 }])
})

t.test('a 73-character password is a 422 with one entry for its one problem', async t => {
  const app = await build(t)
  const response = await register(app, { email: uniqueEmail(), password: 'a'.repeat(73) })
  t.equal(response.statusCode, 422)
  t.same(problems(response), [[['body', 'password'], 'string_too_long']])
})

t.test('a password of exactly 72 bytes is accepted and logs in', async t => {
  const app = await build(t)
  for (const password of ['a'.repeat(72), 'é'.repeat(36), `${'😀'.repeat(17)}abcd`]) {
    t.equal(Buffer.byteLength(password), 72)
    const email = uniqueEmail()
    const response = await register(app, { email, password })
    t.equal(response.statusCode, 201, password)
    t.ok(await login(app, email, password), 'logs in')
  }
})

t.test('missing fields are a 422 naming each one as missing', async t => {
  const app = await build(t)
  const cases: [unknown, [unknown[], string][]][] = [
    [{}, [[['body', 'email'], 'missing'], [['body', 'password'], 'missing']]],
    [{ email: uniqueEmail() }, [[['body', 'password'], 'missing']]],
    [{ password: 'password123' }, [[['body', 'email'], 'missing']]]
  ]
  for (const [payload, expected] of cases) {
    const response = await register(app, payload)
    t.equal(response.statusCode, 422, JSON.stringify(payload))
    t.same(problems(response), expected, JSON.stringify(payload))
  }
})

t.test('fields of the wrong JSON type are a 422, not coerced', async t => {
  const app = await build(t)
  const email = await register(app, { email: 123, password: 'password123' })
  t.equal(email.statusCode, 422)
  t.same(problems(email), [[['body', 'email'], 'string_type']])
  const password = await register(app, { email: uniqueEmail(), password: 12345678 })
  t.equal(password.statusCode, 422)
  t.same(problems(password), [[['body', 'password'], 'string_type']])
  const rows = await sql(app, 'select count(*)::int as n from users')
  t.same(rows, [{ n: 0 }])
})

t.test('a body that is not a JSON object is a 422', async t => {
  const app = await build(t)
  for (const payload of ['{"email": ', '[]', '"text"']) {
    const response = await app.inject({ method: 'POST', url: '/users', payload, headers: { 'content-type': 'application/json' } })
    t.equal(response.statusCode, 422, payload)
    t.match(response.json(), { detail: [{ loc: ['body'], msg: String, type: String }] }, payload)
  }
})

t.test('GET /users/:id answers the user as registered', async t => {
  const app = await build(t)
  const created = (await register(app, { email: uniqueEmail(), password: 'password123' })).json()
  for (const url of [`/users/${created.id}`, `/users/${created.id}/`]) {
    const response = await app.inject({ url })
    t.equal(response.statusCode, 200, url)
    t.same(response.json(), created, url)
  }
})

t.test('GET /users/:id is a 404 for an id no user has', async t => {
  const app = await build(t)
  const user = await createUser(app)
  const missing = user.id + 1000
  const response = await app.inject({ url: `/users/${missing}` })
  t.equal(response.statusCode, 404)
  t.same(response.json(), { detail: `User with id: ${missing} does not exist` })
})

t.test('GET /users/:id is a 404 for ids no column can hold', async t => {
  const app = await build(t)
  const query = app.pg.query
  let queries = 0
  app.pg.query = ((...args: Parameters<typeof query>) => { queries++; return query(...args) }) as typeof query
  for (const id of ['0', '-1', '2147483648', '99999999999']) {
    const response = await app.inject({ url: `/users/${id}` })
    t.equal(response.statusCode, 404, id)
    t.same(response.json(), { detail: `User with id: ${id} does not exist` }, id)
  }
  const huge = await app.inject({ url: `/users/${'9'.repeat(40)}` })
  t.equal(huge.statusCode, 404)
  t.match(huge.json(), { detail: /^User with id: .+ does not exist$/ })
  t.equal(queries, 0, 'no round trip to the database: the answer does not depend on it')
})

t.test('GET /users/:id is a 422 at path.id for an id that is not an integer', async t => {
  const app = await build(t)
  for (const id of ['abc', '1.5', '1abc']) {
    const response = await app.inject({ url: `/users/${id}` })
    t.equal(response.statusCode, 422, id)
    t.same(problems(response), [[['path', 'id'], 'int_parsing']], id)
  }
})

t.test('GET /users/me answers the token\'s user', async t => {
  const app = await build(t)
  const first = await createUser(app)
  const second = await createUser(app)
  for (const user of [first, second]) {
    const response = await app.inject({ url: '/users/me', headers: user.headers })
    t.equal(response.statusCode, 200)
    const body = response.json()
    t.same(Object.keys(body).sort(), ['created_at', 'email', 'id'])
    t.equal(body.id, user.id)
    t.equal(body.email, user.email)
    t.match(body.created_at, RFC3339)
  }
  const slash = await app.inject({ url: '/users/me/', headers: second.headers })
  t.equal(slash.statusCode, 200)
  t.equal(slash.json().id, second.id)
})

t.test('GET /users/me without a token is a 401', async t => {
  const app = await build(t)
  await createUser(app)
  const response = await app.inject({ url: '/users/me' })
  t.equal(response.statusCode, 401)
  t.same(response.json(), { detail: 'Not authenticated' })
  t.equal(response.headers['www-authenticate'], 'Bearer')
})
