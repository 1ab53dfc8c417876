import { randomBytes } from 'node:crypto'
import t from 'tap'
import { build, createPost, createUser, sql, uniqueEmail } from '../helpers/app.js'
import { captureLog } from '../helpers/log.js'

interface DetailEntry {
  loc: (string | number)[]
  msg: string
  type: string
}

const jsonHeaders = { 'content-type': 'application/json' }

t.test('a path that exists answers another method with 405 and its methods in Allow, as FastAPI does; one that does not, 404', async t => {
  const app = await build(t)
  for (const [method, url, allow] of [
    ['DELETE', '/users', 'OPTIONS, POST'],
    ['PUT', '/vote', 'OPTIONS, POST'],
    ['PATCH', '/', 'GET, HEAD, OPTIONS'],
    ['POST', '/posts/12?x=1', 'DELETE, GET, HEAD, OPTIONS, PATCH, PUT']
  ] as const) {
    const answer = await app.inject({ method, url })
    t.equal(answer.statusCode, 405, `${method} ${url}`)
    t.strictSame(answer.json(), { detail: 'Method Not Allowed' })
    t.equal(answer.headers.allow, allow)
  }
  for (const [method, url] of [['GET', '/nowhere'], ['DELETE', '/posts/12/votes'], ['GET', '/posts/']] as const) {
    const answer = await app.inject({ method, url })
    t.equal(answer.statusCode, method === 'GET' && url === '/posts/' ? 401 : 404, `${method} ${url}`)
  }
})

t.test('malformed JSON is a 422 with a json_invalid entry located in the body', async t => {
  const app = await build(t)
  const response = await app.inject({ method: 'POST', url: '/users', headers: jsonHeaders, payload: '{"email": "a@example.com", ' })
  t.equal(response.statusCode, 422)
  t.match(response.headers['content-type'], /^application\/json/)
  const { detail } = response.json() as { detail: DetailEntry[] }
  t.ok(Array.isArray(detail) && detail.length > 0)
  for (const entry of detail) {
    t.equal(entry.loc[0], 'body')
    t.equal(entry.type, 'json_invalid')
    t.type(entry.msg, 'string')
  }
})

t.test('an empty JSON body is a 422 located in the body', async t => {
  const app = await build(t)
  const response = await app.inject({ method: 'POST', url: '/users', headers: jsonHeaders, payload: '' })
  t.equal(response.statusCode, 422)
  const { detail } = response.json() as { detail: DetailEntry[] }
  t.ok(Array.isArray(detail) && detail.length > 0)
  for (const entry of detail) t.equal(entry.loc[0], 'body')
})

t.test('a body over the default 1 MiB limit is a 413 with a detail message', async t => {
  const app = await build(t)
  const payload = JSON.stringify({ email: uniqueEmail(), password: 'x'.repeat(1_100_000) })
  const response = await app.inject({ method: 'POST', url: '/users', headers: jsonHeaders, payload })
  t.equal(response.statusCode, 413)
  t.strictSame(Object.keys(response.json()), ['detail'])
  t.match(response.json().detail, /\S/)
})

t.test('BODY_LIMIT sets the largest body accepted', async t => {
  const app = await build(t, { config: { BODY_LIMIT: '2048' } })
  const payload = JSON.stringify({ email: uniqueEmail(), password: 'x'.repeat(3000) })
  const response = await app.inject({ method: 'POST', url: '/users', headers: jsonHeaders, payload })
  t.equal(response.statusCode, 413)
  t.type(response.json().detail, 'string')
})

t.test('an unsupported content type is a 415 with a detail message', async t => {
  const app = await build(t)
  const response = await app.inject({ method: 'POST', url: '/users', headers: { 'content-type': 'application/xml' }, payload: '<user><email>a@example.com</email></user>' })
  t.equal(response.statusCode, 415)
  t.strictSame(Object.keys(response.json()), ['detail'])
  t.match(response.json().detail, /\S/)
})

t.test('a body sent without a Content-Type is read as JSON, as FastAPI reads it', async t => {
  const app = await build(t)
  // Raw bytes: nothing adds a content type.
  const send = (method: 'POST' | 'PUT' | 'PATCH', url: string, body: unknown, headers: Record<string, string> = {}) =>
    app.inject({ method, url, headers, payload: Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)) })
  const email = uniqueEmail()
  const registered = await send('POST', '/users', { email, password: 'password123' })
  t.equal(registered.headers['content-type'], 'application/json; charset=utf-8')
  t.equal(registered.statusCode, 201, `POST /users: ${registered.body}`)
  t.equal(registered.json().email, email)

  const user = await createUser(app)
  const created = await send('POST', '/posts', { title: 'untyped', content: 'body' }, user.headers)
  t.equal(created.statusCode, 201, `POST /posts: ${created.body}`)
  const id = created.json().id
  t.equal((await send('PUT', `/posts/${id}`, { title: 'put', content: 'c' }, user.headers)).statusCode, 200, 'PUT')
  const patched = await send('PATCH', `/posts/${id}`, { published: false }, user.headers)
  t.equal(patched.statusCode, 200, 'PATCH')
  t.equal(patched.json().published, false)
  t.equal((await send('POST', '/vote', { post_id: id, dir: 1 }, user.headers)).statusCode, 201, 'POST /vote')
  // An empty Content-Type is no content type, as FastAPI reads it.
  t.equal((await send('POST', '/vote', { post_id: id, dir: 0 }, { ...user.headers, 'content-type': '' })).statusCode, 201, 'POST /vote with an empty Content-Type')

  const malformed = await send('POST', '/posts', '{"title": ', user.headers)
  t.equal(malformed.statusCode, 422)
  t.strictSame(malformed.json(), { detail: [{ loc: ['body'], msg: 'JSON decode error', type: 'json_invalid' }] })
  // The login form is a form: without a content type its fields are missing, as in FastAPI.
  const login = await send('POST', '/login', `username=${encodeURIComponent(user.email)}&password=${user.password}`)
  t.equal(login.statusCode, 422)
  t.strictSame(login.json().detail.map((entry: DetailEntry) => entry.loc), [['body', 'username'], ['body', 'password']])
  // A declared type that is not JSON stays a 415.
  t.equal((await send('POST', '/posts', { title: 'x', content: 'y' }, { ...user.headers, 'content-type': 'text/csv' })).statusCode, 415)
  // A JSON-based one is JSON, as in FastAPI.
  const merged = await send('PATCH', `/posts/${id}`, { title: 'merge-patched' }, { ...user.headers, 'content-type': 'application/merge-patch+json' })
  t.equal(merged.statusCode, 200, 'application/merge-patch+json')
  t.equal(merged.json().title, 'merge-patched')
  t.equal((await send('POST', '/posts', { title: 'x', content: 'y' }, { ...user.headers, 'content-type': 'application/vnd.api+json; charset=utf-8' })).statusCode, 201, 'application/vnd.api+json')
  t.equal((await send('POST', '/posts', '{"title": ', { ...user.headers, 'content-type': 'application/problem+json' })).statusCode, 422, 'and malformed, a 422')
})

t.test('validation reports every problem in the body, one entry each', async t => {
  const app = await build(t)
  const response = await app.inject({ method: 'POST', url: '/users', payload: {} })
  t.equal(response.statusCode, 422)
  const { detail } = response.json() as { detail: DetailEntry[] }
  t.equal(detail.length, 2)
  t.strictSame(detail.map(entry => entry.loc).sort(), [['body', 'email'], ['body', 'password']])
  for (const entry of detail) {
    t.equal(entry.type, 'missing')
    t.match(entry.msg, /\S/)
  }
})

t.test('query-string problems are located as [query, name]', async t => {
  const app = await build(t)
  const user = await createUser(app)
  const response = await app.inject({ url: '/posts?limit=abc&skip=-1', headers: user.headers })
  t.equal(response.statusCode, 422)
  const { detail } = response.json() as { detail: DetailEntry[] }
  t.strictSame(detail.map(entry => entry.loc).sort(), [['query', 'limit'], ['query', 'skip']])
})

t.test('a server fault is a bare 500, logged at error level with the request id', async t => {
  const { lines, stream } = captureLog()
  const app = await build(t, { logger: { level: 'error', stream } })
  const user = await createUser(app)
  await createPost(app, user)
  await sql(app, 'drop table vote_counts cascade')
  const requestId = `fault-${randomBytes(6).toString('hex')}`

  const response = await app.inject({ url: '/posts', headers: { ...user.headers, 'x-request-id': requestId } })

  t.equal(response.statusCode, 500)
  t.strictSame(response.json(), { detail: 'Internal Server Error' })
  t.equal(response.body, '{"detail":"Internal Server Error"}')
  t.notMatch(response.body, /votes|relation|select|Exception|stack/i)
  const logged = lines.filter(line => Number(line.level) >= 50 && line.reqId === requestId)
  t.ok(logged.length > 0, 'an error line carries the request id')
  t.ok(logged.some(line => line.err !== undefined), 'the error itself is logged')
  t.ok(logged.some(line => (line.err as { code?: string } | undefined)?.code === '42P01'), 'the database\'s error code is logged')
  t.notMatch(JSON.stringify(logged), /select /i, 'the SQL and its values stay out of the log')
})

t.test('registering an email twice is a 409, in any letter case', async t => {
  const app = await build(t)
  const email = uniqueEmail()
  const first = await app.inject({ method: 'POST', url: '/users', payload: { email, password: 'password123' } })
  t.equal(first.statusCode, 201)
  for (const again of [email, email.toUpperCase()]) {
    const response = await app.inject({ method: 'POST', url: '/users', payload: { email: again, password: 'password123' } })
    t.equal(response.statusCode, 409, again)
    t.strictSame(Object.keys(response.json()), ['detail'])
    t.match(response.json().detail, /\S/)
  }
})

t.test('ids too large for the column are not found, never a 5xx', async t => {
  const app = await build(t)
  const user = await createUser(app)
  const requests = [
    { method: 'GET' as const, url: '/posts/99999999999999999999' },
    { method: 'GET' as const, url: '/users/2147483648' },
    { method: 'POST' as const, url: '/vote', payload: { post_id: 2 ** 53, dir: 1 } }
  ]
  for (const request of requests) {
    const response = await app.inject({ ...request, headers: user.headers })
    t.equal(response.statusCode, 404, `${request.method} ${request.url}`)
    t.type(response.json().detail, 'string')
  }
})

t.test('a route that needs a body and gets none is a 422 "missing" for body', async t => {
  const app = await build(t)
  const user = await createUser(app)
  const response = await app.inject({ method: 'POST', url: '/posts', headers: user.headers })
  t.equal(response.statusCode, 422)
  t.same(response.json(), { detail: [{ loc: ['body'], msg: 'Field required', type: 'missing' }] })
})

t.test('an empty JSON body on a route without one is no body at all', async t => {
  const app = await build(t)
  const user = await createUser(app)
  const post = await createPost(app, user)
  const response = await app.inject({ method: 'DELETE', url: `/posts/${post.id}`, headers: { ...user.headers, 'content-type': 'application/json' } })
  t.equal(response.statusCode, 204)
  t.same(await sql(app, 'select id from posts where id = ?', [post.id]), [])
})

t.test('a login with no form lists username and password as missing', async t => {
  const app = await build(t)
  const response = await app.inject({ method: 'POST', url: '/login' })
  t.equal(response.statusCode, 422)
  t.same(response.json().detail.map((entry: { loc: string[], type: string }) => [entry.loc, entry.type]), [[['body', 'username'], 'missing'], [['body', 'password'], 'missing']])
})

t.test('DATABASE_POOL_TIMEOUT: a request that waits that long for a connection is a 503; one freed sooner is served', async t => {
  const app = await build(t, { config: { DATABASE_POOL_SIZE: '1', DATABASE_POOL_TIMEOUT: '300' } })
  const held = await app.pg.connect()
  const started = performance.now()
  const refused = await app.inject({ url: '/users/999999' })
  const waited = performance.now() - started
  t.equal(refused.statusCode, 503, 'every connection busy past the timeout: 503')
  t.ok(waited >= 250 && waited < 1_200, `after about 300 ms (${Math.round(waited)} ms)`)

  const served = app.inject({ url: '/users/999999' })
  setTimeout(() => held.release(), 100)
  t.equal((await served).statusCode, 404, 'the connection freed within the timeout serves the request')
})
