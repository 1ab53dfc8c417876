import type { FastifyInstance, InjectOptions } from 'fastify'
import { setImmediate } from 'node:timers/promises'
import { createHash } from 'node:crypto'
import t from 'tap'
import { loggerOptions } from '../../process/server-options.js'
import { loadConfig } from '../../lib/config.js'
import { TEST_SECRET, build, createEmptyDatabase, sql, uniqueEmail } from '../helpers/app.js'

interface LogLine {
  level: number
  msg?: string
  reqId?: string
  method?: string
  url?: string
  statusCode?: number
  [key: string]: unknown
}

/** The app with the server's own logger options at `trace`, writing into `lines`. */
async function buildLogged (t: Parameters<typeof build>[0]) {
  const lines: string[] = []
  const config = loadConfig({ SECRET_KEY: TEST_SECRET, LOG_LEVEL: 'trace' })
  const options = loggerOptions(config, false) as Record<string, unknown>
  // An empty database: the migrations' own log lines are read for secrets too.
  const app = await build(t, { databaseUrl: await createEmptyDatabase(t), config: { LOG_LEVEL: 'trace', MAX_EVENT_LOOP_DELAY: '0' }, logger: { ...options, level: 'trace', stream: { write: (line: string) => { lines.push(line) } } } })
  return { app, lines }
}

const parse = (lines: string[]): LogLine[] => lines.map(line => JSON.parse(line))

const form = (fields: Record<string, string>) =>
  ({ headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: new URLSearchParams(fields).toString() })

/** Sends each request in turn and records what a request log line should say about it. */
async function sendAll (app: FastifyInstance, requests: (InjectOptions & { method: string, url: string })[]) {
  const sent: { method: string, url: string, statusCode: number }[] = []
  for (const request of requests) {
    const response = await app.inject(request)
    sent.push({ method: request.method, url: request.url, statusCode: response.statusCode })
  }
  // Request lines are written when the response has finished: let the last one land.
  await setImmediate()
  return sent
}

t.test('passwords, tokens and hashes never reach the log; each request has one completion line', async t => {
  const { app, lines } = await buildLogged(t)
  const email = uniqueEmail('logged')
  const password = 'log-secret-password-4f1c'
  const shortPassword = 'sh0rt!'
  const wrongPassword = 'wrong-secret-password-9d2e'
  const badToken = 'not-a-real-token.secret-looking.e7a1'

  const registered = await app.inject({ method: 'POST', url: '/users', payload: { email, password } })
  t.equal(registered.statusCode, 201)
  const loggedIn = await app.inject({ method: 'POST', url: '/login', ...form({ username: email, password }) })
  t.equal(loggedIn.statusCode, 200)
  const token: string = loggedIn.json().access_token
  const authorization = `Bearer ${token}`
  const headers = { authorization }

  const sent = [
    { method: 'POST', url: '/users', statusCode: 201 },
    { method: 'POST', url: '/login', statusCode: 200 },
    ...await sendAll(app, [
      { method: 'POST', url: '/users', payload: { email, password } },
      { method: 'POST', url: '/users', payload: { email: uniqueEmail('short'), password: shortPassword } },
      { method: 'POST', url: '/login', ...form({ username: email, password: wrongPassword }) },
      { method: 'POST', url: '/login', payload: { username: email, password } },
      { method: 'POST', url: '/login', ...form({ username: email, password, grant_type: 'password', client_secret: password }) },
      { method: 'GET', url: '/users/me', headers },
      { method: 'POST', url: '/posts', headers, payload: { title: 'Logged', content: 'Post' } },
      { method: 'GET', url: '/posts?limit=5&search=Log', headers },
      { method: 'POST', url: '/vote', headers, payload: { post_id: 1, dir: 1 } },
      { method: 'POST', url: '/posts', headers, payload: { title: '' } },
      { method: 'GET', url: '/users/me', headers: { authorization: `Bearer ${badToken}` } },
      { method: 'GET', url: '/users/me', headers: { authorization: `Basic ${Buffer.from(`${email}:${password}`).toString('base64')}` } },
      { method: 'GET', url: '/posts' }
    ])
  ]
  t.strictSame(sent.map(({ statusCode }) => statusCode), [201, 200, 409, 422, 403, 422, 200, 200, 201, 200, 201, 422, 401, 401, 401], 'the requests took the paths meant')

  const hash = (await sql<{ password: string }>(app, 'select password from users where email = ?', [email]))[0]?.password ?? ''
  t.match(hash, /^\$2[aby]\$/, 'the stored hash is a bcrypt hash to look for')

  const text = lines.join('')
  t.ok(lines.length > sent.length, `${lines.length} log lines captured`)
  for (const [name, secret] of Object.entries({ password, shortPassword, wrongPassword, token, authorization, badToken, hash, 'basic credentials': Buffer.from(`${email}:${password}`).toString('base64') })) {
    t.notOk(text.includes(secret), `the log does not contain the ${name}`)
  }
  t.notMatch(text, /\$2[aby]\$\d\d\$/, 'no bcrypt hash at all')

  const completed = parse(lines).filter(line => line.msg === 'request completed')
  t.strictSame(completed.map(({ method, url, statusCode }) => ({ method, url, statusCode })), sent, 'one "request completed" line per request, in order')
  t.equal(new Set(completed.map(line => line.reqId)).size, sent.length, 'each with its own request id')
  for (const line of completed) {
    t.match(line, { ip: '127.0.0.1', route: /^\//, responseTime: Number }, `${line.method} ${line.url}: client ip, route and time`)
  }
})

t.test('refresh tokens, their hashes and passwords of the session routes never reach the log', async t => {
  const { app, lines } = await buildLogged(t)
  const email = uniqueEmail('sessions')
  const password = 'session-secret-password-7b3d'
  const newPassword = 'session-new-password-2c8e'
  t.equal((await app.inject({ method: 'POST', url: '/users', payload: { email, password } })).statusCode, 201)
  const granted = await app.inject({ method: 'POST', url: '/auth/token', ...form({ grant_type: 'password', username: email, password }) })
  t.equal(granted.statusCode, 200)
  const first: string = granted.json().refresh_token
  const refreshed = await app.inject({ method: 'POST', url: '/auth/token', ...form({ grant_type: 'refresh_token', refresh_token: first }) })
  t.equal(refreshed.statusCode, 200)
  const { access_token: token, refresh_token: second } = refreshed.json() as { access_token: string, refresh_token: string }
  const headers = { authorization: `Bearer ${token}` }
  const statuses = [
    (await app.inject({ method: 'POST', url: '/auth/token', ...form({ grant_type: 'refresh_token', refresh_token: first }) })).statusCode,
    (await app.inject({ method: 'POST', url: '/auth/token', ...form({ grant_type: 'password', username: email, password: `${password}-wrong` }) })).statusCode,
    (await app.inject({ method: 'PUT', url: '/users/me/password', headers, payload: { current_password: `${password}-wrong`, new_password: newPassword } })).statusCode,
    (await app.inject({ method: 'PUT', url: '/users/me/password', headers, payload: { current_password: password, new_password: newPassword } })).statusCode,
    (await app.inject({ method: 'GET', url: '/auth/sessions', headers })).statusCode,
    (await app.inject({ method: 'DELETE', url: '/users/me', headers, payload: { password: newPassword } })).statusCode,
    // Secrets put in the URL by mistake: refused (the form is empty), and not logged either.
    (await app.inject({ method: 'POST', url: `/auth/token?grant_type=password&username=${encodeURIComponent(email)}&password=${newPassword}&refresh_token=${second}`, ...form({}) })).statusCode
  ]
  t.strictSame(statuses, [400, 400, 403, 204, 200, 204, 400], 'the requests took the paths meant')
  await setImmediate()

  const text = lines.join('')
  const sha256 = (value: string) => createHash('sha256').update(value).digest()
  for (const [name, secret] of Object.entries({
    password,
    newPassword,
    'first refresh token': first,
    'second refresh token': second,
    'first refresh token\'s hash (hex)': sha256(first).toString('hex'),
    'first refresh token\'s hash (base64)': sha256(first).toString('base64'),
    'second refresh token\'s hash (hex)': sha256(second).toString('hex'),
    'access token': token
  })) {
    t.notOk(text.includes(secret), `the log does not contain the ${name}`)
  }
  t.notMatch(text, /\$2[aby]\$\d\d\$/, 'no bcrypt hash at all')
  const logged = parse(lines).filter(line => line.msg === 'request completed' && line.url?.startsWith('/auth/token?'))
  t.match(logged[0]?.url, /password=\[redacted\]&refresh_token=\[redacted\]$/, 'the URL is logged with those values redacted')
})

t.test('JSON lines unless a person reads them at a terminal in development', async t => {
  const config = (env: Record<string, string>) => loadConfig({ SECRET_KEY: TEST_SECRET, ...env })
  const transport = (options: unknown) => (options as { transport?: { target?: string } }).transport?.target
  t.equal(transport(loggerOptions(config({}), true)), 'pino-pretty', 'pretty on a terminal')
  t.equal(transport(loggerOptions(config({}), false)), undefined, 'JSON into a pipe or a file')
  t.equal(transport(loggerOptions(config({ NODE_ENV: 'production', SECRET_KEY: 'p'.repeat(32) }), true)), undefined, 'JSON in production, even on a terminal')
})

t.test('LOG_LEVEL is respected: at warn, requests write no lines', async t => {
  const lines: string[] = []
  const options = loggerOptions(loadConfig({ SECRET_KEY: TEST_SECRET, LOG_LEVEL: 'warn' }), false) as Record<string, unknown>
  const app = await build(t, { logger: { ...options, stream: { write: (line: string) => { lines.push(line) } } } })
  t.equal((await app.inject({ url: '/' })).statusCode, 200)
  t.equal((await app.inject({ url: '/users/0' })).statusCode, 404)
  await setImmediate()
  t.same(parse(lines).filter(line => line.level < 40), [], 'nothing below warn')
  t.equal(parse(lines).filter(line => line.msg === 'request completed').length, 0, 'no request lines')
})

t.test('the redaction paths censor authorization headers, passwords and user rows', async t => {
  const { app, lines } = await buildLogged(t)
  const hash = '$2b$04$abcdefghijklmnopqrstuuPr0beHashValueThatMustNeverBeSeen'
  app.log.info({ req: { headers: { authorization: 'Bearer probe-header-1' } }, password: 'probe-password-1' }, 'probe request')
  app.log.info({ headers: { authorization: 'Bearer probe-header-2' }, body: { password: 'probe-password-2' } }, 'probe headers')
  app.log.info({ req: { body: { password: 'probe-password-3' } }, user: { id: 1, email: 'a@example.com', password: hash } }, 'probe user')

  const text = lines.join('')
  for (const secret of ['probe-header-1', 'probe-header-2', 'probe-password-1', 'probe-password-2', 'probe-password-3', hash]) {
    t.notOk(text.includes(secret), `${secret} is not in the log`)
  }
  const probe = (msg: string) => parse(lines).find(line => line.msg === msg)
  t.equal(probe('probe request')?.password, '[redacted]')
  t.match(probe('probe headers'), { headers: { authorization: '[redacted]' }, body: { password: '[redacted]' } })
  t.match(probe('probe user'), { user: { id: 1, email: 'a@example.com', password: '[redacted]' } })
  t.ok(lines.some(line => line.includes('[redacted]')), 'a line says what was censored')
})
