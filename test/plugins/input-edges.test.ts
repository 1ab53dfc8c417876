import { createHmac } from 'node:crypto'
import t from 'tap'
import { loadConfig } from '../../lib/config.js'
import { TEST_SECRET, build, createUser, sql } from '../helpers/app.js'

const sign = (payload: object) => {
  const encode = (part: object) => Buffer.from(JSON.stringify(part)).toString('base64url')
  const unsigned = `${encode({ alg: 'HS256', typ: 'JWT' })}.${encode(payload)}`
  return `${unsigned}.${createHmac('sha256', TEST_SECRET).update(unsigned).digest('base64url')}`
}

t.test('text with a NUL, which PostgreSQL cannot store, is a 422, never a 5xx', async t => {
  const app = await build(t)
  const user = await createUser(app)
  const created = await app.inject({ method: 'POST', url: '/posts', headers: user.headers, payload: { title: 'a\u0000b', content: 'c' } })
  t.equal(created.statusCode, 422)
  t.same(created.json().detail, [{ loc: ['body', 'title'], msg: 'String should not contain the NUL character', type: 'string_pattern_mismatch' }])
  t.same(await sql(app, 'select count(*)::int as n from posts'), [{ n: 0 }])

  const search = await app.inject({ url: '/posts?search=%00', headers: user.headers })
  t.equal(search.statusCode, 422)

  const login = await app.inject({ method: 'POST', url: '/login', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: 'username=a%00@x.com&password=x' })
  t.equal(login.statusCode, 422)
})

t.test('a multipart login the parser cannot read is a 400', async t => {
  const app = await build(t)
  for (const contentType of ['multipart/form-data', 'multipart/form-data; boundary=x']) {
    const response = await app.inject({ method: 'POST', url: '/login', headers: { 'content-type': contentType }, payload: 'garbage' })
    t.equal(response.statusCode, 400, contentType)
    t.same(response.json(), { detail: 'The form body could not be read' })
  }
})

t.test('a multipart login with a file part in it still logs in', async t => {
  const app = await build(t)
  const user = await createUser(app)
  const boundary = 'postline-boundary'
  const part = (name: string, value: string, file = '') =>
    `--${boundary}\r\nContent-Disposition: form-data; name="${name}"${file && `; filename="${file}"`}\r\n\r\n${value}\r\n`
  const payload = part('username', user.email) + part('avatar', 'not a picture', 'a.png') + part('password', user.password) + `--${boundary}--\r\n`
  const response = await app.inject({ method: 'POST', url: '/login', headers: { 'content-type': `multipart/form-data; boundary=${boundary}` }, payload })
  t.equal(response.statusCode, 200)
  t.equal(response.json().token_type, 'bearer')
})

t.test('a token without an expiry is refused', async t => {
  const app = await build(t)
  const user = await createUser(app)
  t.equal((await app.inject({ url: '/users/me', headers: { authorization: `Bearer ${sign({ user_id: user.id, exp: Math.floor(Date.now() / 1000) + 60 })}` } })).statusCode, 200)
  const response = await app.inject({ url: '/users/me', headers: { authorization: `Bearer ${sign({ user_id: user.id })}` } })
  t.equal(response.statusCode, 401)
  t.same(response.json(), { detail: 'Could not validate credentials' })
})

t.test('__proto__ and constructor keys are ignored like any unknown field', async t => {
  const app = await build(t)
  const user = await createUser(app)
  const response = await app.inject({ method: 'POST', url: '/posts', headers: { ...user.headers, 'content-type': 'application/json' }, payload: '{"title":"t","content":"c","__proto__":{"admin":true},"constructor":{"prototype":{}}}' })
  t.equal(response.statusCode, 201)
  t.equal(response.json().title, 't')
})

t.test('a skip far past the data is an empty page, not an error', async t => {
  const app = await build(t)
  const user = await createUser(app)
  const response = await app.inject({ url: '/posts?skip=99999999999', headers: user.headers })
  t.equal(response.statusCode, 200)
  t.same(response.json(), [])
})

t.test('a TRUST_PROXY that is not an address, range or count is refused at start-up', async t => {
  for (const value of ['yes', '10.0.0.0/33', '1.2.3.4/x']) {
    t.throws(() => loadConfig({ TRUST_PROXY: value }), { name: 'ConfigError', message: /TRUST_PROXY/ }, value)
  }
  t.same(loadConfig({ TRUST_PROXY: '10.0.0.0/8, loopback' }).TRUST_PROXY, '10.0.0.0/8, loopback')
})
