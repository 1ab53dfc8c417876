import t, { type Test } from 'tap'
import { build, createPost, createUser, sql, type TestUser } from '../helpers/app.js'
import { snapshot } from '../helpers/assertions.js'

const FORBIDDEN = { detail: 'Not authorized to perform requested action' }

// One app for the file: each test arranges its own users and posts, and the tests run in turn.
// No load shedding: a busy test machine must not turn an expected status into a 503.
const app = await build(t, { config: { MAX_EVENT_LOOP_DELAY: '0' } })

/** Alice owns a post that she and Bob have voted on; Bob owns a post of his own. */
async function arrange () {
  const alice = await createUser(app)
  const bob = await createUser(app)
  const post = await createPost(app, alice, { title: 'Alice writes', content: 'Her own words', published: false })
  const bobsPost = await createPost(app, bob, { title: 'Bob writes' })
  for (const voter of [alice, bob]) {
    const voted = await app.inject({ method: 'POST', url: '/vote', headers: voter.headers, payload: { post_id: post.id, dir: 1 } })
    if (voted.statusCode !== 201) throw new Error(`vote failed: ${voted.statusCode} ${voted.body}`)
  }
  return { alice, bob, post, bobsPost }
}

const vote = (user: TestUser, payload: object) =>
  app.inject({ method: 'POST', url: '/vote', headers: user.headers, payload })

/** Each payload, sent by `user` to change another user's post, gets the 403 and changes nothing. */
async function assertRefused (t: Test, method: 'PUT' | 'PATCH', postId: number, user: TestUser, payloads: object[]) {
  const before = await snapshot(app)
  for (const payload of payloads) {
    const response = await app.inject({ method, url: `/posts/${postId}`, headers: user.headers, payload })
    t.equal(response.statusCode, 403, JSON.stringify(payload))
    t.strictSame(response.json(), FORBIDDEN)
  }
  t.strictSame(await snapshot(app), before)
}

t.test('the write routes are the ones this file covers', async t => {
  const doc = (await app.inject({ url: '/openapi.json' })).json() as { paths: Record<string, Record<string, unknown>> }
  const writes = Object.entries(doc.paths).flatMap(([path, item]) =>
    Object.keys(item).filter(method => ['post', 'put', 'patch', 'delete'].includes(method)).map(method => `${method.toUpperCase()} ${path}`))
  t.strictSame(writes.sort(), ['DELETE /posts/{id}', 'PATCH /posts/{id}', 'POST /login', 'POST /posts', 'POST /users', 'POST /vote', 'PUT /posts/{id}',
    'POST /auth/token', 'POST /auth/logout', 'DELETE /auth/sessions/{id}', 'PUT /users/me/password', 'DELETE /users/me', 'POST /stream/tickets'].sort(),
  'a new write route needs its ownership cases here')
})

t.test('a stream ticket is its caller\'s own: it speaks for the token\'s user and session, whatever the body names', async t => {
  const { alice, bob } = await arrange()
  const response = await app.inject({ method: 'POST', url: '/stream/tickets', headers: bob.headers, payload: { user_id: alice.id, session_id: null } })
  t.equal(response.statusCode, 201)
  const sid = JSON.parse(Buffer.from(bob.token.split('.')[1]!, 'base64url').toString()).sid
  t.strictSame(await sql(app, 'select user_id, session_id from stream_tickets'), [{ user_id: bob.id, session_id: sid }])
  await sql(app, 'delete from stream_tickets')
})

t.test('PUT on another user\'s post is a 403 and changes nothing', async t => {
  const { bob, post } = await arrange()
  await assertRefused(t, 'PUT', post.id, bob, [
    { title: 'Bob was here', content: 'Replaced' },
    { title: 'Bob was here', content: 'Replaced', published: true, owner_id: bob.id, id: post.id }
  ])
})

t.test('PATCH on another user\'s post is a 403 and changes nothing, whichever fields it sends', async t => {
  const { bob, post } = await arrange()
  await assertRefused(t, 'PATCH', post.id, bob, [{ title: 'Bob was here' }, { content: 'Replaced' }, { published: true }, { title: 'x', content: 'y', published: true, owner_id: bob.id }])
})

t.test('DELETE of another user\'s post is a 403 and keeps the post and its votes', async t => {
  const { bob, post } = await arrange()
  const before = await snapshot(app)
  const response = await app.inject({ method: 'DELETE', url: `/posts/${post.id}`, headers: bob.headers })
  t.equal(response.statusCode, 403)
  t.strictSame(response.json(), FORBIDDEN)
  t.strictSame(await snapshot(app), before)
  t.equal(before.votes.filter(row => row.post_id === post.id).length, 2, 'the post had votes to lose')
})

t.test('the 403 for another user\'s post holds with a trailing slash too', async t => {
  const { bob, post } = await arrange()
  const before = await snapshot(app)
  for (const method of ['PUT', 'PATCH', 'DELETE'] as const) {
    const response = await app.inject({ method, url: `/posts/${post.id}/`, headers: bob.headers, ...(method === 'DELETE' ? {} : { payload: { title: 't', content: 'c' } }) })
    t.equal(response.statusCode, 403, method)
  }
  t.strictSame(await snapshot(app), before)
})

t.test('the owner can still do what the other user could not', async t => {
  const { alice, post } = await arrange()
  const put = await app.inject({ method: 'PUT', url: `/posts/${post.id}`, headers: alice.headers, payload: { title: 'New', content: 'Words' } })
  t.equal(put.statusCode, 200)
  const patch = await app.inject({ method: 'PATCH', url: `/posts/${post.id}`, headers: alice.headers, payload: { published: false } })
  t.equal(patch.statusCode, 200)
  const removed = await app.inject({ method: 'DELETE', url: `/posts/${post.id}`, headers: alice.headers })
  t.equal(removed.statusCode, 204)
  t.strictSame(await sql(app, 'select id from posts where id = ?', [post.id]), [])
})

t.test('owner_id in a POST body is ignored: the post is the token user\'s', async t => {
  const { alice, bob } = await arrange()
  for (const ownerId of [alice.id, String(alice.id), 999_999, -1, null]) {
    const response = await app.inject({ method: 'POST', url: '/posts', headers: bob.headers, payload: { title: 'Mine', content: 'Really', owner_id: ownerId, owner: { id: alice.id, email: alice.email } } })
    t.equal(response.statusCode, 201, `owner_id ${JSON.stringify(ownerId)}`)
    const body = response.json()
    t.equal(body.owner_id, bob.id)
    t.equal(body.owner.id, bob.id)
    t.equal(body.owner.email, bob.email)
    t.strictSame(await sql(app, 'select owner_id from posts where id = ?', [body.id]), [{ owner_id: bob.id }])
  }
})

t.test('owner_id in a PUT or PATCH body is ignored: the post stays its owner\'s', async t => {
  const { alice, bob, post } = await arrange()
  const put = await app.inject({ method: 'PUT', url: `/posts/${post.id}`, headers: alice.headers, payload: { title: 'Given away?', content: 'No', owner_id: bob.id } })
  t.equal(put.statusCode, 200)
  t.equal(put.json().owner_id, alice.id)
  t.equal(put.json().title, 'Given away?', 'the rest of the body was applied')
  const patch = await app.inject({ method: 'PATCH', url: `/posts/${post.id}`, headers: alice.headers, payload: { content: 'Still no', owner_id: bob.id } })
  t.equal(patch.statusCode, 200)
  t.equal(patch.json().owner_id, alice.id)
  t.strictSame(await sql(app, 'select owner_id, title, content from posts where id = ?', [post.id]), [{ owner_id: alice.id, title: 'Given away?', content: 'Still no' }])
})

t.test('owner_id in a body cannot make a PUT or PATCH land on another user\'s post', async t => {
  const { alice, bob, post, bobsPost } = await arrange()
  const before = await snapshot(app)
  const put = await app.inject({ method: 'PUT', url: `/posts/${bobsPost.id}`, headers: alice.headers, payload: { title: 't', content: 'c', owner_id: alice.id, id: post.id } })
  t.equal(put.statusCode, 403)
  const patch = await app.inject({ method: 'PATCH', url: `/posts/${post.id}`, headers: bob.headers, payload: { title: 't', owner_id: alice.id, id: bobsPost.id } })
  t.equal(patch.statusCode, 403)
  t.strictSame(await snapshot(app), before)
})

t.test('a vote with Bob\'s token is Bob\'s, whatever user_id or owner_id the body names', async t => {
  const alice = await createUser(app)
  const bob = await createUser(app)
  const post = await createPost(app, alice)
  const response = await vote(bob, { post_id: post.id, dir: 1, user_id: alice.id, owner_id: alice.id, id: alice.id })
  t.equal(response.statusCode, 201)
  t.strictSame(await sql(app, 'select user_id, post_id from votes where post_id = ?', [post.id]), [{ user_id: bob.id, post_id: post.id }])
  t.equal((await vote(alice, { post_id: post.id, dir: 1 })).statusCode, 201, 'Alice has not voted yet')
  t.strictSame(await sql(app, 'select user_id from votes where post_id = ? order by user_id', [post.id]), [{ user_id: alice.id }, { user_id: bob.id }])
})

t.test('taking a vote back with Bob\'s token never removes Alice\'s vote', async t => {
  const alice = await createUser(app)
  const bob = await createUser(app)
  const post = await createPost(app, alice)
  t.equal((await vote(alice, { post_id: post.id, dir: 1 })).statusCode, 201)
  const response = await vote(bob, { post_id: post.id, dir: 0, user_id: alice.id, owner_id: alice.id })
  t.equal(response.statusCode, 404, 'Bob has no vote to take back')
  t.strictSame(await sql(app, 'select user_id, post_id from votes where post_id = ?', [post.id]), [{ user_id: alice.id, post_id: post.id }])
})

t.test('a second vote by Bob is a 409 whatever user_id the body names, and adds no row for Alice', async t => {
  const alice = await createUser(app)
  const bob = await createUser(app)
  const post = await createPost(app, alice)
  t.equal((await vote(bob, { post_id: post.id, dir: 1 })).statusCode, 201)
  const again = await vote(bob, { post_id: post.id, dir: 1, user_id: alice.id })
  t.equal(again.statusCode, 409)
  t.strictSame(await sql(app, 'select user_id, post_id from votes where post_id = ?', [post.id]), [{ user_id: bob.id, post_id: post.id }])
})

t.test('registering another user\'s email, in any letter case, leaves that user as it was', async t => {
  const alice = await createUser(app)
  const before = await snapshot(app)
  for (const email of [alice.email, alice.email.toUpperCase()]) {
    const response = await app.inject({ method: 'POST', url: '/users', payload: { email, password: 'taken-over-123', id: alice.id } })
    t.equal(response.statusCode, 409, email)
    t.match(response.json(), { detail: String })
  }
  t.strictSame(await snapshot(app), before)
  t.equal((await app.inject({ method: 'POST', url: '/login', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: new URLSearchParams({ username: alice.email, password: 'taken-over-123' }).toString() })).statusCode, 403,
    'the new password does not log in as Alice')
})

t.test('session and account routes act on the token\'s user only: another user\'s session is a 404, and nothing of theirs changes', async t => {
  const { alice, bob } = await arrange()
  const sessionOf = (user: TestUser): string => JSON.parse(Buffer.from(user.token.split('.')[1]!, 'base64url').toString()).sid
  const before = await snapshot(app)
  const ended = await app.inject({ method: 'DELETE', url: `/auth/sessions/${sessionOf(alice)}`, headers: bob.headers })
  t.equal(ended.statusCode, 404, 'Bob cannot end Alice\'s session')
  t.strictSame(await snapshot(app), before, 'nothing changed')
  const listed = (await app.inject({ url: '/auth/sessions', headers: bob.headers })).json() as { id: string }[]
  t.notOk(listed.some(session => session.id === sessionOf(alice)), 'nor see it')

  for (const scope of ['local', 'others', 'global']) {
    const other = await createUser(app)
    t.equal((await app.inject({ method: 'POST', url: `/auth/logout?scope=${scope}`, headers: other.headers })).statusCode, 204)
    t.equal((await app.inject({ url: '/users/me', headers: alice.headers })).statusCode, 200, `another user's logout (scope=${scope}) leaves Alice's session`)
  }
  const hash = async (user: TestUser) => (await sql<{ password: string }>(app, 'select password from users where id = ?', [user.id]))[0]!.password
  const carol = await createUser(app, undefined, 'carol\'s own password')
  const carolsHash = await hash(carol)
  const bobsHash = await hash(bob)
  t.equal((await app.inject({ method: 'PUT', url: '/users/me/password', headers: bob.headers, payload: { current_password: carol.password, new_password: 'bob was here' } })).statusCode, 403, 'Carol\'s password does not change Bob\'s')
  t.equal((await app.inject({ method: 'DELETE', url: '/users/me', headers: bob.headers, payload: { password: carol.password } })).statusCode, 403, 'nor delete his account')
  t.equal(await hash(bob), bobsHash, 'his is unchanged')
  t.equal(await hash(carol), carolsHash, 'and so is hers')
  t.equal((await app.inject({ method: 'DELETE', url: '/users/me', headers: bob.headers, payload: { password: bob.password } })).statusCode, 204, 'Bob deletes his own account')
  t.equal((await app.inject({ url: '/users/me', headers: carol.headers })).statusCode, 200, 'Carol is still there')
  t.equal((await app.inject({ url: '/users/me', headers: alice.headers })).statusCode, 200, 'and Alice')
})
