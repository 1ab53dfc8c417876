import { Ajv, type ValidateFunction } from 'ajv'
import addFormats from 'ajv-formats'
import fc from 'fast-check'
import type { LightMyRequestResponse } from 'fastify'
import { createHmac } from 'node:crypto'
import t, { type Test } from 'tap'
import { TEST_SECRET, build, createPost, createUser, sql } from '../helpers/app.js'

// Generated requests thrown at every operation of the app's own OpenAPI document, so the
// properties follow the routes: never a 5xx, every 2xx body valid against the documented
// schema (closed: no field beyond the declared ones), every 4xx a JSON `detail`.
// Replay a failure with FC_SEED=<seed printed in the report>.

type Schema = Record<string, unknown>

interface Parameter { name: string, in: string, schema?: Schema }

interface Operation {
  parameters?: Parameter[]
  requestBody?: { content?: Record<string, { schema?: Schema }> }
  responses?: Record<string, { content?: Record<string, { schema?: Schema }> }>
  security?: unknown[]
}

interface OpenApiDocument { paths: Record<string, Record<string, Operation>> }

interface Request {
  method: string
  url: string
  headers: Record<string, string>
  payload?: string
}

const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'patch']
const seed = process.env.FC_SEED ? Number(process.env.FC_SEED) : Math.floor(Math.random() * 2 ** 31)
const RUNS = 100

// Load shedding answers 503 when the event loop lags, which a busy test machine can cause: the
// properties are about what clients send.
const app = await build(t, { config: { MAX_EVENT_LOOP_DELAY: '0' } })
const doc: OpenApiDocument = (await app.inject({ url: '/openapi.json' })).json()
// The registration body's documented examples name a real user, and every user has the
// example password, so that generated bodies built from the examples (of the login form, or a
// password change's current_password, say) succeed often enough that each route's success is seen.
const registration = ((inline(doc.paths['/users']?.post?.requestBody?.content?.['application/json']?.schema) as Schema | undefined)?.properties ?? {}) as Record<string, { examples?: string[] }>
const examplePassword = registration.password?.examples?.[0]
const alice = await createUser(app, undefined, examplePassword)
const bob = await createUser(app, undefined, examplePassword)
const gone = await createUser(app)
await sql(app, 'delete from users where id = ?', [gone.id])
for (const owner of [alice, bob, alice, bob, alice, bob]) await createPost(app, owner)
const example = await createUser(app, registration.email?.examples?.[0], examplePassword)

const sessionOf = (user: { token: string }): string => JSON.parse(Buffer.from(user.token.split('.')[1]!, 'base64url').toString()).sid
/** The routes that end sessions, change a password or delete the user: each of their requests is undone, so that every request starts from the same users. */
const UNDONE = new Set(['POST /auth/logout', 'DELETE /auth/sessions/{id}', 'PUT /users/me/password', 'DELETE /users/me'])
/**
 * Operations whose generated requests rarely succeed (a token request needs a known user's email
 * and password together): more of them, so that some succeed whatever the seed.
 */
const RARELY_SUCCEEDS = new Set(['POST /auth/token'])
const userIds = [alice.id, bob.id, example.id]
const savedUsers = JSON.stringify(await sql(app, 'select * from users where id = any(?)', [userIds]))
const savedSessions = JSON.stringify(await sql(app, 'select * from sessions where user_id = any(?)', [userIds]))
async function undo () {
  await sql(app, 'insert into users select * from json_populate_recordset(null::users, ?) on conflict (id) do update set password = excluded.password', [savedUsers])
  await sql(app, 'insert into sessions select * from json_populate_recordset(null::sessions, ?) on conflict (id) do nothing', [savedSessions])
  await sql(app, 'delete from session_resets')
}

/** A copy of `node` with every local `$ref` replaced by what it points to. */
function inline (node: unknown, seen: unknown[] = []): unknown {
  if (Array.isArray(node)) return node.map(item => inline(item, seen))
  if (node === null || typeof node !== 'object') return node
  const record = node as Schema
  if (typeof record.$ref === 'string' && record.$ref.startsWith('#/')) {
    const target = record.$ref.slice(2).split('/').reduce<unknown>((at, key) =>
      (at as Schema | undefined)?.[key.replace(/~1/g, '/').replace(/~0/g, '~')], doc)
    if (seen.includes(target)) throw new Error(`recursive schema at ${record.$ref}`)
    return inline(target, [...seen, target])
  }
  return Object.fromEntries(Object.entries(record).map(([key, value]) => [key, inline(value, seen)]))
}

/** The contract: response bodies carry exactly the documented fields. */
function closed (node: unknown): unknown {
  if (Array.isArray(node)) return node.map(closed)
  if (node === null || typeof node !== 'object') return node
  const schema = Object.fromEntries(Object.entries(node).map(([key, value]) => [key, closed(value)]))
  if (schema.type === 'object' && schema.properties && schema.additionalProperties === undefined) schema.additionalProperties = false
  return schema
}

const ajv = new Ajv({ strict: false, allErrors: true })
addFormats.default(ajv)

/** An event stream's success never ends, so no injected request can wait for it: its own tests use real connections. */
const streams = (operation: { responses?: Record<string, { content?: Record<string, unknown> }> }) =>
  Object.values(operation.responses ?? {}).some(response => response.content?.['text/event-stream'])

const operations = Object.entries(doc.paths).flatMap(([path, item]) =>
  Object.entries(item).filter(([method, operation]) => HTTP_METHODS.includes(method) && !streams(operation)).map(([method, operation]) => ({
    path,
    method: method.toUpperCase(),
    operation: inline(operation) as Operation,
    validators: new Map<string, ValidateFunction>(Object.entries(operation.responses ?? {}).flatMap(([status, response]) => {
      const schema = (inline(response) as { content?: Record<string, { schema?: Schema }> }).content?.['application/json']?.schema
      return schema ? [[status, ajv.compile(closed(schema) as Schema)] as const] : []
    }))
  })))
  // Deletions last, so that the other properties still find the rows they name.
  .sort((a, b) => Number(a.method === 'DELETE') - Number(b.method === 'DELETE'))

type Route = (typeof operations)[number]

/** What is wrong with `response` to `request`, or undefined. */
function violation (route: Route, request: Request, response: LightMyRequestResponse): string | undefined {
  const { statusCode: status, body } = response
  const where = `${request.method} ${request.url} ${JSON.stringify(request.headers)} ${request.payload === undefined ? '' : JSON.stringify(request.payload.slice(0, 500))}\n-> ${status} ${body.slice(0, 500)}`
  if (status >= 500) return `a ${status}: ${where}`
  if (status === 204) return body === '' ? undefined : `a 204 with a body: ${where}`
  let parsed: unknown
  try {
    parsed = JSON.parse(body)
  } catch {
    return `a body that is not JSON: ${where}`
  }
  if (!/^application\/json/.test(String(response.headers['content-type']))) return `content type ${response.headers['content-type']}: ${where}`
  const validate = route.validators.get(String(status))
  if (status < 300) {
    if (!validate) return `an undocumented ${status}: ${where}`
    if (!validate(parsed)) return `a ${status} body against its schema: ${ajv.errorsText(validate.errors)}: ${where}`
  }
  if (status >= 400) {
    const detail = (parsed as { detail?: unknown } | null)?.detail
    // The token endpoint's 400 is RFC 6749's `{"error", "error_description"}`.
    const oauthError = route.path === '/auth/token' && status === 400 && typeof (parsed as { error_description?: unknown } | null)?.error_description === 'string'
    const described = (typeof detail === 'string' && detail.length > 0) || oauthError ||
      (Array.isArray(detail) && detail.length > 0 && detail.every(entry => Array.isArray(entry?.loc) && typeof entry?.msg === 'string'))
    if (!described) return `a ${status} without a detail: ${where}`
    if (validate && !validate(parsed)) return `a ${status} body against its schema: ${ajv.errorsText(validate.errors)}: ${where}`
  }
  return undefined
}

/** Sends the request and throws when the answer breaks the contract; returns the status. */
async function send (route: Route, request: Request): Promise<number> {
  const response = await app.inject({ ...request, method: request.method as 'GET' })
  const problem = violation(route, request, response)
  if (problem) throw new Error(problem)
  return response.statusCode
}

async function holds<T> (t: Test, property: fc.IAsyncProperty<[T]>, numRuns = RUNS) {
  const details = await fc.check(property, { numRuns, seed })
  if (details.failed) {
    const error = details.errorInstance instanceof Error ? details.errorInstance.message : String(details.errorInstance)
    t.fail(`the property fails (replay with FC_SEED=${seed})`, { error, report: fc.defaultReportMessage(details) })
  } else t.pass(`${numRuns} requests`)
}

const knownStrings = [alice.email, bob.email, alice.email.toUpperCase(), alice.password, sessionOf(alice), sessionOf(bob)]
const text = fc.oneof(
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ unit: 'binary-ascii', maxLength: 10 })
)
/** Numbers JSON can write but JavaScript cannot hold, or holds oddly. */
const numberLiteral = fc.constantFrom('1e400', '-1e400', '1e-400', '-0', '0.5', '1.0', '1E2', '2147483648', '-2147483649', '9007199254740993', '99999999999999999999999999999', '0.0000001')
const oddValue: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: fc.jsonValue({ maxDepth: 3, stringUnit: 'binary' }).map(value => JSON.stringify(value)) },
  { weight: 2, arbitrary: numberLiteral },
  { weight: 1, arbitrary: fc.double().map(value => JSON.stringify(value)) },
  { weight: 1, arbitrary: fc.constantFrom('', '\u0000', ' ', 'x'.repeat(301), 'x'.repeat(50_001), '\ud800').map(value => JSON.stringify(value)) },
  { weight: 1, arbitrary: fc.object({ maxDepth: 2 }).map(value => JSON.stringify(value)) },
  { weight: 1, arbitrary: fc.constantFrom('['.repeat(5000) + ']'.repeat(5000), '{"a":'.repeat(5000) + '1' + '}'.repeat(5000)) }
)

/** A value as text: a string as it is, anything else as its JSON (an object may have its own `toString`). */
const asText = (value: unknown) => typeof value === 'string' ? value : JSON.stringify(value) ?? ''

/** The schema's documented examples, when it has some, weighted up. */
const examplesOf = (schema: Schema) => Array.isArray(schema.examples) && schema.examples.length
  ? [{ weight: 2, arbitrary: fc.constantFrom(...schema.examples as unknown[]) }]
  : []

/** Values the schema accepts, many of them known to the database (its examples, existing ids and emails). */
function validValue (schema: Schema = {}): fc.Arbitrary<unknown> {
  switch (schema.type) {
    case 'string': {
      const minLength = Number(schema.minLength ?? 0)
      const maxLength = Math.max(minLength, Math.min(Number(schema.maxLength ?? 40), 40))
      return fc.oneof(
        ...examplesOf(schema),
        // A uuid is a session id: the users' own, weighted up, so that ending one is generated often enough.
        ...(schema.format === 'uuid' ? [{ weight: 2, arbitrary: fc.constantFrom(sessionOf(alice), sessionOf(bob)) }] : []),
        { weight: 1, arbitrary: fc.constantFrom(...knownStrings) },
        { weight: 1, arbitrary: schema.format === 'email' ? fc.emailAddress() : fc.string({ unit: 'grapheme', minLength, maxLength }) })
    }
    case 'integer': {
      const min = Math.max(Number(schema.minimum ?? -(2 ** 31)), -(2 ** 31))
      const max = Math.min(Number(schema.maximum ?? 2 ** 31 - 1), 2 ** 31 - 1)
      // Small ids name rows that exist.
      const low = Math.max(min, 0)
      const high = Math.min(max, 8)
      return fc.oneof(
        ...examplesOf(schema),
        ...(low <= high ? [{ weight: 2, arbitrary: fc.integer({ min: low, max: high }) }] : []),
        { weight: 1, arbitrary: fc.integer({ min, max }) })
    }
    case 'number': return fc.double({ noNaN: true, noDefaultInfinity: true })
    case 'boolean': return fc.boolean()
    default: return fc.jsonValue({ maxDepth: 2 })
  }
}

/** A field's value as JSON text: valid, or odd (wrong type, huge, unicode, NUL, nested). */
const fieldValue = (schema?: Schema) => fc.oneof(
  { weight: 4, arbitrary: validValue(schema).map(value => JSON.stringify(value)) },
  { weight: 1, arbitrary: oddValue }
)

/** Fields shaped like the documented body: each property present or not, plus extra keys. */
function shapedFields (schema: Schema = {}): fc.Arbitrary<[string, string][]> {
  const properties = Object.entries((schema.properties ?? {}) as Record<string, Schema>)
  const present = properties.map(([name, property]) =>
    fc.option(fieldValue(property).map(value => [name, value] as [string, string]), { freq: 10 }))
  const extraKey = fc.oneof(fc.constantFrom('id', 'owner_id', 'user_id', 'owner', 'Post', '__proto__', 'constructor'), text)
  const extras = fc.array(fc.tuple(extraKey, oddValue), { maxLength: 2 })
  return fc.tuple(fc.tuple(...present), extras).map(([fields, extra]) =>
    [...fields.filter((field): field is [string, string] => field !== null), ...extra])
}

const asJsonObject = (fields: [string, string][]) => `{${fields.map(([key, value]) => `${JSON.stringify(key)}:${value}`).join(',')}}`
/** Form fields are text: a JSON string is sent as its content, anything else as its JSON. */
const formText = (value: string) => { try { const parsed = JSON.parse(value); return typeof parsed === 'string' ? parsed : value } catch { return value } }
const asUrlEncoded = (fields: [string, string][]) => new URLSearchParams(fields.map(([key, value]) => [key, formText(value)])).toString()
const BOUNDARY = 'postline-property-boundary'
const asMultipart = (fields: [string, string][]) =>
  fields.map(([key, value]) => `--${BOUNDARY}\r\nContent-Disposition: form-data; name="${key.replace(/["\r\n]/g, '')}"\r\n\r\n${formText(value)}\r\n`).join('') + `--${BOUNDARY}--\r\n`

interface Body { contentType?: string, payload?: string }

/** A body for the operation: shaped like its schema in each media type it takes, or anything at all. */
function bodyFor (operation: Operation): fc.Arbitrary<Body> {
  const content = operation.requestBody?.content ?? {}
  const shaped: fc.Arbitrary<Body>[] = []
  for (const [mediaType, { schema }] of Object.entries(content)) {
    const fields = shapedFields(schema)
    if (mediaType === 'application/json') shaped.push(fields.map(f => ({ contentType: mediaType, payload: asJsonObject(f) })))
    if (mediaType === 'application/x-www-form-urlencoded') shaped.push(fields.map(f => ({ contentType: mediaType, payload: asUrlEncoded(f) })))
    if (mediaType === 'multipart/form-data') shaped.push(fields.map(f => ({ contentType: `${mediaType}; boundary=${BOUNDARY}`, payload: asMultipart(f) })))
  }
  const anyJson = oddValue.map(payload => ({ contentType: 'application/json', payload }))
  const notJson = text.map(payload => ({ contentType: 'application/json', payload }))
  const otherType = fc.tuple(fc.constantFrom('text/plain', 'application/octet-stream', 'application/json; charset=latin1', 'multipart/form-data', 'application/x-www-form-urlencoded', 'application/xml'), text)
    .map(([contentType, payload]) => ({ contentType, payload }))
  return fc.oneof(
    ...shaped.map(arbitrary => ({ weight: Math.round(16 / shaped.length), arbitrary })),
    { weight: 2, arbitrary: anyJson },
    { weight: 1, arbitrary: notJson },
    { weight: 1, arbitrary: otherType },
    { weight: 1, arbitrary: fc.constant<Body>({}) }
  )
}

/** A path parameter: valid, existing, out of range, or any text at all. */
function paramFor (schema?: Schema): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 6, arbitrary: validValue(schema).map(asText) },
    // The one string path parameter is a session's id: the users' own, weighted up, so that ending one is generated often enough.
    ...(schema?.type === 'string' ? [{ weight: 3, arbitrary: fc.constantFrom(sessionOf(alice), sessionOf(bob)) }] : []),
    { weight: 1, arbitrary: fc.constantFrom('0', '-1', '2147483647', '2147483648', '9007199254740993', '1e21', '1.5', '-0', '00001', '0x10', 'NaN', 'Infinity', ' 1', 'me', 'x'.repeat(250)) },
    { weight: 2, arbitrary: text }
  ).filter(value => !['', '.', '..'].includes(value)).map(encodeURIComponent)
}

/** A query string: the documented parameters with valid or odd values, unknown ones, repeats, or raw text. */
function queryFor (operation: Operation): fc.Arbitrary<string> {
  const documented = (operation.parameters ?? []).filter(parameter => parameter.in === 'query')
  const pairs = documented.map(({ name, schema }) => fc.option(
    fc.oneof(validValue(schema).map(asText), text, numberLiteral, fc.constant('%_\\'.repeat(3000))).map(value => [name, value] as [string, string]), { freq: 3 }))
  const extraName = fc.oneof(fc.constantFrom(...documented.map(({ name }) => name), 'limit', 'skip', 'search', 'limit[]', 'skip[x]'), text)
  const encoded = fc.tuple(fc.tuple(...pairs), fc.array(fc.tuple(extraName, fc.oneof(text, numberLiteral)), { maxLength: 2 }))
    .map(([given, extra]) => [...given.filter((pair): pair is [string, string] => pair !== null), ...extra]
      .map(([name, value]) => `${encodeURIComponent(name)}=${encodeURIComponent(value)}`).join('&'))
  const raw = fc.string({ unit: fc.constantFrom(...'abklimtsrch019=&%+[]._-~,;:!$\'()*'.split('')), maxLength: 30 })
  return fc.oneof({ weight: 4, arbitrary: encoded }, { weight: 1, arbitrary: raw })
}

const authorization = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(alice.headers.authorization, bob.headers.authorization) },
  { weight: 1, arbitrary: fc.constantFrom(undefined, example.headers.authorization, gone.headers.authorization, 'Bearer', 'Bearer ', 'Bearer not.a.token', `Basic ${Buffer.from('a:b').toString('base64')}`, alice.token) })

function requestFor (route: Route): fc.Arbitrary<Request> {
  const params = (route.operation.parameters ?? []).filter(parameter => parameter.in === 'path')
  const path = fc.tuple(...params.map(({ schema }) => paramFor(schema))).map(values =>
    params.reduce((at, { name }, i) => at.replace(`{${name}}`, values[i]!), route.path))
  return fc.record({
    path,
    slash: fc.boolean(),
    query: fc.option(queryFor(route.operation), { freq: 2 }),
    body: route.operation.requestBody ? bodyFor(route.operation) : fc.oneof(fc.constant<Body>({}), bodyFor(route.operation)),
    authorization
  }).map(({ path, slash, query, body, authorization }) => {
    const headers: Record<string, string> = {}
    if (authorization !== undefined) headers.authorization = authorization
    if (body.contentType !== undefined) headers['content-type'] = body.contentType
    const url = `${slash && !path.endsWith('/') ? `${path}/` : path}${query === null ? '' : `?${query}`}`
    return { method: route.method, url, headers, ...(body.payload === undefined ? {} : { payload: body.payload }) }
  })
}

t.comment(`fast-check seed ${seed}`)

t.test('the document lists the operations the properties run on, with success schemas that can fail', async t => {
  t.ok(operations.length >= 12, `${operations.length} operations`)
  for (const route of operations) {
    const successes = [...route.validators].filter(([status]) => status.startsWith('2'))
    t.ok(successes.length > 0 || route.operation.responses?.['204'], `${route.method} ${route.path} documents its success`)
    for (const [status, validate] of successes) t.notOk(validate({ unexpected: true }), `${route.method} ${route.path} ${status} refuses a body of another shape`)
  }
})

for (const route of operations) {
  t.test(`${route.method} ${route.path}: generated params, query, body and token`, async t => {
    const statuses: number[] = []
    const undone = UNDONE.has(`${route.method} ${route.path}`)
    await holds(t, fc.asyncProperty(requestFor(route), async request => {
      statuses.push(await send(route, request))
      if (undone) await undo()
    }), RARELY_SUCCEEDS.has(`${route.method} ${route.path}`) ? 4 * RUNS : RUNS)
    // Otherwise the success bodies would go unchecked.
    t.ok(statuses.some(status => status < 300), `some requests succeed: ${[...new Set(statuses)].sort().join(', ')}`)
  })
}

const protectedRoutes = operations.filter(route => route.operation.security?.length)

t.test('any Authorization header on any protected route is answered without a 5xx', async t => {
  t.ok(protectedRoutes.length > 0)
  const header = fc.oneof(
    fc.string({ unit: 'grapheme-ascii', maxLength: 60 }),
    fc.string({ unit: 'grapheme-ascii', maxLength: 60 }).map(rest => `Bearer ${rest}`),
    fc.tuple(fc.constantFrom('Bearer', 'bearer', 'BEARER', ' Bearer', 'Bearer  '), fc.nat(alice.token.length), fc.string({ unit: 'grapheme-ascii', maxLength: 3 }))
      .map(([scheme, cut, tail]) => `${scheme} ${alice.token.slice(0, cut)}${tail}${alice.token.slice(cut + tail.length)}`))
  const request = fc.tuple(fc.constantFrom(...protectedRoutes), header).map(([route, authorization]) =>
    ({ route, request: { method: route.method, url: route.path.replace(/\{[^}]+\}/g, '1'), headers: { authorization } } }))
  await holds(t, fc.asyncProperty(request, async ({ route, request }) => { await send(route, request) }), 150)
})

t.test('a correctly signed token with any claims is answered without a 5xx', async t => {
  const encode = (part: unknown) => Buffer.from(JSON.stringify(part)).toString('base64url')
  const sign = (header: unknown, payload: unknown) => {
    const unsigned = `${encode(header)}.${encode(payload)}`
    return `${unsigned}.${createHmac('sha256', TEST_SECRET).update(unsigned).digest('base64url')}`
  }
  const future = Math.floor(Date.now() / 1000) + 3600
  const claim = fc.oneof(fc.constantFrom(alice.id, bob.id, gone.id, 0, -1, 2 ** 31, 2 ** 53, 1.5, -0), fc.jsonValue({ maxDepth: 1 }))
  const payload = fc.record({
    user_id: claim,
    sub: fc.oneof(claim, claim.map(asText)),
    exp: fc.oneof(fc.constant(future), claim),
    iat: claim
  }, { requiredKeys: [] })
  const header = fc.oneof(fc.constant({ alg: 'HS256', typ: 'JWT' }), fc.record({ alg: fc.constantFrom('HS256', 'none', 'HS512', 'RS256'), typ: fc.constantFrom('JWT', 'jwt') }), fc.jsonValue({ maxDepth: 1 }))
  const request = fc.tuple(fc.constantFrom(...protectedRoutes), header, payload).map(([route, header, payload]) =>
    ({ route, request: { method: route.method, url: route.path.replace(/\{[^}]+\}/g, '1'), headers: { authorization: `Bearer ${sign(header, payload)}` } } }))
  await holds(t, fc.asyncProperty(request, async ({ route, request }) => { await send(route, request) }), 150)
})
