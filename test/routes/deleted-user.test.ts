import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify'
import pg from 'pg'
import t, { type Test } from 'tap'
import { build, createPost, createTestDatabase, createUser, sql, type TestUser } from '../helpers/app.js'
import { snapshot } from '../helpers/assertions.js'

// A token stays valid after its user is deleted (the JWT alone is fine); the route's statement
// finds no user and must answer 401 Could not validate credentials, writing nothing.

const noRateLimits = { config: { LOGIN_RATE_LIMIT: '0', RATE_LIMIT: '0' } }

const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace']

interface Operation { security?: Record<string, string[]>[] }
interface OpenApiDocument { paths: Record<string, Record<string, Operation>> }

/** The operations the contract protects: the document must list at least these. */
const CONTRACT_PROTECTED = ['GET /posts', 'POST /posts', 'GET /posts/{id}', 'PUT /posts/{id}', 'PATCH /posts/{id}', 'DELETE /posts/{id}', 'POST /vote', 'GET /users/me']

/**
 * For each protected operation, requests that succeed for a live user, in order, given the
 * post they aim at (the `{id}` of the path, or the post voted on). An operation the document
 * lists but this table does not is a failure: add its requests here.
 */
const VALID_REQUESTS: Record<string, (postId: number) => { request: Omit<InjectOptions, 'method' | 'url'> & { query?: string }, status: number }[]> = {
  'GET /users/me': () => [{ request: {}, status: 200 }],
  'GET /posts': () => [{ request: { query: 'limit=5&skip=0&search=title' }, status: 200 }, { request: {}, status: 200 }],
  'POST /posts': () => [
    { request: { payload: { title: 'A new title', content: 'New content', published: false } }, status: 201 },
    { request: { payload: { title: 'Only the required fields', content: 'Content' } }, status: 201 }
  ],
  'GET /posts/{id}': () => [{ request: {}, status: 200 }],
  'PUT /posts/{id}': postId => [{ request: { payload: { id: postId, title: 'Replaced', content: 'Replaced content', published: true } }, status: 200 }],
  'PATCH /posts/{id}': () => [{ request: { payload: { title: 'Patched' } }, status: 200 }, { request: { payload: { published: false } }, status: 200 }],
  'DELETE /posts/{id}': () => [{ request: {}, status: 204 }],
  'GET /users/{id}/posts': () => [{ request: { query: 'sort=hot&include=voted' }, status: 200 }, { request: {}, status: 200 }],
  'POST /vote': postId => [{ request: { payload: { post_id: postId, dir: 1 } }, status: 201 }, { request: { payload: { post_id: postId, dir: 0 } }, status: 201 }],
  'GET /auth/sessions': () => [{ request: {}, status: 200 }],
  'POST /auth/logout': () => [{ request: { query: 'scope=others' }, status: 204 }, { request: { query: 'scope=global' }, status: 204 }],
  'DELETE /auth/sessions/{id}': () => [{ request: {}, status: 204 }],
  'PUT /users/me/password': () => [{ request: { payload: { current_password: 'password123', new_password: 'another password' } }, status: 204 }],
  'DELETE /users/me': () => [{ request: { payload: { password: 'password123' } }, status: 204 }],
  'POST /stream/tickets': () => [{ request: {}, status: 201 }],
  'GET /stream': postId => [{ request: {}, status: 200 }, { request: { query: `post_id=${postId}` }, status: 200 }]
}

/** Operations whose success never ends (an event stream): an injected request cannot wait for it, so only the refusals are checked here (test/routes/stream*.test.ts opens them for real). */
const NEVER_ENDS = new Set(['GET /stream'])

/** Operations whose requests end the live user's session or the user: a user of their own makes them. */
const ENDS_THE_USER = new Set(['POST /auth/logout', 'DELETE /auth/sessions/{id}', 'PUT /users/me/password', 'DELETE /users/me'])

/** The session id (`sid`) a token carries. */
const sessionOf = (user: TestUser): string => JSON.parse(Buffer.from(user.token.split('.')[1]!, 'base64url').toString()).sid

function protectedOperations (doc: OpenApiDocument): { method: string, path: string, key: string }[] {
  return Object.entries(doc.paths).flatMap(([path, item]) => Object.entries(item)
    .filter(([method, operation]) => HTTP_METHODS.includes(method) && (operation.security?.length ?? 0) > 0)
    .map(([method]) => ({ method: method.toUpperCase(), path, key: `${method.toUpperCase()} ${path}` })))
}

function toInject (method: string, path: string, postId: number, request: Omit<InjectOptions, 'method' | 'url'> & { query?: string }, user: TestUser, trailingSlash = false): InjectOptions {
  const { query, ...rest } = request
  // A user's own resources are addressed by the user's id, a session by the token's, the others by the post's.
  const id = path.startsWith('/users/') ? user.id : path.startsWith('/auth/sessions/') ? sessionOf(user) : postId
  const url = `${path.replace(/\{[^}]+\}/g, String(id))}${trailingSlash ? '/' : ''}${query ? `?${query}` : ''}`
  return { ...rest, method: method as InjectOptions['method'], url, headers: user.headers }
}

function assertInvalidToken (t: Test, response: LightMyRequestResponse, name: string) {
  t.equal(response.statusCode, 401, `${name}: status`)
  t.strictSame(response.json(), { detail: 'Could not validate credentials' }, `${name}: body`)
  t.equal(response.headers['www-authenticate'], 'Bearer', `${name}: www-authenticate`)
}

t.test('a deleted user\'s token is a 401 on every protected operation of the OpenAPI document, and writes nothing', async t => {
  const app = await build(t, noRateLimits)
  const doc: OpenApiDocument = (await app.inject({ url: '/openapi.json' })).json()
  const operations = protectedOperations(doc)
  const keys = operations.map(operation => operation.key)
  t.ok(operations.length >= 8, `the document lists ${operations.length} protected operations (${keys.join(', ')})`)
  for (const key of CONTRACT_PROTECTED) t.ok(keys.includes(key), `${key} is protected in the document`)
  const fromDecorator = protectedOperations(app.swagger() as unknown as OpenApiDocument).map(operation => operation.key)
  t.strictSame(fromDecorator.sort(), [...keys].sort(), 'app.swagger() agrees with GET /openapi.json')

  const live = await createUser(app)
  const other = await createUser(app)
  const gone = await createUser(app)
  const othersPost = await createPost(app, other, { title: 'Someone else\'s title' })
  const ownPost = await createPost(app, gone, { title: 'The deleted user\'s title' })
  // Before the deletion the token works: the requests below are ones that succeed.
  t.equal((await app.inject({ url: '/users/me', headers: gone.headers })).statusCode, 200)
  t.equal((await app.inject({ method: 'POST', url: '/vote', headers: gone.headers, payload: { post_id: othersPost.id, dir: 1 } })).statusCode, 201)
  t.equal((await app.inject({ method: 'POST', url: '/vote', headers: live.headers, payload: { post_id: othersPost.id, dir: 1 } })).statusCode, 201)

  await sql(app, 'delete from users where id = ?', [gone.id])
  t.equal((await sql(app, 'select id from posts where id = ?', [ownPost.id])).length, 0, 'the user\'s own post went with them')

  for (const { method, path, key } of operations) {
    const requests = VALID_REQUESTS[key]
    if (!requests) {
      t.fail(`${key} is protected but this test has no valid request for it: add one to VALID_REQUESTS`)
      continue
    }

    // The same requests succeed for a live user, on a post of their own.
    const actor = ENDS_THE_USER.has(key) ? await createUser(app) : live
    const livePost = await createPost(app, actor)
    for (const { request, status } of NEVER_ENDS.has(key) ? [] : requests(livePost.id)) {
      const response = await app.inject(toInject(method, path, livePost.id, request, actor))
      t.equal(response.statusCode, status, `live user: ${key} ${JSON.stringify(request)} -> ${response.body}`)
    }

    // The deleted user's token: on the post they owned (now gone), and on one that exists.
    const before = await snapshot(app)
    for (const postId of [ownPost.id, othersPost.id]) {
      for (const trailingSlash of [false, true]) {
        for (const { request } of requests(postId)) {
          const options = toInject(method, path, postId, request, gone, trailingSlash)
          assertInvalidToken(t, await app.inject(options), `deleted user: ${options.method} ${options.url} ${JSON.stringify(request.payload ?? '')}`)
        }
      }
    }
    t.strictSame(await snapshot(app), before, `${key}: nothing was written`)
  }
})

t.test('a user deleted while their votes and posts are being written: never a 5xx', async t => {
  const app = await build(t, noRateLimits)
  const others = [await createUser(app), await createUser(app), await createUser(app)]
  const posts = [await createPost(app, others[0]!), await createPost(app, others[1]!), await createPost(app, others[2]!)]
  const seen: Record<number, number> = {}
  for (let round = 0; round < 8; round++) {
    const victim = await createUser(app)
    const ownPost = await createPost(app, victim)
    const targets = [...posts.map(post => post.id), ownPost.id]
    const requests = targets.flatMap(postId => [1, 0, 1, 1, 0].map(dir =>
      app.inject({ method: 'POST', url: '/vote', headers: victim.headers, payload: { post_id: postId, dir } })))
    requests.push(app.inject({ method: 'POST', url: '/posts', headers: victim.headers, payload: { title: 'Racing', content: 'the deletion' } }))
    // The deletion starts among the requests, at a point that moves with the round.
    const [, ...responses] = await Promise.all([
      new Promise(resolve => setTimeout(resolve, round)).then(() => sql(app, 'delete from users where id = ?', [victim.id])),
      ...requests
    ])
    for (const response of responses as LightMyRequestResponse[]) seen[response.statusCode] = (seen[response.statusCode] ?? 0) + 1
    t.strictSame((responses as LightMyRequestResponse[]).filter(r => r.statusCode >= 500).map(r => `${r.statusCode} ${r.body}`), [], `round ${round}: no 5xx`)
    t.equal((await sql(app, 'select 1 from votes where user_id = ?', [victim.id])).length, 0, `round ${round}: no vote of the deleted user remains`)
    t.equal((await sql(app, 'select 1 from posts where owner_id = ?', [victim.id])).length, 0, `round ${round}: no post of the deleted user remains`)
    const after = await app.inject({ url: '/users/me', headers: victim.headers })
    assertInvalidToken(t, after, `round ${round}: afterwards`)
  }
  t.comment(`statuses seen: ${JSON.stringify(seen)}`)
  const drift = await sql(app, `select p.id from posts p left join vote_counts c on c.post_id = p.id
    where coalesce(c.votes, 0) <> (select count(*) from votes v where v.post_id = p.id)`)
  t.strictSame(drift, [], 'vote counts still equal the rows')
})

async function waitForLockWait (app: FastifyInstance) {
  for (let attempt = 0; attempt < 400; attempt++) {
    const [row] = await sql<{ n: number }>(app, "select count(*)::int as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'")
    if (row!.n > 0) return
    await new Promise(resolve => setTimeout(resolve, 25))
  }
  throw new Error('no query ever waited for the lock')
}

t.test('a vote that waits for its user\'s deletion to commit: no 5xx, nothing written', async t => {
  const databaseUrl = await createTestDatabase(t)
  const app = await build(t, { ...noRateLimits, databaseUrl })
  const owner = await createUser(app)
  const post = await createPost(app, owner)
  const cases: [string, (victim: TestUser) => Promise<LightMyRequestResponse>][] = [
    ['POST /vote dir 1', victim => app.inject({ method: 'POST', url: '/vote', headers: victim.headers, payload: { post_id: post.id, dir: 1 } })],
    ['POST /vote dir 0', victim => app.inject({ method: 'POST', url: '/vote', headers: victim.headers, payload: { post_id: post.id, dir: 0 } })],
    ['POST /posts', victim => app.inject({ method: 'POST', url: '/posts', headers: victim.headers, payload: { title: 'Racing', content: 'the deletion' } })]
  ]
  for (const [name, send] of cases) {
    const victim = await createUser(app)
    if (name.endsWith('dir 0')) t.equal((await app.inject({ method: 'POST', url: '/vote', headers: victim.headers, payload: { post_id: post.id, dir: 1 } })).statusCode, 201)
    const deleter = new pg.Client({ connectionString: databaseUrl })
    await deleter.connect()
    let response: LightMyRequestResponse
    try {
      await deleter.query('begin')
      await deleter.query('delete from users where id = $1', [victim.id])
      const pending = send(victim)
      await waitForLockWait(app)
      await deleter.query('commit')
      response = await pending
    } finally {
      await deleter.end()
    }
    t.comment(`${name}: ${response.statusCode} ${response.body}`)
    t.ok(response.statusCode < 500, `${name}: not a 5xx (${response.statusCode} ${response.body})`)
    // The contract's answer for a user that no longer exists, even when it went mid-request.
    t.strictSame({ status: response.statusCode, body: response.json() }, { status: 401, body: { detail: 'Could not validate credentials' } },
      `${name}: the deleted user gets 401`)
    t.equal((await sql(app, 'select 1 from votes where user_id = ?', [victim.id])).length, 0, `${name}: no vote of the deleted user`)
    t.equal((await sql(app, 'select 1 from posts where owner_id = ?', [victim.id])).length, 0, `${name}: no post of the deleted user`)
  }
})
