import type { FastifyInstance } from 'fastify'
import t from 'tap'
import { build, createPost, createUser, sql, type TestUser } from '../helpers/app.js'
import { castVote } from '../helpers/assertions.js'

// Strong ETags on the reads of posts, If-None-Match → 304, and If-Match on a post's changes → 412
// when the post has changed since the tag was read (optimistic concurrency, opt-in).

const TAG = /^"[A-Za-z0-9_-]{22}"$/

async function read (app: FastifyInstance, user: TestUser, url: string, held?: string) {
  const response = await app.inject({ url, headers: { ...user.headers, ...(held === undefined ? {} : { 'if-none-match': held }) } })
  return { status: response.statusCode, tag: response.headers.etag as string | undefined, body: response.body, type: response.headers['content-type'] }
}

t.test('HEAD answers as GET does: the ETag, and a 304 when If-None-Match names it', async t => {
  const app = await build(t)
  const owner = await createUser(app)
  const post = await createPost(app, owner)
  for (const url of [`/posts/${post.id}`, '/posts', `/users/${owner.id}/posts`]) {
    const { tag } = await read(app, owner, url)
    const head = await app.inject({ method: 'HEAD', url, headers: owner.headers })
    t.equal(head.statusCode, 200, `HEAD ${url}`)
    t.equal(head.headers.etag, tag, 'with the GET\'s tag')
    t.equal(head.body, '', 'and no body')
    const notModified = await app.inject({ method: 'HEAD', url, headers: { ...owner.headers, 'if-none-match': tag! } })
    t.equal(notModified.statusCode, 304, `HEAD ${url} with If-None-Match naming it`)
    t.equal(notModified.headers.etag, tag)
    t.equal(notModified.body, '')
    t.equal((await app.inject({ method: 'HEAD', url, headers: { ...owner.headers, 'if-none-match': '"other"' } })).statusCode, 200, 'another tag: 200')
  }
})

t.test('GET /posts/{id}: a strong ETag, the same while the post is, another once it changes', async t => {
  const app = await build(t)
  const [owner, voter] = [await createUser(app), await createUser(app)]
  const post = await createPost(app, owner)
  const url = `/posts/${post.id}`
  const first = await read(app, owner, url)
  t.equal(first.status, 200)
  t.match(first.tag, TAG)
  t.equal((await read(app, voter, url)).tag, first.tag, 'the same representation, for any reader: the same tag')

  const notModified = await read(app, owner, url, first.tag)
  t.equal(notModified.status, 304, 'If-None-Match naming it: 304')
  t.equal(notModified.body, '', 'with no body')
  t.equal(notModified.tag, first.tag, 'and the tag')
  t.equal(notModified.type, undefined, 'and no content type')
  t.equal((await read(app, owner, url, `"other", W/${first.tag}`)).status, 304, 'a list, and the weak form of the tag, match too (weak comparison)')
  t.equal((await read(app, owner, url, '*')).status, 304, '* matches')
  t.equal((await read(app, owner, url, '"other"')).status, 200, 'another tag does not')

  t.equal((await castVote(app, voter, post.id, 1)).statusCode, 201)
  const voted = await read(app, owner, url, first.tag)
  t.equal(voted.status, 200, 'a vote changes the representation (its count): the old tag gets the post again')
  t.not(voted.tag, first.tag)

  t.equal((await app.inject({ method: 'PATCH', url, headers: owner.headers, payload: { title: 'changed' } })).statusCode, 200)
  const edited = await read(app, owner, url, voted.tag)
  t.equal(edited.status, 200, 'so does an edit')
  t.not(edited.tag, voted.tag)
  t.match(JSON.parse(edited.body), { Post: { title: 'changed' } })

  t.not((await read(app, owner, `${url}?include=voted`)).tag, edited.tag, 'include=voted is another representation, with its own tag')
})

t.test('feed pages: GET /posts and GET /users/{id}/posts carry ETags and answer 304 while the page is the same', async t => {
  const app = await build(t)
  const user = await createUser(app)
  await createPost(app, user)
  for (const url of ['/posts?limit=5', `/users/${user.id}/posts?limit=5`]) {
    const page = await read(app, user, url)
    t.equal(page.status, 200)
    t.match(page.tag, TAG, url)
    t.equal((await read(app, user, url, page.tag)).status, 304, `${url}: 304 while the page is the same`)
    await createPost(app, user, { title: `another for ${url}` })
    const changed = await read(app, user, url, page.tag)
    t.equal(changed.status, 200, `${url}: a new post changes the page`)
    t.not(changed.tag, page.tag)
  }
})

t.test('a 304 still checks the token: an ended session is a 401, not a 304', async t => {
  const app = await build(t)
  const user = await createUser(app)
  const post = await createPost(app, user)
  const { tag } = await read(app, user, `/posts/${post.id}`)
  t.equal((await app.inject({ method: 'POST', url: '/auth/logout', headers: user.headers })).statusCode, 204)
  t.equal((await read(app, user, `/posts/${post.id}`, tag)).status, 401)
})

t.test('If-Match on PUT, PATCH and DELETE /posts/{id}: 412 when the post changed since, and nothing changes', async t => {
  const app = await build(t)
  const [owner, voter, stranger] = [await createUser(app), await createUser(app), await createUser(app)]
  const post = await createPost(app, owner, { title: 'original' })
  const url = `/posts/${post.id}`
  const change = (method: string, tag: string, payload?: object) =>
    app.inject({ method: method as 'PUT', url, headers: { ...owner.headers, 'if-match': tag }, ...(payload ? { payload } : {}) })
  const titleNow = async () => (await sql<{ title: string }>(app, 'select title from posts where id = ?', [post.id]))[0]?.title

  const stale = (await read(app, owner, url)).tag!
  t.equal((await app.inject({ method: 'PATCH', url, headers: owner.headers, payload: { title: 'edited elsewhere' } })).statusCode, 200, 'someone edits the post meanwhile (no If-Match: as before)')
  for (const [method, payload] of [['PUT', { title: 'mine', content: 'mine' }], ['PATCH', { title: 'mine' }], ['DELETE', undefined]] as const) {
    const refused = await change(method, stale, payload)
    t.equal(refused.statusCode, 412, `${method} with the stale tag: 412`)
    t.strictSame(refused.json(), { detail: 'The post has changed since its ETag was read' })
  }
  t.equal(await titleNow(), 'edited elsewhere', 'and the post is as the other edit left it')

  const current = (await read(app, owner, url)).tag!
  t.equal((await change('PATCH', `W/${current}`, { title: 'weak' })).statusCode, 412, 'a weak tag never matches If-Match (strong comparison)')
  const patched = await change('PATCH', current, { title: 'with the current tag' })
  t.equal(patched.statusCode, 200, 'the current tag: the change is made')
  t.equal(await titleNow(), 'with the current tag')

  const votedTag = (await read(app, owner, `${url}?include=voted`)).tag!
  t.equal((await change('PUT', votedTag, { title: 'from the voted view', content: 'x' })).statusCode, 200, 'a tag of the include=voted representation is current too')
  const beforeVote = (await read(app, owner, url)).tag!
  t.equal((await castVote(app, voter, post.id, 1)).statusCode, 201)
  t.equal((await change('PATCH', beforeVote, { title: 'late' })).statusCode, 412, 'a vote since the tag was read: 412 (the representation changed)')
  t.equal((await change('PATCH', '*', { title: 'any' })).statusCode, 200, '* matches any current representation')

  t.equal((await app.inject({ method: 'DELETE', url, headers: { ...stranger.headers, 'if-match': '*' } })).statusCode, 403, 'another user\'s post: 403 first, whatever the tag')
  t.equal((await app.inject({ method: 'DELETE', url: '/posts/999999', headers: { ...owner.headers, 'if-match': '*' } })).statusCode, 404, 'a post that does not exist: 404')
  const deleted = await change('DELETE', (await read(app, owner, url)).tag!)
  t.equal(deleted.statusCode, 204, 'DELETE with the current tag: deleted')
  t.equal((await read(app, owner, url)).status, 404)
})
