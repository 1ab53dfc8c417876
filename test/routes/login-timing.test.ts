import type { FastifyInstance } from 'fastify'
import { performance } from 'node:perf_hooks'
import t, { type Test } from 'tap'
import { build, createUser, uniqueEmail } from '../helpers/app.js'

// Enough bcrypt rounds that hashing is most of a login's time, few enough to stay quick.
const BCRYPT_ROUNDS = '8'
// No load shedding: a busy test machine must not turn a login into a 503.
const config = { BCRYPT_ROUNDS, MAX_EVENT_LOOP_DELAY: '0' }
const SAMPLES = 21
const WARM_UP = 3
const TOLERANCE = 0.2
// The machine may be busy with other tests: a measurement that is only noisy gets another
// chance, while a real difference (no hash compared for unknown emails) fails every attempt.
const ATTEMPTS = 5

const postForm = (app: FastifyInstance, fields: Record<string, string>, url = '/login') => app.inject({
  method: 'POST',
  url,
  headers: { 'content-type': 'application/x-www-form-urlencoded' },
  payload: new URLSearchParams(fields).toString()
})

async function timed (send: () => Promise<unknown>): Promise<number> {
  const start = performance.now()
  await send()
  return performance.now() - start
}

function median (values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2
}

/** True when the two times are within TOLERANCE of the larger one. */
const alike = (a: number, b: number) => Math.abs(a - b) <= TOLERANCE * Math.max(a, b)

/** Median times of the named requests, sent interleaved in alternating order so drift hits all alike. */
async function medians (requests: Record<string, () => Promise<unknown>>): Promise<Record<string, number>> {
  const names = Object.keys(requests)
  for (let i = 0; i < WARM_UP; i++) for (const name of names) await requests[name]!()
  const samples: Record<string, number[]> = Object.fromEntries(names.map(name => [name, []]))
  for (let i = 0; i < SAMPLES; i++) {
    for (const name of i % 2 ? [...names].reverse() : names) samples[name]!.push(await timed(requests[name]!))
  }
  return Object.fromEntries(names.map(name => [name, median(samples[name]!)]))
}

const format = (times: Record<string, number>) => Object.entries(times).map(([name, ms]) => `${name} ${ms.toFixed(2)} ms`).join(', ')

/** Median times, measured up to ATTEMPTS times until `a` and `b` are alike (a busy machine gets more chances; a real difference fails every one). */
async function untilAlike (t: Test, requests: Record<string, () => Promise<unknown>>, a: string, b: string): Promise<Record<string, number>> {
  let times: Record<string, number> = {}
  for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
    times = await medians(requests)
    t.comment(`attempt ${attempt}: ${format(times)}`)
    if (alike(times[a]!, times[b]!)) break
  }
  return times
}

t.test('an unknown email and a wrong password get the same status and body', async t => {
  const app = await build(t, { config })
  const user = await createUser(app)
  const unknown = await postForm(app, { username: uniqueEmail('nobody'), password: user.password })
  const wrong = await postForm(app, { username: user.email, password: `${user.password}-not` })
  t.equal(unknown.statusCode, 403)
  t.equal(wrong.statusCode, 403)
  t.strictSame(unknown.json(), { detail: 'Invalid Credentials' })
  t.equal(unknown.body, wrong.body, 'byte for byte')
  t.strictSame(Object.keys(unknown.headers).sort(), Object.keys(wrong.headers).sort(), 'the same headers')
  t.equal(unknown.headers['content-type'], wrong.headers['content-type'])
  t.equal(unknown.headers['www-authenticate'], wrong.headers['www-authenticate'])
})

t.test('an unknown email takes as long as a wrong password; a request without bcrypt is far quicker', async t => {
  const app = await build(t, { config })
  const user = await createUser(app)
  const nobody = uniqueEmail('nobody')
  const requests = {
    'unknown email': () => postForm(app, { username: nobody, password: user.password }),
    'wrong password': () => postForm(app, { username: user.email, password: `${user.password}-not` }),
    'missing password (422)': () => postForm(app, { username: user.email })
  }
  t.equal((await requests['unknown email']()).statusCode, 403)
  t.equal((await requests['wrong password']()).statusCode, 403)
  t.equal((await requests['missing password (422)']()).statusCode, 422)

  const times = await untilAlike(t, requests, 'unknown email', 'wrong password')
  const unknown = times['unknown email']!
  const wrong = times['wrong password']!
  const control = times['missing password (422)']!
  t.ok(alike(unknown, wrong), `unknown email and wrong password within ${TOLERANCE * 100}%: ${format(times)}`)
  // The control shows the measurement sees a login that skips bcrypt.
  t.ok(control < 0.5 * Math.min(unknown, wrong), `the 422 takes under half a bcrypt login: ${format(times)}`)
  t.notOk(alike(control, wrong), 'the comparison tells a request without bcrypt apart')
})

t.test('the right password past 72 bytes takes as long as a wrong password (refused after the compare)', async t => {
  const app = await build(t, { config })
  const user = await createUser(app)
  // bcrypt reads 72 bytes: the right password with more after it is refused, after a compare.
  const requests = {
    'right password past 72 bytes': () => postForm(app, { username: user.email, password: user.password.padEnd(72, '.') + 'more' }),
    'wrong password': () => postForm(app, { username: user.email, password: `${user.password}-not` }),
    'missing password (422)': () => postForm(app, { username: user.email })
  }
  t.equal((await requests['right password past 72 bytes']()).statusCode, 403)
  t.equal((await requests['wrong password']()).statusCode, 403)

  const times = await untilAlike(t, requests, 'right password past 72 bytes', 'wrong password')
  const tooLong = times['right password past 72 bytes']!
  const wrong = times['wrong password']!
  const control = times['missing password (422)']!
  t.ok(alike(tooLong, wrong), `a password past 72 bytes and a wrong one within ${TOLERANCE * 100}%: ${format(times)}`)
  // The control shows the measurement would see a refusal that skipped bcrypt.
  t.ok(control < 0.5 * Math.min(tooLong, wrong), `the 422 takes under half a bcrypt login: ${format(times)}`)
})

t.test('start-up computes no bcrypt hash: at a cost that takes a minute per hash, the app is ready at once', async t => {
  // 2^20 rounds is about a minute of a core per hash; at the workers' lowest priority on a
  // busy machine a hash at the default cost (12) took seconds to tens of seconds, all of it
  // between "applied database migrations" and "Server listening".
  const started = performance.now()
  await build(t, { config: { BCRYPT_ROUNDS: '20', MAX_EVENT_LOOP_DELAY: '0' } })
  const took = Math.round(performance.now() - started)
  t.comment(`ready in ${took} ms at BCRYPT_ROUNDS=20`)
  t.ok(took < 20_000, `the app is ready well before one hash could finish (${took} ms)`)
})

t.test('at the token endpoint too: an unknown email takes as long as a wrong password, with the same answer', async t => {
  const app = await build(t, { config })
  const user = await createUser(app)
  const nobody = uniqueEmail('nobody')
  const grant = (fields: Record<string, string>) => postForm(app, { grant_type: 'password', ...fields }, '/auth/token')
  const requests = {
    'unknown email': () => grant({ username: nobody, password: user.password }),
    'wrong password': () => grant({ username: user.email, password: `${user.password}-not` }),
    'missing password (invalid_request)': () => grant({ username: user.email })
  }
  const unknown = await requests['unknown email']()
  const wrong = await requests['wrong password']()
  t.equal(unknown.statusCode, 400)
  t.strictSame(unknown.json(), { error: 'invalid_grant', error_description: 'Invalid Credentials' })
  t.equal(unknown.body, wrong.body, 'byte for byte')
  t.strictSame(Object.keys(unknown.headers).sort(), Object.keys(wrong.headers).sort(), 'the same headers')
  t.equal((await requests['missing password (invalid_request)']()).json().error, 'invalid_request')

  const times = await untilAlike(t, requests, 'unknown email', 'wrong password')
  const control = times['missing password (invalid_request)']!
  t.ok(alike(times['unknown email']!, times['wrong password']!), `unknown email and wrong password within ${TOLERANCE * 100}%: ${format(times)}`)
  t.ok(control < 0.5 * Math.min(times['unknown email']!, times['wrong password']!), `a refusal without bcrypt takes under half: ${format(times)}`)
})
