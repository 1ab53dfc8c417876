import { validate } from '@readme/openapi-parser'
import { Ajv2020 } from 'ajv/dist/2020.js'
import addFormats from 'ajv-formats'
import type { FastifyInstance } from 'fastify'
import t from 'tap'
import { hoistTitledSchemas } from '../../plugins/docs/openapi-components.js'
import { build, createPost, createUser } from '../helpers/app.js'

interface MediaType { schema?: Record<string, unknown>, example?: unknown }

interface Operation {
  operationId?: string
  summary?: string
  tags?: string[]
  security?: Record<string, string[]>[]
  description?: string
  parameters?: { name: string, in: string, required?: boolean, schema?: { default?: unknown } }[]
  requestBody?: { content?: Record<string, MediaType> }
  responses?: Record<string, { description?: string, headers?: Record<string, { schema?: { type?: string } }>, content?: Record<string, MediaType> }>
}

interface OpenApiDocument {
  openapi: string
  paths: Record<string, Record<string, Operation>>
  tags?: { name: string, description?: string }[]
  security?: unknown[]
  servers?: { url: string }[]
  components?: {
    securitySchemes?: Record<string, { type?: string, flows?: { password?: { tokenUrl?: string, refreshUrl?: string } } }>
    schemas?: Record<string, Record<string, unknown>>
  }
}

const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace']

const CONTRACT_STATUSES: Record<string, Record<string, string[]>> = {
  '/': { get: ['200'] },
  '/users': { post: ['201', '409', '422', '429'] },
  '/users/{id}': { get: ['200', '404', '422'] },
  '/users/me': { get: ['200', '401'], delete: ['204', '401', '403', '422'] },
  '/users/me/password': { put: ['204', '401', '403', '422'] },
  '/auth/token': { post: ['200', '400', '429'] },
  '/auth/logout': { post: ['204', '401', '422'] },
  '/auth/sessions': { get: ['200', '401'] },
  '/auth/sessions/{id}': { delete: ['204', '401', '404', '422'] },
  '/users/{id}/posts': { get: ['200', '304', '401', '404', '422'] },
  '/login': { post: ['200', '403', '422', '429'] },
  '/posts': { get: ['200', '304', '401', '422'], post: ['201', '401', '422'] },
  '/posts/{id}': {
    get: ['200', '304', '401', '404', '422'],
    put: ['200', '401', '403', '404', '412', '422'],
    patch: ['200', '401', '403', '404', '412', '422'],
    delete: ['204', '401', '403', '404', '412', '422']
  },
  '/vote': { post: ['201', '401', '404', '409', '422'] },
  '/stream': { get: ['200', '401', '422', '503'] },
  '/stream/tickets': { post: ['201', '401', '422'] },
  '/health': { get: ['200'] },
  '/ready': { get: ['200', '503'] }
}

const PROTECTED = [['/users/me', 'get'], ['/users/me', 'delete'], ['/users/me/password', 'put'], ['/auth/logout', 'post'], ['/auth/sessions', 'get'], ['/auth/sessions/{id}', 'delete'], ['/users/{id}/posts', 'get'], ['/posts', 'get'], ['/posts', 'post'], ['/posts/{id}', 'get'], ['/posts/{id}', 'put'], ['/posts/{id}', 'patch'], ['/posts/{id}', 'delete'], ['/vote', 'post'], ['/stream', 'get'], ['/stream/tickets', 'post']]
const PUBLIC = [['/', 'get'], ['/users', 'post'], ['/users/{id}', 'get'], ['/login', 'post'], ['/auth/token', 'post']]

function operations (doc: OpenApiDocument): [path: string, method: string, operation: Operation][] {
  return Object.entries(doc.paths).flatMap(([path, item]) =>
    Object.entries(item).filter(([method]) => HTTP_METHODS.includes(method)).map(([method, operation]): [string, string, Operation] => [path, method, operation]))
}

function resolvePointer (doc: unknown, ref: string): unknown {
  return ref.slice(2).split('/').reduce<unknown>((node, segment) =>
    (node as Record<string, unknown> | undefined)?.[segment.replace(/~1/g, '/').replace(/~0/g, '~')], doc)
}

/** Where, under `node` (following local `$ref`s), an object schema declares a `password` property. */
function passwordProperties (doc: unknown, node: unknown, where: string, seen = new Set<unknown>()): string[] {
  if (node === null || typeof node !== 'object' || seen.has(node)) return []
  seen.add(node)
  const record = node as Record<string, unknown>
  const found: string[] = []
  const properties = record.properties as Record<string, unknown> | undefined
  if (properties && typeof properties === 'object' && 'password' in properties) found.push(where)
  if (typeof record.$ref === 'string' && record.$ref.startsWith('#/')) {
    found.push(...passwordProperties(doc, resolvePointer(doc, record.$ref), `${where} -> ${record.$ref}`, seen))
  }
  for (const [key, value] of Object.entries(record)) found.push(...passwordProperties(doc, value, `${where}/${key}`, seen))
  return found
}

async function htmlAssets (app: FastifyInstance, page: string) {
  const response = await app.inject({ url: page })
  const refs = [...response.body.matchAll(/<(?:script|link)\b[^>]*?\b(?:src|href)\s*=\s*["']([^"']+)["']/gi)].map(match => match[1]!)
  return { response, refs }
}

const app = await build(t)
const doc: OpenApiDocument = (await app.inject({ url: '/openapi.json' })).json()

t.test('GET /openapi.json is an OpenAPI 3 document served as JSON', async t => {
  const response = await app.inject({ url: '/openapi.json' })
  t.equal(response.statusCode, 200)
  t.match(response.headers['content-type'], /^application\/json/)
  t.match(doc.openapi, /^3\.\d+\.\d+$/)
  t.type(doc.paths, 'object')
})

t.test('the document lists every route of the contract with its methods, and no others', async t => {
  const listed = Object.fromEntries(Object.entries(doc.paths).map(([path, item]) =>
    [path, Object.keys(item).filter(method => HTTP_METHODS.includes(method)).sort()]))
  const expected = Object.fromEntries(Object.entries(CONTRACT_STATUSES).map(([path, methods]) => [path, Object.keys(methods).sort()]))
  t.strictSame(listed, expected)
})

t.test('every operation has a summary and a tag', async t => {
  const all = operations(doc)
  t.equal(all.length, 23)
  for (const [path, method, operation] of all) {
    t.match(operation.summary, /\S/, `${method} ${path} summary`)
    t.ok(Array.isArray(operation.tags) && operation.tags.length > 0, `${method} ${path} tags`)
  }
})

t.test('a parameter with a default is optional, so Swagger UI lets it be left out', async t => {
  const defaulted = operations(doc).flatMap(([path, method, operation]) =>
    (operation.parameters ?? []).filter(parameter => parameter.schema?.default !== undefined).map(parameter => ({ operation: `${method} ${path}`, ...parameter })))
  t.ok(defaulted.length >= 3, 'GET /posts documents limit, skip and search with their defaults')
  for (const parameter of defaulted) t.notOk(parameter.required, `${parameter.operation} ${parameter.in} ${parameter.name} is optional`)
})

t.test('the document passes an OpenAPI 3.1 validator', async t => {
  const result = await validate(structuredClone(doc) as Parameters<typeof validate>[0])
  t.same(result.valid ? [] : result.errors, [], 'no errors')
  t.same(result.warnings, [], 'no warnings')
  t.equal(result.specification, 'OpenAPI')
})

t.test('every operation is described, and every status it answers says what it means', async t => {
  for (const [path, method, operation] of operations(doc)) {
    t.match(operation.description, /\S/, `${method} ${path} has a description`)
    for (const [status, response] of Object.entries(operation.responses ?? {})) {
      t.ok(response.description && response.description !== 'Default Response', `${method} ${path} ${status}: ${response.description}`)
    }
  }
})

/** Every property an object schema declares, as paths into a value, following `$ref`s and arrays. */
function declaredPaths (node: unknown, prefix = ''): string[] {
  const schema = typeof (node as { $ref?: unknown })?.$ref === 'string' ? resolvePointer(doc, (node as { $ref: string }).$ref) : node
  const record = (schema ?? {}) as { properties?: Record<string, unknown>, items?: unknown, type?: unknown }
  if (record.type === 'array' && record.items) return declaredPaths(record.items, `${prefix}[0]`)
  return Object.entries(record.properties ?? {}).flatMap(([name, property]) => [`${prefix}.${name}`, ...declaredPaths(property, `${prefix}.${name}`)])
}

function pathsOf (value: unknown, prefix = ''): string[] {
  if (Array.isArray(value)) return value.length > 0 ? pathsOf(value[0], `${prefix}[0]`) : []
  if (value === null || typeof value !== 'object') return []
  return Object.entries(value).flatMap(([name, field]) => [`${prefix}.${name}`, ...pathsOf(field, `${prefix}.${name}`)])
}

t.test('every request and response body has an example that fills every field and matches its schema', async t => {
  const ajv = new Ajv2020({ strict: false, allErrors: true })
  addFormats.default(ajv)
  ajv.addSchema({ ...doc, $id: 'openapi.json' } as object)
  let bodies = 0
  for (const [path, method, operation] of operations(doc)) {
    const contents = [['request', operation.requestBody?.content], ...Object.entries(operation.responses ?? {}).map(([status, response]) => [status, response.content])] as const
    for (const [which, content] of contents) {
      for (const [type, media] of Object.entries(content ?? {})) {
        const name = `${method} ${path} ${which} (${type})`
        bodies++
        t.not(media.example, undefined, `${name} has an example`)
        const validateExample = ajv.compile(JSON.parse(JSON.stringify(media.schema).replaceAll('"$ref":"#/', '"$ref":"openapi.json#/')))
        t.ok(validateExample(media.example), `${name}: the example matches the schema ${JSON.stringify(validateExample.errors ?? [])}`)
        t.strictSame(pathsOf(media.example).sort(), declaredPaths(media.schema).sort(), `${name}: the example gives every field`)
      }
    }
  }
  t.ok(bodies >= 40, `${bodies} bodies checked`)
})

t.test('operations are grouped under the Users, Authentication, Posts, Vote and Live updates tags', async t => {
  const tagOf = (path: string, method: string) => doc.paths[path]?.[method]?.tags
  t.strictSame(tagOf('/users', 'post'), ['Users'])
  t.strictSame(tagOf('/users/{id}', 'get'), ['Users'])
  t.strictSame(tagOf('/users/me', 'get'), ['Users'])
  t.strictSame(tagOf('/login', 'post'), ['Authentication'])
  for (const method of ['get', 'put', 'patch', 'delete']) t.strictSame(tagOf('/posts/{id}', method), ['Posts'], `${method} /posts/{id}`)
  for (const method of ['get', 'post']) t.strictSame(tagOf('/posts', method), ['Posts'], `${method} /posts`)
  t.strictSame(tagOf('/vote', 'post'), ['Vote'])
  t.strictSame(tagOf('/stream', 'get'), ['Live updates'])
  t.strictSame(tagOf('/stream/tickets', 'post'), ['Live updates'])
})

t.test('GET /stream is documented as an event stream, with the stream ticket in its query', async t => {
  const operation = doc.paths['/stream']?.get
  const content = operation?.responses?.['200']?.content ?? {}
  t.strictSame(Object.keys(content), ['text/event-stream'])
  t.match(content['text/event-stream']?.example, /^id: \d+\nevent: post\.created\ndata: \{/m, 'the example is SSE framing')
  t.ok(operation?.parameters?.some(parameter => parameter.in === 'query' && parameter.name === 'ticket'), 'ticket')
  t.ok(operation?.parameters?.some(parameter => parameter.in === 'header' && parameter.name === 'last-event-id'), 'Last-Event-ID')
  t.strictSame(schemaOf(doc.paths['/stream/tickets']?.post, '201'), ref('StreamTicket'), 'POST /stream/tickets answers a StreamTicket')
})

t.test('each tag the operations use is declared with a description', async t => {
  const declared = new Map((doc.tags ?? []).map(tag => [tag.name, tag.description]))
  for (const name of ['Users', 'Authentication', 'Posts', 'Vote', 'Live updates']) {
    t.match(declared.get(name), /\S/, `${name} has a description`)
  }
  for (const [path, method, operation] of operations(doc)) {
    for (const tag of operation.tags ?? []) t.ok(declared.has(tag), `${method} ${path} uses declared tag ${tag}`)
  }
})

/** Statuses any route may answer for reasons of its own kind rather than its own logic (see the test below). */
const CROSS_CUTTING = ['400', '413', '415', '429', '500', '503']

t.test('each operation documents the status codes the contract gives it', async t => {
  for (const [path, methods] of Object.entries(CONTRACT_STATUSES)) {
    for (const [method, statuses] of Object.entries(methods)) {
      const documented = Object.keys(doc.paths[path]?.[method]?.responses ?? {}).sort()
      t.strictSame(documented.filter(status => !CROSS_CUTTING.includes(status)), statuses.filter(status => !CROSS_CUTTING.includes(status)), `${method} ${path}`)
      t.strictSame(statuses.filter(status => !documented.includes(status)), [], `${method} ${path} documents all of ${statuses.join(', ')}`)
    }
  }
})

t.test('400, 413, 415, 429, 500 and 503 are documented wherever they can be answered, with Retry-After on 429 and 503', async t => {
  const NOT_LIMITED = ['/health', '/ready'] // their config turns the rate limit off
  const BODY_METHODS = ['post', 'put', 'patch', 'delete'] // Fastify reads a DELETE's body too
  for (const [path, method, operation] of operations(doc)) {
    const responses = operation.responses ?? {}
    const name = `${method} ${path}`
    t.equal('429' in responses, !NOT_LIMITED.includes(path), `${name}: 429 ${NOT_LIMITED.includes(path) ? 'not ' : ''}documented`)
    // /health is never shed and reads no database, but a draining server refuses it too.
    t.ok('503' in responses, `${name}: 503 documented`)
    t.ok('500' in responses, `${name}: 500`)
    t.equal('400' in responses, BODY_METHODS.includes(method), `${name}: 400`)
    t.equal('413' in responses, BODY_METHODS.includes(method), `${name}: 413`)
    // The token endpoint answers a body that is no form as RFC 6749 does: a 400 `invalid_request`.
    t.equal('415' in responses, BODY_METHODS.includes(method) && path !== '/auth/token', `${name}: 415`)
    for (const status of ['429', '503'].filter(status => status in responses)) {
      t.strictSame(responses[status]?.headers?.['Retry-After']?.schema, { type: 'integer' }, `${name} ${status} has a Retry-After header in seconds`)
    }
    const example = (status: string) => (responses[status]?.content?.['application/json']?.example as { detail?: string } | undefined)?.detail
    if ('400' in responses && path !== '/auth/token') t.equal(example('400'), path === '/login' ? 'The form body could not be read' : 'Request body size did not match Content-Length', `${name} 400 example`)
    t.equal(example('500'), 'Internal Server Error', `${name} 500 example`)
    if ('413' in responses) t.equal(example('413'), 'Request body is too large', `${name} 413 example`)
    if ('415' in responses) t.equal(example('415'), 'Unsupported Media Type', `${name} 415 example`)
    if ('429' in responses) t.match(example('429'), /^Too many requests: retry in \d+ seconds$/, `${name} 429 example`)
    if ('503' in responses) t.equal(example('503'), 'Service unavailable', `${name} 503 example`)
  }
  t.strictSame(doc.paths['/posts']?.get?.responses?.['401']?.headers?.['WWW-Authenticate']?.schema, { type: 'string' }, 'a 401 documents its WWW-Authenticate header')
  t.equal((doc.paths['/posts']?.get?.responses?.['401']?.headers?.['WWW-Authenticate'] as { required?: boolean }).required, true, 'which is always sent')
})

const schemaOf = (operation: Operation | undefined, status?: string) =>
  (status ? operation?.responses?.[status]?.content?.['application/json'] : Object.values(operation?.requestBody?.content ?? {})[0])?.schema
const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` })
const component = (name: string) => doc.components?.schemas?.[name] as { properties?: Record<string, Record<string, unknown>>, [key: string]: unknown } | undefined

t.test('the shared shapes are named components, referenced where they are used', async t => {
  const names = Object.keys(doc.components?.schemas ?? {})
  for (const name of ['UserOut', 'UserCreate', 'Body_login_login_post', 'Token', 'Post', 'PostOut', 'PostCreate', 'PostPatch', 'VoteIn', 'VoteMessage', 'HTTPError', 'HTTPValidationError', 'ValidationError']) {
    t.ok(names.includes(name), `components.schemas has ${name}`)
    t.equal(component(name)?.title, name, `${name} keeps its title`)
  }
  const { paths } = doc
  t.strictSame(schemaOf(paths['/users']?.post), ref('UserCreate'), 'POST /users takes a UserCreate')
  t.strictSame(schemaOf(paths['/users']?.post, '201'), ref('UserOut'), 'POST /users answers a UserOut')
  t.strictSame(schemaOf(paths['/users/me']?.get, '200'), ref('UserOut'), 'GET /users/me answers a UserOut')
  t.strictSame(schemaOf(paths['/login']?.post), ref('Body_login_login_post'), 'POST /login takes the login form')
  t.strictSame(schemaOf(paths['/login']?.post, '200'), ref('Token'), 'POST /login answers a Token')
  t.strictSame((schemaOf(paths['/posts']?.get, '200') as { items?: unknown })?.items, ref('PostOut'), 'GET /posts answers a list of PostOut')
  t.strictSame(schemaOf(paths['/posts/{id}']?.get, '200'), ref('PostOut'), 'GET /posts/{id} answers a PostOut')
  t.strictSame(schemaOf(paths['/posts']?.post), ref('PostCreate'), 'POST /posts takes a PostCreate')
  t.strictSame(schemaOf(paths['/posts/{id}']?.put), ref('PostCreate'), 'PUT /posts/{id} takes a PostCreate')
  t.strictSame(schemaOf(paths['/posts/{id}']?.patch), ref('PostPatch'), 'PATCH /posts/{id} takes a PostPatch')
  for (const method of ['put', 'patch']) t.strictSame(schemaOf(paths['/posts/{id}']?.[method], '200'), ref('Post'), `${method} /posts/{id} answers a Post`)
  t.strictSame(schemaOf(paths['/vote']?.post), ref('VoteIn'), 'POST /vote takes a VoteIn')
  t.strictSame(schemaOf(paths['/vote']?.post, '201'), ref('VoteMessage'), 'POST /vote answers a VoteMessage')
  t.strictSame(component('PostOut')?.properties?.Post, ref('Post'), 'PostOut refers to Post')
  t.strictSame(component('Post')?.properties?.owner, ref('UserOut'), 'Post refers to UserOut')
  t.strictSame((component('HTTPValidationError')?.properties?.detail as { items?: unknown })?.items, ref('ValidationError'), 'HTTPValidationError refers to ValidationError')
  for (const [path, method, operation] of operations(doc)) {
    for (const [status, response] of Object.entries(operation.responses ?? {})) {
      const schema = response.content?.['application/json']?.schema
      if (status === '422') t.strictSame(schema, ref('HTTPValidationError'), `${method} ${path} 422`)
      // The token endpoint's 400 is RFC 6749's error body.
      else if (path === '/auth/token' && status === '400') t.strictSame(schema, ref('OAuthError'), `${method} ${path} ${status}`)
      else if (Number(status) >= 400) t.strictSame(schema, ref('HTTPError'), `${method} ${path} ${status}`)
    }
  }
})

t.test('no schema is left inline with a title: each titled one is a component', async t => {
  const inline: string[] = []
  const walk = (node: unknown, where: string) => {
    if (node === null || typeof node !== 'object') return
    if (typeof (node as { title?: unknown }).title === 'string' && (node as { type?: unknown }).type !== undefined) inline.push(where)
    for (const [key, value] of Object.entries(node)) if (key !== 'example' && key !== 'examples') walk(value, `${where}/${key}`)
  }
  walk(doc.paths, 'paths')
  t.strictSame(inline, [])
})

t.test('a title names one schema: the same schema twice is one component, two different ones throw', async t => {
  const named = (description: string) => ({ title: 'Thing', type: 'object', properties: { name: { type: 'string' } }, description })
  const documentWith = (first: object, second: object) => ({
    paths: {
      '/a': { get: { responses: { 200: { content: { 'application/json': { schema: first } } } } } },
      '/b': { post: { requestBody: { content: { 'application/json': { schema: { type: 'array', items: second } } } } } }
    }
  })
  const same = hoistTitledSchemas(documentWith(named('A thing'), named('A thing'))) as unknown as OpenApiDocument
  t.strictSame(Object.keys(same.components?.schemas ?? {}), ['Thing'])
  t.strictSame(schemaOf(same.paths['/a']?.get, '200'), ref('Thing'))
  t.strictSame((schemaOf(same.paths['/b']?.post) as { items?: unknown }).items, ref('Thing'))
  t.throws(() => hoistTitledSchemas(documentWith(named('A thing'), named('Another thing'))),
    /Two different schemas are titled "Thing": at paths\/\/a\/get\/responses\/200\/application\/json and at paths\/\/b\/post\/requestBody\/application\/json\/items/)
  t.throws(() => hoistTitledSchemas(documentWith({ ...named('A thing'), title: 'A thing' }, {})), /cannot name a component/)
})

t.test('every operation has a stable, readable and unique operationId', async t => {
  const ids = Object.fromEntries(operations(doc).map(([path, method, operation]) => [`${method} ${path}`, operation.operationId]))
  t.strictSame(ids, {
    'get /': 'getRoot',
    'get /health': 'checkHealth',
    'get /ready': 'checkReady',
    'post /users': 'createUser',
    'get /users/me': 'getCurrentUser',
    'get /users/{id}': 'getUser',
    'get /users/{id}/posts': 'listUserPosts',
    'post /login': 'login',
    'get /posts': 'listPosts',
    'post /posts': 'createPost',
    'get /posts/{id}': 'getPost',
    'put /posts/{id}': 'replacePost',
    'patch /posts/{id}': 'patchPost',
    'delete /posts/{id}': 'deletePost',
    'post /vote': 'vote',
    'get /stream': 'openStream',
    'post /stream/tickets': 'createStreamTicket',
    'post /auth/token': 'token',
    'post /auth/logout': 'logout',
    'get /auth/sessions': 'listSessions',
    'delete /auth/sessions/{id}': 'endSession',
    'put /users/me/password': 'changePassword',
    'delete /users/me': 'deleteAccount'
  })
})

t.test('the document says what a client may send and get: dir is 0 or 1, a PATCH names a field, a vote answers one of two messages', async t => {
  t.match(component('VoteIn')?.properties?.dir, { type: 'integer', enum: [0, 1] }, 'dir is the integer 0 or 1')
  t.equal(component('PostPatch')?.minProperties, 1, 'a PATCH body has at least one field')
  t.match(component('VoteMessage')?.properties?.message, { type: 'string', enum: ['successfully added vote', 'successfully deleted vote'] })
})

t.test('the server still answers dir 2 and an empty PATCH with the same 422 bodies', async t => {
  const app = await build(t)
  const user = await createUser(app)
  const post = await createPost(app, user)
  const dir2 = await app.inject({ method: 'POST', url: '/vote', headers: user.headers, payload: { post_id: post.id, dir: 2 } })
  t.equal(dir2.statusCode, 422)
  t.strictSame(dir2.json(), { detail: [{ loc: ['body', 'dir'], msg: 'Input should be less than or equal to 1', type: 'less_than_equal' }] })
  const dirText = await app.inject({ method: 'POST', url: '/vote', headers: user.headers, payload: { post_id: post.id, dir: 'up' } })
  t.strictSame(dirText.json(), { detail: [{ loc: ['body', 'dir'], msg: 'Input should be a valid integer', type: 'int_parsing' }] }, 'one problem for a text dir')
  const empty = { detail: [{ loc: ['body'], msg: 'At least one of title, content and published must be given', type: 'missing' }] }
  for (const payload of [{}, { colour: 'blue' }]) {
    const response = await app.inject({ method: 'PATCH', url: `/posts/${post.id}`, headers: user.headers, payload })
    t.equal(response.statusCode, 422, JSON.stringify(payload))
    t.strictSame(response.json(), empty, JSON.stringify(payload))
  }
})

t.test('the document names its server: relative, so it is right behind any host or proxy', async t => {
  t.strictSame(doc.servers, [{ url: '/', description: 'This server' }])
})

t.test('the security schemes are OAuth2 password flows: the course\'s at /login, and the token endpoint, which can refresh', async t => {
  const schemes = doc.components?.securitySchemes ?? {}
  const passwordSchemes = Object.entries(schemes).filter(([, scheme]) => scheme.type === 'oauth2' && scheme.flows?.password)
  t.strictSame(passwordSchemes.map(([, scheme]) => scheme.flows?.password), [
    { tokenUrl: '/login', scopes: {} },
    { tokenUrl: '/auth/token', refreshUrl: '/auth/token', scopes: {} }
  ])
  for (const [path, method, operation] of operations(doc).filter(([, , operation]) => operation.security?.length)) {
    t.strictSame(operation.security, [{ OAuth2PasswordBearer: [] }, { OAuth2TokenEndpoint: [] }], `${method} ${path} takes a token from either`)
  }
})

t.test('protected operations require the OAuth2 scheme; public ones require nothing', async t => {
  const schemeName = Object.entries(doc.components?.securitySchemes ?? {}).find(([, scheme]) => scheme.type === 'oauth2')?.[0]
  t.ok(schemeName)
  t.notOk(doc.security?.length, 'no document-wide security requirement')
  for (const [path, method] of PROTECTED) {
    const security = doc.paths[path]?.[method]?.security ?? []
    t.ok(security.some(requirement => schemeName! in requirement), `${method} ${path} requires ${schemeName}`)
  }
  for (const [path, method] of PUBLIC) {
    t.notOk(doc.paths[path]?.[method]?.security?.length, `${method} ${path} is public`)
  }
})

t.test('POST /login takes an url-encoded form with username and password', async t => {
  const content = doc.paths['/login']?.post?.requestBody?.content ?? {}
  t.ok('application/x-www-form-urlencoded' in content)
  t.notOk('application/json' in content)
  const schema = content['application/x-www-form-urlencoded']?.schema as { $ref?: string } | undefined
  t.match(schema?.$ref ? resolvePointer(doc, schema.$ref) : schema, { properties: { username: {}, password: {} } })
})

t.test('no response schema has a password property', async t => {
  const requestFields = passwordProperties(doc, doc.paths['/users']?.post?.requestBody, 'POST /users requestBody')
  t.ok(requestFields.length > 0, 'the walk finds the password field of the registration body')
  const leaks = operations(doc).flatMap(([path, method, operation]) =>
    passwordProperties(doc, operation.responses, `${method} ${path} responses`))
  t.strictSame(leaks, [])
})

t.test('Swagger UI is served at /docs and /docs/ from local assets only', async t => {
  for (const page of ['/docs', '/docs/']) {
    const { response, refs } = await htmlAssets(app, page)
    t.equal(response.statusCode, 200, page)
    t.match(response.headers['content-type'], /^text\/html/, page)
    t.match(response.body, /swagger-ui/i, page)
    t.ok(refs.some(ref => /swagger-ui-bundle\.js$/.test(ref)), `${page} loads the Swagger UI bundle`)
    for (const ref of refs) {
      t.notMatch(ref, /^(?:https?:)?\/\//i, `${page} references ${ref} on this host`)
      const asset = await app.inject({ url: new URL(ref, `http://localhost${page}`).pathname })
      t.equal(asset.statusCode, 200, `${page} -> ${ref}`)
      if (ref.endsWith('.js')) t.match(asset.headers['content-type'], /javascript/, `${ref} is JavaScript`)
      if (ref.endsWith('.css')) t.match(asset.headers['content-type'], /^text\/css/, `${ref} is CSS`)
    }
  }
})

t.test('Swagger UI loads the document from this server and calls no external validator', async t => {
  const initializer = await app.inject({ url: '/docs/static/swagger-initializer.js' })
  t.equal(initializer.statusCode, 200)
  t.match(initializer.body, /validatorUrl:\s*null/)
  const spec = await app.inject({ url: '/docs/json' })
  t.equal(spec.statusCode, 200)
  t.strictSame(Object.keys(spec.json().paths).sort(), Object.keys(doc.paths).sort())
})

t.test('GET /redoc serves ReDoc with a policy that keeps images on this host', async t => {
  for (const page of ['/redoc', '/redoc/']) {
    const { response, refs } = await htmlAssets(app, page)
    t.equal(response.statusCode, 200, page)
    t.match(response.headers['content-type'], /^text\/html/, page)
    t.match(String(response.headers['content-security-policy']), /img-src 'self' data:(;|$)/, page)
    t.match(response.body, /spec-url="\/openapi\.json"/, page)
    t.ok(refs.includes('/redoc/redoc.standalone.js'), `${page} loads the local ReDoc bundle`)
    for (const ref of refs) t.notMatch(ref, /^(?:https?:)?\/\//i, `${page} references ${ref} on this host`)
  }
  const script = await app.inject({ url: '/redoc/redoc.standalone.js' })
  t.equal(script.statusCode, 200)
  t.match(script.headers['content-type'], /javascript/)
  t.ok(script.rawPayload.length > 100_000, 'the whole ReDoc bundle is served')
})

t.test('the feeds\' parameters, their values and the Link header are documented', async t => {
  const parameter = (path: string, name: string) => doc.paths[path]?.get?.parameters?.find(entry => entry.in === 'query' && entry.name === name)
  const schemaOf = (path: string, name: string) => {
    const schema = parameter(path, name)?.schema as { $ref?: string, enum?: unknown[], default?: unknown } | undefined
    return (schema?.$ref ? resolvePointer(doc, schema.$ref) : schema) as { enum?: unknown[], default?: unknown, anyOf?: { const?: unknown }[] } | undefined
  }
  const values = (path: string, name: string) => {
    const schema = schemaOf(path, name)
    return schema?.enum ?? schema?.anyOf?.map(option => option.const)
  }
  for (const path of ['/posts', '/users/{id}/posts']) {
    for (const name of ['limit', 'skip', 'search', 'sort', 't', 'cursor', 'include']) t.ok(parameter(path, name), `${path}: ${name}`)
    t.strictSame(values(path, 'sort'), ['new', 'top', 'hot'], `${path}: sort's values`)
    t.strictSame(values(path, 't'), ['hour', 'day', 'week', 'month', 'year', 'all'], `${path}: t's values`)
    t.strictSame(values(path, 'include'), ['voted'], `${path}: include's value`)
    t.equal(schemaOf(path, 'sort')?.default, 'new', `${path}: newest first by default`)
    t.equal(schemaOf(path, 't')?.default, 'all', `${path}: no window by default`)
    const link = doc.paths[path]?.get?.responses?.['200']?.headers?.Link
    t.ok(link, `${path}: the 200 documents its Link header`)
    t.match((link as { description?: string } | undefined)?.description, /rel="next"/, `${path}: as the next page's link`)
  }
  t.strictSame(values('/posts/{id}', 'include'), ['voted'], '/posts/{id}: include')
})
