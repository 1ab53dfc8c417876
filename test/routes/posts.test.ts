import type { FastifyInstance } from 'fastify'
import t from 'tap'
import { build, createPost, createUser, sql, type TestUser } from '../helpers/app.js'
import { assertValidationError, castVote } from '../helpers/assertions.js'

const TIMESTAMP = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/

type Loc = (string | number)[]

const createRequest = (user: TestUser, payload: unknown) =>
  ({ method: 'POST' as const, url: '/posts', headers: user.headers, payload: payload as object })

async function listTitles (app: FastifyInstance, user: TestUser, query: Record<string, string>): Promise<string[]> {
  const response = await app.inject({ url: '/posts', headers: user.headers, query })
  if (response.statusCode !== 200) throw new Error(`list failed: ${response.statusCode} ${response.body}`)
  return response.json().map((item: { Post: { title: string } }) => item.Post.title)
}

async function vote (app: FastifyInstance, user: TestUser, postId: number) {
  const response = await castVote(app, user, postId, 1)
  if (response.statusCode !== 201) throw new Error(`vote failed: ${response.statusCode} ${response.body}`)
}

async function storedPost (app: FastifyInstance, id: number) {
  const [row] = await sql(app, 'select title, content, published, owner_id from posts where id = ?', [id])
  return row
}

t.test('POST /posts answers 201 with exactly the new post and its owner', async t => {
  const app = await build(t)
  const user = await createUser(app)
  const response = await app.inject(createRequest(user, { title: 'Top beaches in Florida', content: 'Check them out' }))
  t.equal(response.statusCode, 201)
  const body = response.json()
  t.strictSame(body, {
    id: body.id,
    title: 'Top beaches in Florida',
    content: 'Check them out',
    published: true,
    created_at: body.created_at,
    owner_id: user.id,
    owner: { id: user.id, email: user.email, created_at: body.owner.created_at }
  })
  t.type(body.id, 'number')
  t.match(body.created_at, TIMESTAMP)
  t.match(body.owner.created_at, TIMESTAMP)
  t.strictSame(await storedPost(app, body.id), { title: 'Top beaches in Florida', content: 'Check them out', published: true, owner_id: user.id })
})

t.test('POST /posts keeps published false', async t => {
  const app = await build(t)
  const user = await createUser(app)
  const response = await app.inject(createRequest(user, { title: 'Draft', content: 'Not yet', published: false }))
  t.equal(response.statusCode, 201)
  t.equal(response.json().published, false)
  t.equal((await storedPost(app, response.json().id))?.published, false)
})

t.test('posts routes work with a trailing slash', async t => {
  const app = await build(t)
  const user = await createUser(app)
  const created = await app.inject({ ...createRequest(user, { title: 'Slash', content: 'Trailing' }), url: '/posts/' })
  t.equal(created.statusCode, 201)
  const { id } = created.json()
  const list = await app.inject({ url: '/posts/', headers: user.headers })
  t.equal(list.statusCode, 200)
  t.strictSame(list.json().map((item: { Post: { id: number } }) => item.Post.id), [id])
  const one = await app.inject({ url: `/posts/${id}/`, headers: user.headers })
  t.equal(one.statusCode, 200)
  t.equal(one.json().Post.id, id)
})

t.test('POST /posts without title or content is a 422 naming each missing field', async t => {
  const app = await build(t)
  const user = await createUser(app)
  const both = await app.inject(createRequest(user, {}))
  assertValidationError(t, both, [['body', 'title'], ['body', 'content']])
  t.match(both.json().detail[0], { msg: 'Field required', type: 'missing' })
  assertValidationError(t, await app.inject(createRequest(user, { content: 'c' })), [['body', 'title']], 'no title')
  assertValidationError(t, await app.inject(createRequest(user, { title: 't' })), [['body', 'content']], 'no content')
  t.strictSame(await sql(app, 'select id from posts'), [])
})

t.test('POST /posts refuses an empty title and a title over 300 characters', async t => {
  const app = await build(t)
  const user = await createUser(app)
  assertValidationError(t, await app.inject(createRequest(user, { title: '', content: 'c' })), [['body', 'title']], 'empty')
  assertValidationError(t, await app.inject(createRequest(user, { title: 'x'.repeat(301), content: 'c' })), [['body', 'title']], '301 characters')
  const longest = await app.inject(createRequest(user, { title: 'x'.repeat(300), content: 'c' }))
  t.equal(longest.statusCode, 201, '300 characters')
})

t.test('POST /posts refuses empty content and content over 50,000 characters', async t => {
  const app = await build(t)
  const user = await createUser(app)
  assertValidationError(t, await app.inject(createRequest(user, { title: 't', content: '' })), [['body', 'content']], 'empty')
  assertValidationError(t, await app.inject(createRequest(user, { title: 't', content: 'x'.repeat(50_001) })), [['body', 'content']], '50,001 characters')
  const longest = await app.inject(createRequest(user, { title: 't', content: 'x'.repeat(50_000) }))
  t.equal(longest.statusCode, 201, '50,000 characters')
  t.equal(longest.json().content.length, 50_000)
})

t.test('POST /posts refuses fields of the wrong type', async t => {
  const app = await build(t)
  const user = await createUser(app)
  assertValidationError(t, await app.inject(createRequest(user, { title: 123, content: 'c' })), [['body', 'title']], 'numeric title')
  assertValidationError(t, await app.inject(createRequest(user, { title: 't', content: 'c', published: 'yes' })), [['body', 'published']], 'string published')
  assertValidationError(t, await app.inject(createRequest(user, { title: 't', content: null })), [['body', 'content']], 'null content')
  t.strictSame(await sql(app, 'select id from posts'), [])
})

t.test('POST /posts with malformed JSON is a 422 about the body', async t => {
  const app = await build(t)
  const user = await createUser(app)
  const response = await app.inject({ method: 'POST', url: '/posts', headers: { ...user.headers, 'content-type': 'application/json' }, payload: '{"title": ' })
  t.equal(response.statusCode, 422)
  t.equal(response.json().detail[0].loc[0], 'body')
})

t.test('POST /posts ignores unknown fields, id and owner_id included', async t => {
  const app = await build(t)
  const user = await createUser(app)
  const other = await createUser(app)
  const response = await app.inject(createRequest(user, { id: 4242, owner_id: other.id, votes: 9, title: 't', content: 'c' }))
  t.equal(response.statusCode, 201)
  const body = response.json()
  t.not(body.id, 4242)
  t.equal(body.owner_id, user.id)
  t.notOk('votes' in body)
  t.strictSame(await sql(app, 'select id, owner_id from posts'), [{ id: body.id, owner_id: user.id }])
})

t.test('GET /posts lists PostOut items, newest first', async t => {
  const app = await build(t)
  const user = await createUser(app)
  const first = await createPost(app, user, { title: 'first' })
  const second = await createPost(app, user, { title: 'second', published: false })
  const third = await createPost(app, user, { title: 'third' })
  const response = await app.inject({ url: '/posts', headers: user.headers })
  t.equal(response.statusCode, 200)
  const body = response.json()
  t.strictSame(body.map((item: { Post: { id: number } }) => item.Post.id), [third.id, second.id, first.id])
  const [item] = body
  t.strictSame(item, {
    Post: {
      id: third.id,
      title: 'third',
      content: 'Some content',
      published: true,
      created_at: item.Post.created_at,
      owner_id: user.id,
      owner: { id: user.id, email: user.email, created_at: item.Post.owner.created_at }
    },
    votes: 0
  })
  t.match(item.Post.created_at, TIMESTAMP)
  t.equal(body[1].Post.published, false)
})

t.test('GET /posts returns ten posts by default and pages with limit and skip', async t => {
  const app = await build(t)
  const user = await createUser(app)
  const titles: string[] = []
  for (let i = 1; i <= 12; i++) {
    titles.unshift(`post ${i}`)
    await createPost(app, user, { title: `post ${i}` })
  }
  t.strictSame(await listTitles(app, user, {}), titles.slice(0, 10), 'default limit')
  t.strictSame(await listTitles(app, user, { limit: '3', skip: '2' }), titles.slice(2, 5), 'limit and skip')
  t.strictSame(await listTitles(app, user, { limit: '100' }), titles, 'limit 100')
  t.strictSame(await listTitles(app, user, { limit: '1' }), titles.slice(0, 1), 'limit 1')
  t.strictSame(await listTitles(app, user, { skip: '11' }), titles.slice(11), 'skip to the last')
  t.strictSame(await listTitles(app, user, { skip: '12' }), [], 'skip past the end')
})

t.test('GET /posts refuses a limit outside 1..100, a negative skip and non-integers', async t => {
  const app = await build(t)
  const user = await createUser(app)
  const cases: [Record<string, string>, Loc][] = [
    [{ limit: '0' }, ['query', 'limit']],
    [{ limit: '101' }, ['query', 'limit']],
    [{ limit: 'abc' }, ['query', 'limit']],
    [{ limit: '1.5' }, ['query', 'limit']],
    [{ skip: '-1' }, ['query', 'skip']],
    [{ skip: 'abc' }, ['query', 'skip']]
  ]
  for (const [query, loc] of cases) {
    const response = await app.inject({ url: '/posts', headers: user.headers, query })
    assertValidationError(t, response, [loc], JSON.stringify(query))
  }
})

t.test('GET /posts search is a case-insensitive substring match on the title', async t => {
  const app = await build(t)
  const user = await createUser(app)
  await createPost(app, user, { title: 'Top Beaches in Florida', content: 'sand' })
  await createPost(app, user, { title: 'mountains', content: 'beach' })
  await createPost(app, user, { title: 'beach volleyball' })
  t.strictSame(await listTitles(app, user, { search: 'BEACH' }), ['beach volleyball', 'Top Beaches in Florida'])
  t.strictSame(await listTitles(app, user, { search: 'ountai' }), ['mountains'])
  t.strictSame(await listTitles(app, user, { search: 'sand' }), [])
  t.strictSame(await listTitles(app, user, { search: 'beach', limit: '1', skip: '1' }), ['Top Beaches in Florida'])
})

t.test('GET /posts search takes % and _ literally and survives a backslash', async t => {
  const app = await build(t)
  const user = await createUser(app)
  for (const title of ['100% sure', 'snake_case', 'snakeXcase', 'back\\slash', 'plain']) {
    await createPost(app, user, { title })
  }
  t.strictSame(await listTitles(app, user, { search: '%' }), ['100% sure'])
  t.strictSame(await listTitles(app, user, { search: '0%' }), ['100% sure'])
  t.strictSame(await listTitles(app, user, { search: '_' }), ['snake_case'])
  t.strictSame(await listTitles(app, user, { search: 'E_C' }), ['snake_case'])
  t.strictSame(await listTitles(app, user, { search: '\\' }), ['back\\slash'])
  t.strictSame(await listTitles(app, user, { search: 'k\\s' }), ['back\\slash'])
  t.strictSame(await listTitles(app, user, { search: '\\%' }), [])
  t.strictSame(await listTitles(app, user, { search: 'plain\\' }), [])
})

t.test('votes are counted exactly in the list and in GET /posts/:id', async t => {
  const app = await build(t)
  const [ada, bob, cy] = [await createUser(app), await createUser(app), await createUser(app)]
  const three = await createPost(app, ada, { title: 'three' })
  const one = await createPost(app, bob, { title: 'one' })
  const none = await createPost(app, cy, { title: 'none' })
  for (const user of [ada, bob, cy]) await vote(app, user, three.id)
  await vote(app, ada, one.id)
  const list = await app.inject({ url: '/posts', headers: ada.headers })
  t.strictSame(list.json().map((item: { Post: { title: string }, votes: number }) => [item.Post.title, item.votes]),
    [['none', 0], ['one', 1], ['three', 3]])
  for (const [post, votes] of [[three, 3], [one, 1], [none, 0]] as const) {
    const response = await app.inject({ url: `/posts/${post.id}`, headers: bob.headers })
    t.equal(response.json().votes, votes, post.title)
  }
})

t.test('GET /posts/:id answers the PostOut of any user\'s post', async t => {
  const app = await build(t)
  const owner = await createUser(app)
  const reader = await createUser(app)
  const post = await createPost(app, owner, { title: 'Mine', content: 'All mine', published: false })
  const response = await app.inject({ url: `/posts/${post.id}`, headers: reader.headers })
  t.equal(response.statusCode, 200)
  const body = response.json()
  t.strictSame(body, {
    Post: {
      id: post.id,
      title: 'Mine',
      content: 'All mine',
      published: false,
      created_at: body.Post.created_at,
      owner_id: owner.id,
      owner: { id: owner.id, email: owner.email, created_at: body.Post.owner.created_at }
    },
    votes: 0
  })
  t.match(body.Post.created_at, TIMESTAMP)
})

t.test('GET /posts/:id is a 404 for an unknown id, even one beyond int4', async t => {
  const app = await build(t)
  const user = await createUser(app)
  const post = await createPost(app, user)
  for (const id of [post.id + 1, 99999999999]) {
    const response = await app.inject({ url: `/posts/${id}`, headers: user.headers })
    t.equal(response.statusCode, 404, String(id))
    t.strictSame(response.json(), { detail: `Post with id: ${id} does not exist` })
  }
})

t.test('GET /posts/:id with a non-integer id is a 422 on the path', async t => {
  const app = await build(t)
  const user = await createUser(app)
  for (const id of ['abc', '1.5']) {
    assertValidationError(t, await app.inject({ url: `/posts/${id}`, headers: user.headers }), [['path', 'id']], id)
  }
})

t.test('PUT /posts/:id replaces title and content, and published defaults to true', async t => {
  const app = await build(t)
  const user = await createUser(app)
  const post = await createPost(app, user, { title: 'old', content: 'old content', published: false })
  const response = await app.inject({ method: 'PUT', url: `/posts/${post.id}`, headers: user.headers, payload: { title: 'new', content: 'new content' } })
  t.equal(response.statusCode, 200)
  const body = response.json()
  t.strictSame(body, {
    id: post.id,
    title: 'new',
    content: 'new content',
    published: true,
    created_at: body.created_at,
    owner_id: user.id,
    owner: { id: user.id, email: user.email, created_at: body.owner.created_at }
  })
  t.match(body.created_at, TIMESTAMP)
  t.strictSame(await storedPost(app, post.id), { title: 'new', content: 'new content', published: true, owner_id: user.id })
})

t.test('PUT /posts/:id accepts an id in the body, as the course\'s clients send it', async t => {
  const app = await build(t)
  const user = await createUser(app)
  const post = await createPost(app, user)
  const other = await createPost(app, user, { title: 'other' })
  const payload = { id: other.id, title: 'updated title', content: 'updated content', published: false }
  const response = await app.inject({ method: 'PUT', url: `/posts/${post.id}`, headers: user.headers, payload })
  t.equal(response.statusCode, 200)
  t.match(response.json(), { id: post.id, title: 'updated title', content: 'updated content', published: false })
  t.equal((await storedPost(app, other.id))?.title, 'other')
})

t.test('PUT /posts/:id by another user is a 403 and changes nothing', async t => {
  const app = await build(t)
  const owner = await createUser(app)
  const intruder = await createUser(app)
  const post = await createPost(app, owner, { title: 'keep', content: 'this' })
  const response = await app.inject({ method: 'PUT', url: `/posts/${post.id}`, headers: intruder.headers, payload: { title: 'mine now', content: 'x' } })
  t.equal(response.statusCode, 403)
  t.strictSame(response.json(), { detail: 'Not authorized to perform requested action' })
  t.strictSame(await storedPost(app, post.id), { title: 'keep', content: 'this', published: true, owner_id: owner.id })
})

t.test('PUT /posts/:id on a missing post is a 404', async t => {
  const app = await build(t)
  const user = await createUser(app)
  for (const id of [1, 99999999999]) {
    const response = await app.inject({ method: 'PUT', url: `/posts/${id}`, headers: user.headers, payload: { title: 't', content: 'c' } })
    t.equal(response.statusCode, 404, String(id))
    t.strictSame(response.json(), { detail: `Post with id: ${id} does not exist` })
  }
})

t.test('PUT /posts/:id without content is a 422 and changes nothing', async t => {
  const app = await build(t)
  const user = await createUser(app)
  const post = await createPost(app, user, { title: 'keep', content: 'this' })
  const response = await app.inject({ method: 'PUT', url: `/posts/${post.id}`, headers: user.headers, payload: { title: 'new' } })
  assertValidationError(t, response, [['body', 'content']])
  t.equal((await storedPost(app, post.id))?.title, 'keep')
})

t.test('PATCH /posts/:id changes only the given fields', async t => {
  const app = await build(t)
  const user = await createUser(app)
  const post = await createPost(app, user, { title: 'title', content: 'content', published: true })
  const unpublish = await app.inject({ method: 'PATCH', url: `/posts/${post.id}`, headers: user.headers, payload: { published: false } })
  t.equal(unpublish.statusCode, 200)
  const body = unpublish.json()
  t.strictSame(body, {
    id: post.id,
    title: 'title',
    content: 'content',
    published: false,
    created_at: body.created_at,
    owner_id: user.id,
    owner: { id: user.id, email: user.email, created_at: body.owner.created_at }
  })
  const retitle = await app.inject({ method: 'PATCH', url: `/posts/${post.id}`, headers: user.headers, payload: { title: 'new title' } })
  t.equal(retitle.statusCode, 200)
  t.match(retitle.json(), { title: 'new title', content: 'content', published: false })
  t.strictSame(await storedPost(app, post.id), { title: 'new title', content: 'content', published: false, owner_id: user.id })
})

t.test('PATCH /posts/:id with no known field is a 422', async t => {
  const app = await build(t)
  const user = await createUser(app)
  const post = await createPost(app, user, { title: 'keep' })
  for (const payload of [{}, { colour: 'blue' }]) {
    const response = await app.inject({ method: 'PATCH', url: `/posts/${post.id}`, headers: user.headers, payload })
    t.equal(response.statusCode, 422, JSON.stringify(payload))
    t.match(response.json(), { detail: [{ loc: Array, msg: String, type: String }] })
    t.equal(response.json().detail[0].loc[0], 'body')
  }
  assertValidationError(t, await app.inject({ method: 'PATCH', url: `/posts/${post.id}`, headers: user.headers, payload: { title: '' } }), [['body', 'title']], 'empty title')
  assertValidationError(t, await app.inject({ method: 'PATCH', url: `/posts/${post.id}`, headers: user.headers, payload: { published: 'no' } }), [['body', 'published']], 'string published')
  t.equal((await storedPost(app, post.id))?.title, 'keep')
})

t.test('PATCH /posts/:id by another user is a 403 and on a missing post a 404', async t => {
  const app = await build(t)
  const owner = await createUser(app)
  const intruder = await createUser(app)
  const post = await createPost(app, owner, { title: 'keep' })
  const forbidden = await app.inject({ method: 'PATCH', url: `/posts/${post.id}`, headers: intruder.headers, payload: { title: 'mine' } })
  t.equal(forbidden.statusCode, 403)
  t.strictSame(forbidden.json(), { detail: 'Not authorized to perform requested action' })
  t.equal((await storedPost(app, post.id))?.title, 'keep')
  const missing = await app.inject({ method: 'PATCH', url: `/posts/${post.id + 1}`, headers: owner.headers, payload: { title: 'x' } })
  t.equal(missing.statusCode, 404)
  t.strictSame(missing.json(), { detail: `Post with id: ${post.id + 1} does not exist` })
})

t.test('DELETE /posts/:id answers 204 with no body, and the post is gone', async t => {
  const app = await build(t)
  const user = await createUser(app)
  const post = await createPost(app, user)
  const kept = await createPost(app, user, { title: 'kept' })
  const response = await app.inject({ method: 'DELETE', url: `/posts/${post.id}`, headers: user.headers })
  t.equal(response.statusCode, 204)
  t.equal(response.body, '')
  const after = await app.inject({ url: `/posts/${post.id}`, headers: user.headers })
  t.equal(after.statusCode, 404)
  t.strictSame(after.json(), { detail: `Post with id: ${post.id} does not exist` })
  t.strictSame(await sql(app, 'select id from posts'), [{ id: kept.id }])
})

t.test('DELETE /posts/:id by another user is a 403 and the post stays', async t => {
  const app = await build(t)
  const owner = await createUser(app)
  const intruder = await createUser(app)
  const post = await createPost(app, owner)
  const response = await app.inject({ method: 'DELETE', url: `/posts/${post.id}`, headers: intruder.headers })
  t.equal(response.statusCode, 403)
  t.strictSame(response.json(), { detail: 'Not authorized to perform requested action' })
  t.equal((await app.inject({ url: `/posts/${post.id}`, headers: owner.headers })).statusCode, 200)
})

t.test('DELETE /posts/:id on a missing post is a 404', async t => {
  const app = await build(t)
  const user = await createUser(app)
  for (const id of [1, 99999999999]) {
    const response = await app.inject({ method: 'DELETE', url: `/posts/${id}`, headers: user.headers })
    t.equal(response.statusCode, 404, String(id))
    t.strictSame(response.json(), { detail: `Post with id: ${id} does not exist` })
  }
})

t.test('DELETE /posts/:id removes the post\'s votes and no others', async t => {
  const app = await build(t)
  const owner = await createUser(app)
  const voter = await createUser(app)
  const doomed = await createPost(app, owner)
  const kept = await createPost(app, owner)
  for (const user of [owner, voter]) {
    await vote(app, user, doomed.id)
    await vote(app, user, kept.id)
  }
  const response = await app.inject({ method: 'DELETE', url: `/posts/${doomed.id}`, headers: owner.headers })
  t.equal(response.statusCode, 204)
  t.strictSame(await sql(app, 'select count(*)::int as n from votes where post_id = ?', [doomed.id]), [{ n: 0 }])
  t.strictSame(await sql(app, 'select count(*)::int as n from votes where post_id = ?', [kept.id]), [{ n: 2 }])
})

t.test('every posts route without a token is a 401, before any validation', async t => {
  const app = await build(t)
  const user = await createUser(app)
  const post = await createPost(app, user, { title: 'keep' })
  const requests = [
    { method: 'GET', url: '/posts' },
    { method: 'GET', url: '/posts?limit=0' },
    { method: 'GET', url: `/posts/${post.id}` },
    { method: 'GET', url: '/posts/abc' },
    { method: 'POST', url: '/posts', payload: { title: 't', content: 'c' } },
    { method: 'POST', url: '/posts' },
    { method: 'PUT', url: `/posts/${post.id}`, payload: { title: 't', content: 'c' } },
    { method: 'PUT', url: `/posts/${post.id}` },
    { method: 'PATCH', url: `/posts/${post.id}`, payload: { title: 't' } },
    { method: 'DELETE', url: `/posts/${post.id}` }
  ] as const
  for (const request of requests) {
    const response = await app.inject(request)
    const name = `${request.method} ${request.url}`
    t.equal(response.statusCode, 401, name)
    t.strictSame(response.json(), { detail: 'Not authenticated' }, name)
    t.equal(response.headers['www-authenticate'], 'Bearer', name)
  }
  const bad = await app.inject({ url: '/posts', headers: { authorization: 'Bearer not.a.token' } })
  t.equal(bad.statusCode, 401)
  t.strictSame(bad.json(), { detail: 'Could not validate credentials' })
  t.strictSame(await sql(app, 'select title from posts'), [{ title: 'keep' }])
})
