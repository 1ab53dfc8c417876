import type { FastifyInstance } from 'fastify'
import t from 'tap'
import { build } from './helper.js'

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
