import { readFileSync } from 'node:fs'
import { request, type IncomingHttpHeaders } from 'node:http'
import { gunzipSync } from 'node:zlib'
import t, { type Test } from 'tap'
import { createTestDatabase, uniqueEmail } from '../helpers/app.js'
import { startNginx, nginxMissing, type Nginx } from '../helpers/nginx.js'
import { freePort, startServer, until, type ServerProcess } from '../helpers/server-process.js'

// Postline behind Debian's nginx, configured by deploy/nginx (see test/helpers/nginx.ts).

interface Proxied extends Nginx {
  server: ServerProcess
}

/** A Postline process with `env`, and nginx in front of it. */
async function behindNginx (t: Test, env: Record<string, string>): Promise<Proxied> {
  const server = await startServer(t, env)
  return { server, ...await startNginx(t, [new URL(server.url).host]) }
}

interface Answer {
  status: number
  headers: IncomingHttpHeaders
  /** As it came, not decompressed. */
  body: Buffer
}

interface Sent {
  method?: string
  headers?: Record<string, string>
  body?: string
  /** The client's own address (any of 127.0.0.0/8). */
  localAddress?: string
}

/** One request on a connection of its own, without Accept-Encoding unless given; the answer's body as it came. */
function send (url: string, { method = 'GET', headers = {}, body, localAddress }: Sent = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers, localAddress, agent: false }, res => {
      const chunks: Buffer[] = []
      res.on('data', chunk => chunks.push(chunk))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }))
      res.on('error', reject)
    })
    req.on('error', reject)
    req.setTimeout(5_000, () => req.destroy(new Error(`no answer from ${method} ${url} within 5 s`)))
    req.end(body)
  })
}

/** The client ports of the connections established to 127.0.0.1:`port`, seen from its side (Linux /proc/net/tcp). */
function connectionsTo (port: number): string[] {
  const local = `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`
  const ESTABLISHED = '01'
  return readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)
    .map(line => line.trim().split(/\s+/))
    .filter(fields => fields[1] === local && fields[3] === ESTABLISHED)
    .map(fields => fields[2]!)
}

const parse = (answer: Answer) => JSON.parse(answer.body.toString())
const jsonBody = (value: unknown): Sent => ({ headers: { 'content-type': 'application/json' }, body: JSON.stringify(value) })

interface RequestLine {
  reqId: string
  ip: string
  url: string
  statusCode: number
}

/** Postline's log line for the request with this id, waiting up to 5 s for it to be written. */
function requestLine (server: ServerProcess, reqId: unknown): Promise<RequestLine> {
  const marker = `"reqId":${JSON.stringify(reqId)}`
  return until(() => {
    // Whole lines only: the last one may still be being written.
    const line = server.output().split('\n').slice(0, -1).find(text => text.includes(marker) && text.includes('"statusCode"'))
    return line === undefined ? undefined : JSON.parse(line) as RequestLine
  }, 5_000, () => `a request log line with reqId ${reqId}:\n${server.output()}`)
}

const skip = nginxMissing()

/** Requests a minute per client address, on both servers: room for the other checks' requests from 127.0.0.1 too. */
const RATE_LIMIT = 20

t.test('Postline behind nginx, configured by deploy/nginx', { skip }, async t => {
  const databaseUrl = await createTestDatabase(t)
  const [proxied, untrusting] = await Promise.all([
    // As postline.conf says to run it. BODY_LIMIT above nginx's 1 MiB, so that only nginx can
    // refuse a body of 1 MiB and a bit.
    behindNginx(t, { DATABASE_URL: databaseUrl, TRUST_PROXY: '127.0.0.1', RATE_LIMIT: String(RATE_LIMIT), BODY_LIMIT: String(2 * 1024 * 1024) }),
    behindNginx(t, { DATABASE_URL: databaseUrl, RATE_LIMIT: String(RATE_LIMIT) })
  ])
  const { url } = proxied

  t.test('the API answers through nginx, in gzip when the client accepts it and the JSON is large enough', async t => {
    const email = uniqueEmail('nginx')
    const password = 'password123'
    const created = await send(`${url}/users`, { method: 'POST', ...jsonBody({ email, password }) })
    t.equal(created.status, 201, 'registered', { body: created.body.toString() })
    const user = parse(created)

    const small = await send(`${url}/users/${user.id}`, { headers: { 'accept-encoding': 'gzip' } })
    t.equal(small.status, 200)
    t.notOk(small.headers['content-encoding'], 'an answer under 1 KiB is sent as it is')
    t.strictSame(parse(small), user)

    const login = await send(`${url}/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ username: email, password }).toString()
    })
    t.equal(login.status, 200, 'logged in', { body: login.body.toString() })
    const authorization = `Bearer ${parse(login).access_token}`

    // A long bad cursor gets through nginx to Postline's 422.
    const longCursor = await send(`${url}/posts?cursor=${'a'.repeat(10_000)}`, { headers: { authorization } })
    t.equal(longCursor.status, 422, 'a 10 kB cursor reaches Postline', { body: longCursor.body.toString() })
    t.match(parse(longCursor), { detail: [{ loc: ['query', 'cursor'] }] })

    const content = 'A post long enough to be worth compressing. '.repeat(100)
    const post = await send(`${url}/posts`, { method: 'POST', ...jsonBody({ title: 'Behind nginx', content }), headers: { 'content-type': 'application/json', authorization } })
    t.equal(post.status, 201, 'posted', { body: post.body.toString() })
    const { id } = parse(post)

    const compressed = await send(`${url}/posts/${id}`, { headers: { authorization, 'accept-encoding': 'gzip' } })
    t.equal(compressed.status, 200)
    t.equal(compressed.headers['content-encoding'], 'gzip')
    t.match(compressed.headers.vary, /accept-encoding/i, 'caches are told the answer depends on Accept-Encoding')
    t.match(compressed.headers['content-type'], /^application\/json/)
    const postOut = JSON.parse(gunzipSync(compressed.body).toString())
    t.match(postOut, { Post: { id, title: 'Behind nginx', content, owner_id: user.id, owner: user }, votes: 0 })

    const uncompressed = await send(`${url}/posts/${id}`, { headers: { authorization } })
    t.notOk(uncompressed.headers['content-encoding'], 'without Accept-Encoding, plain JSON')
    t.strictSame(parse(uncompressed), postOut)
    t.ok(compressed.body.length * 4 < uncompressed.body.length, `${uncompressed.body.length} bytes sent as ${compressed.body.length}`)
  })

  t.test('nginx keeps one connection to Postline open and sends request after request on it', async t => {
    const port = Number(new URL(proxied.server.url).port)
    t.equal((await send(`${url}/`)).status, 200)
    const open = connectionsTo(port)
    t.equal(open.length, 1, 'one connection from nginx')
    for (let i = 0; i < 3; i++) t.equal((await send(`${url}/`)).status, 200)
    t.strictSame(connectionsTo(port), open, 'still the same one')
  })

  t.test('the client address Postline logs and rate-limits on is X-Forwarded-For\'s only when TRUST_PROXY trusts nginx', async t => {
    /** Each request in turn, then the status and the ip Postline logged for each. */
    const visits = async (proxy: Proxied, requests: Sent[]) => {
      const answers: Answer[] = []
      for (const sent of requests) answers.push(await send(`${proxy.url}/`, sent))
      return Promise.all(answers.map(async ({ status, headers }) => ({ status, ip: (await requestLine(proxy.server, headers['x-request-id'])).ip })))
    }
    const from = (client: string, count = 1): Sent[] => Array(count).fill({ headers: { 'x-forwarded-for': client } })
    const answers = (count: number, answer: { status: number, ip: string }) => Array(count).fill(answer)

    t.strictSame(await visits(untrusting, [...from('203.0.113.1', RATE_LIMIT), ...from('203.0.113.2')]), [
      ...answers(RATE_LIMIT, { status: 200, ip: '127.0.0.1' }),
      { status: 429, ip: '127.0.0.1' }
    ], 'TRUST_PROXY unset: every client is nginx\'s 127.0.0.1, and all share one count')

    t.strictSame(await visits(proxied, [...from('203.0.113.1', RATE_LIMIT), ...from('203.0.113.2'), ...from('203.0.113.1')]), [
      ...answers(RATE_LIMIT, { status: 200, ip: '203.0.113.1' }),
      { status: 200, ip: '203.0.113.2' },
      { status: 429, ip: '203.0.113.1' }
    ], 'TRUST_PROXY=127.0.0.1: the clients named by X-Forwarded-For, counted apart')

    t.strictSame(await visits(proxied, [{ headers: { 'x-forwarded-for': '203.0.113.9' }, localAddress: '127.0.0.2' }]), [{ status: 200, ip: '127.0.0.2' }],
      'a client that is no trusted proxy: the address nginx saw and appended, not the one the client wrote')
  })

  t.test('one request id from the client or nginx, in Postline\'s log line and in the response', async t => {
    const chosen = 'client-chosen.id:42'
    const own = await send(`${url}/`, { headers: { 'x-request-id': chosen } })
    t.equal(own.headers['x-request-id'], chosen, 'the client\'s id comes back')
    t.match(await requestLine(proxied.server, chosen), { url: '/', statusCode: 200 }, 'Postline logged the request under it')

    const generated = await send(`${url}/`)
    t.match(generated.headers['x-request-id'], /^[0-9a-f]{32}$/, 'without one, nginx makes one')
    t.match(await requestLine(proxied.server, generated.headers['x-request-id']), { url: '/', statusCode: 200 }, 'and Postline logged it')

    const odd = await send(`${url}/`, { headers: { 'x-request-id': 'not an id {"at": "all"}' } })
    t.match(odd.headers['x-request-id'], /^[0-9a-f]{32}$/, 'an id that does not look like one is replaced by nginx\'s')
    t.match(await requestLine(proxied.server, odd.headers['x-request-id']), { url: '/' })
  })

  t.test('nginx\'s own refusals are in the API\'s error shape', async t => {
    const tooLarge = await send(`${url}/users`, { method: 'POST', ...jsonBody({ email: uniqueEmail('large'), password: 'p'.repeat(1024 * 1024) }) })
    t.equal(tooLarge.status, 413)
    t.match(tooLarge.headers['content-type'], /^application\/json/)
    t.strictSame(parse(tooLarge), { detail: 'Request body is too large' })
    t.match(tooLarge.headers['x-request-id'], /^[0-9a-f]{32}$/, 'with its request id')

    const down = await startNginx(t, [`127.0.0.1:${await freePort()}`])
    const unavailable = await send(`${down.url}/posts`)
    t.equal(unavailable.status, 503, 'Postline down: 503, as Postline answers itself while it cannot serve')
    t.match(unavailable.headers['content-type'], /^application\/json/)
    t.strictSame(parse(unavailable), { detail: 'Service unavailable' })
  })

  t.test('the port-80 server redirects to HTTPS, except ACME challenges', async t => {
    const redirected = await send(`${proxied.httpUrl}/posts?limit=5`, { method: 'POST', headers: { host: 'api.example.com' } })
    t.equal(redirected.status, 308, 'a POST stays a POST')
    t.equal(redirected.headers.location, 'https://api.example.com/posts?limit=5')

    const challenge = await send(`${proxied.httpUrl}/.well-known/acme-challenge/token`, { headers: { host: 'api.example.com' } })
    t.equal(challenge.status, 404, 'looked up in the webroot, not redirected')
  })
})
