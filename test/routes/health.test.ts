import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { build } from '../helpers/app.js'

t.test('/health: the process is alive; /ready: the database answers', async t => {
  const app = await build(t)
  const health = await app.inject({ url: '/health' })
  t.equal(health.statusCode, 200)
  t.strictSame(health.json(), { status: 'ok' })
  const ready = await app.inject({ url: '/ready/' })
  t.equal(ready.statusCode, 200)
  const { status, cache, ...rest } = ready.json()
  t.equal(status, 'ready')
  t.strictSame(rest, {}, 'nothing else without replicas')
  t.strictSame(Object.keys(cache).sort(), ['bytes', 'entries', 'hits', 'max_bytes', 'misses', 'serving', 'unchecked'], 'the read cache\'s counts')
  t.equal(cache.max_bytes, 64 * 1024 * 1024, 'CACHE_MAX_MB defaults to 64')
})

t.test('security headers on API answers and on the docs pages', async t => {
  const app = await build(t)
  const answers = [['GET', '/'], ['GET', '/health'], ['GET', '/openapi.json'], ['GET', '/posts'], ['GET', '/nowhere'], ['POST', '/users']] as const
  const pages = ['/docs', '/docs/', '/redoc']
  for (const [method, url] of answers) {
    const response = await app.inject({ method, url })
    const name = `${method} ${url} (${response.statusCode})`
    t.equal(response.headers['content-security-policy'], "default-src 'none'; frame-ancestors 'none'", `${name}: a CSP that allows nothing`)
    t.equal(response.headers['x-content-type-options'], 'nosniff', `${name}: nosniff`)
    t.equal(response.headers['x-frame-options'], 'SAMEORIGIN', `${name}: no framing`)
    t.match(response.headers['strict-transport-security'], /^max-age=\d+/, `${name}: HSTS`)
    t.notOk(response.headers['x-powered-by'], `${name}: no x-powered-by`)
  }
  for (const url of pages) {
    const response = await app.inject({ url })
    t.equal(response.statusCode, 200, url)
    t.match(response.headers['content-security-policy'], /default-src 'self'/, `${url}: the pages' CSP`)
    t.notMatch(String(response.headers['content-security-policy']), /https?:|\*/, `${url}: no other origin is allowed`)
    t.equal(response.headers['x-content-type-options'], 'nosniff', `${url}: nosniff`)
    t.equal(response.headers['referrer-policy'], 'no-referrer', `${url}: helmet's whole set`)
    t.equal(response.headers['cross-origin-opener-policy'], 'same-origin', `${url}: helmet's whole set`)
  }
})

t.test('the docs pages run under their CSP: every script is a file from this server', async t => {
  const app = await build(t)
  for (const url of ['/docs/', '/redoc']) {
    const page = await app.inject({ url })
    const csp = String(page.headers['content-security-policy'])
    t.match(csp, /script-src 'self'/, `${url}: scripts from this origin`)
    const scripts = [...page.body.matchAll(/<script([^>]*)>([\s\S]*?)<\/script>/g)]
    t.ok(scripts.length > 0, `${url} has scripts`)
    for (const [, attributes, inline] of scripts) {
      t.equal(inline!.trim(), '', `${url}: no inline script`)
      const src = /src="([^"]+)"/.exec(attributes!)?.[1]
      t.ok(src && !/^[a-z]+:|^\/\//i.test(src), `${url}: ${src} is same-origin`)
      const asset = await app.inject({ url: new URL(src!, `http://localhost${url}`).pathname })
      t.equal(asset.statusCode, 200, `${url}: ${src} is served`)
    }
  }
})

t.test('overload: a lagging event loop gets 503 with Retry-After, and /health still answers', async t => {
  const app = await build(t, { config: { MAX_EVENT_LOOP_DELAY: '100' } })
  t.equal((await app.inject({ url: '/' })).statusCode, 200, 'served before')
  // Hold the event loop as a burst of synchronous work would, across a sampling interval.
  const until = Date.now() + 1500
  while (Date.now() < until) Math.sqrt(Math.random())
  await sleep(20)
  let shed = await app.inject({ url: '/' })
  for (let i = 0; i < 20 && shed.statusCode !== 503; i++) {
    const again = Date.now() + 1200
    while (Date.now() < again) Math.sqrt(Math.random())
    await sleep(20)
    shed = await app.inject({ url: '/' })
  }
  t.equal(shed.statusCode, 503, 'shed')
  t.strictSame(shed.json(), { detail: 'Service unavailable' })
  t.equal(shed.headers['retry-after'], '5')
  t.equal((await app.inject({ url: '/health' })).statusCode, 200, '/health is let through')
  let after = shed
  for (let i = 0; i < 50 && after.statusCode === 503; i++) {
    await sleep(100)
    after = await app.inject({ url: '/' })
  }
  t.equal(after.statusCode, 200, 'served again once the loop keeps up')
})

t.test('MAX_EVENT_LOOP_DELAY=0 turns shedding off', async t => {
  const app = await build(t, { config: { MAX_EVENT_LOOP_DELAY: '0' } })
  const until = Date.now() + 1500
  while (Date.now() < until) Math.sqrt(Math.random())
  await sleep(20)
  t.equal((await app.inject({ url: '/' })).statusCode, 200)
})
