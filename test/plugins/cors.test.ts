import type { FastifyInstance } from 'fastify'
import t from 'tap'
import { build } from '../helpers/app.js'

const APP_ORIGIN = 'https://app.example.com'
const OTHER_ORIGIN = 'https://elsewhere.example.org'

const preflight = (app: FastifyInstance, origin: string) => app.inject({
  method: 'OPTIONS',
  url: '/posts',
  headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' }
})

t.test('a listed origin is allowed, with credentials, on preflight and on requests', async t => {
  const app = await build(t, { config: { CORS_ORIGINS: APP_ORIGIN } })

  const response = await preflight(app, APP_ORIGIN)
  t.ok(response.statusCode >= 200 && response.statusCode < 300, `preflight status ${response.statusCode}`)
  t.equal(response.headers['access-control-allow-origin'], APP_ORIGIN)
  t.equal(response.headers['access-control-allow-credentials'], 'true')
  t.match(String(response.headers['access-control-allow-methods']), /\bPOST\b/)
  t.match(String(response.headers['access-control-allow-headers']), /authorization/i)
  t.match(String(response.headers.vary), /\bOrigin\b/)

  const actual = await app.inject({ url: '/', headers: { origin: APP_ORIGIN } })
  t.equal(actual.statusCode, 200)
  t.equal(actual.headers['access-control-allow-origin'], APP_ORIGIN)
  t.equal(actual.headers['access-control-allow-credentials'], 'true')
  t.match(String(actual.headers['access-control-expose-headers']), /\bLink\b/, 'the feeds\' Link header is readable by the app')
})

t.test('an origin that is not listed gets no allow-origin header', async t => {
  const app = await build(t, { config: { CORS_ORIGINS: APP_ORIGIN } })
  const response = await preflight(app, OTHER_ORIGIN)
  t.equal(response.headers['access-control-allow-origin'], undefined)
  const actual = await app.inject({ url: '/', headers: { origin: OTHER_ORIGIN } })
  t.equal(actual.statusCode, 200)
  t.equal(actual.headers['access-control-allow-origin'], undefined)
})

t.test('CORS_ORIGINS is a comma-separated list, spaces allowed', async t => {
  const app = await build(t, { config: { CORS_ORIGINS: `https://admin.example.com, ${APP_ORIGIN}` } })
  for (const origin of ['https://admin.example.com', APP_ORIGIN]) {
    const response = await preflight(app, origin)
    t.equal(response.headers['access-control-allow-origin'], origin)
  }
  const other = await preflight(app, OTHER_ORIGIN)
  t.equal(other.headers['access-control-allow-origin'], undefined)
})

t.test('CORS_ORIGINS=* allows any origin, without credentials', async t => {
  const app = await build(t, { config: { CORS_ORIGINS: '*' } })
  for (const origin of [APP_ORIGIN, OTHER_ORIGIN]) {
    const response = await preflight(app, origin)
    t.ok(response.statusCode >= 200 && response.statusCode < 300, `preflight status ${response.statusCode}`)
    t.equal(response.headers['access-control-allow-origin'], '*', origin)
    t.equal(response.headers['access-control-allow-credentials'], undefined, origin)
  }
  const actual = await app.inject({ url: '/', headers: { origin: OTHER_ORIGIN } })
  t.equal(actual.headers['access-control-allow-origin'], '*')
  t.equal(actual.headers['access-control-allow-credentials'], undefined)
})

t.test('without CORS_ORIGINS no origin is allowed', async t => {
  const app = await build(t)
  const response = await preflight(app, APP_ORIGIN)
  t.equal(response.headers['access-control-allow-origin'], undefined)
  t.equal(response.headers['access-control-allow-credentials'], undefined)
  const actual = await app.inject({ url: '/', headers: { origin: APP_ORIGIN } })
  t.equal(actual.statusCode, 200)
  t.equal(actual.headers['access-control-allow-origin'], undefined)
})

/** Each documented path, as a URL with ids filled in, and the methods the document gives it. */
async function documentedPaths (app: FastifyInstance): Promise<[url: string, methods: string[]][]> {
  const document = (await app.inject({ url: '/openapi.json' })).json() as { paths: Record<string, Record<string, unknown>> }
  return Object.entries(document.paths).map(([path, item]) => [path.replace(/\{[^}]+\}/g, '1'), Object.keys(item).map(method => method.toUpperCase())])
}

/** What `Allow` should say for a path with these methods: HEAD comes with GET, OPTIONS with every path. */
const allowFor = (methods: string[]) => [...new Set([...methods, ...(methods.includes('GET') ? ['HEAD'] : []), 'OPTIONS'])].sort().join(', ')

for (const [setting, CORS_ORIGINS] of [['without CORS', ''], ['with CORS_ORIGINS', APP_ORIGIN]] as const) {
  t.test(`${setting}, OPTIONS on every route answers 204 with the path's methods in Allow, and 404 on no route`, async t => {
    const app = await build(t, { config: { CORS_ORIGINS } })
    const paths = await documentedPaths(app)
    t.ok(paths.length >= 8, 'the documented paths')
    for (const [url, methods] of paths) {
      for (const path of [url, `${url.replace(/\/$/, '')}/`]) {
        const response = await app.inject({ method: 'OPTIONS', url: path })
        t.equal(response.statusCode, 204, `OPTIONS ${path}`)
        t.equal(response.headers.allow, allowFor(methods), `OPTIONS ${path}: Allow`)
        t.equal(response.body, '', `OPTIONS ${path}: no body`)
      }
    }
    for (const url of ['/nowhere', '/posts/1/nothing']) {
      const missing = await app.inject({ method: 'OPTIONS', url, headers: { origin: APP_ORIGIN, 'access-control-request-method': 'GET' } })
      t.equal(missing.statusCode, 404, `OPTIONS ${url}`)
      t.strictSame(missing.json(), { detail: 'Not Found' })
    }
    const asked = await preflight(app, APP_ORIGIN)
    t.equal(asked.statusCode, 204, 'a preflight is a 204 too')
    t.equal(asked.headers.allow, 'GET, HEAD, OPTIONS, POST')
    t.equal(asked.headers['access-control-allow-origin'], CORS_ORIGINS ? APP_ORIGIN : undefined, 'allowed only when CORS_ORIGINS lists the origin')
    t.equal(asked.headers['access-control-allow-methods'] !== undefined, CORS_ORIGINS !== '', 'preflight headers only with CORS')
  })
}
