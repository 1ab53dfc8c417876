import type { FastifyInstance } from 'fastify'
import t from 'tap'
import { build, createPost, createUser, sql, type TestUser } from '../helpers/app.js'
import { assertValidationError, postVote } from '../helpers/assertions.js'

const voteRows = (app: FastifyInstance) => sql(app, 'select user_id, post_id from votes order by user_id, post_id')

async function votesOf (app: FastifyInstance, user: TestUser, postId: number): Promise<number> {
  const response = await app.inject({ url: `/posts/${postId}`, headers: user.headers })
  return response.json().votes
}

t.test('dir 1 adds a vote: 201 and one row', async t => {
  const app = await build(t)
  const user = await createUser(app)
  const post = await createPost(app, user)
  const response = await postVote(app, user, { post_id: post.id, dir: 1 })
  t.equal(response.statusCode, 201)
  t.strictSame(response.json(), { message: 'successfully added vote' })
  t.strictSame(await voteRows(app), [{ user_id: user.id, post_id: post.id }])
})

t.test('voting twice on the same post is a 409 and leaves one vote', async t => {
  const app = await build(t)
  const user = await createUser(app)
  const post = await createPost(app, user)
  t.equal((await postVote(app, user, { post_id: post.id, dir: 1 })).statusCode, 201)
  const again = await postVote(app, user, { post_id: post.id, dir: 1 })
  t.equal(again.statusCode, 409)
  t.match(again.json(), { detail: String })
  t.strictSame(Object.keys(again.json()), ['detail'])
  t.strictSame(await voteRows(app), [{ user_id: user.id, post_id: post.id }])
})

t.test('dir 0 takes the vote back: 201 and no row', async t => {
  const app = await build(t)
  const user = await createUser(app)
  const post = await createPost(app, user)
  await postVote(app, user, { post_id: post.id, dir: 1 })
  const response = await postVote(app, user, { post_id: post.id, dir: 0 })
  t.equal(response.statusCode, 201)
  t.strictSame(response.json(), { message: 'successfully deleted vote' })
  t.strictSame(await voteRows(app), [])
  t.equal((await postVote(app, user, { post_id: post.id, dir: 1 })).statusCode, 201, 'can vote again')
})

t.test('dir 0 without a vote is a 404 and leaves other votes alone', async t => {
  const app = await build(t)
  const user = await createUser(app)
  const other = await createUser(app)
  const post = await createPost(app, user)
  await postVote(app, other, { post_id: post.id, dir: 1 })
  const response = await postVote(app, user, { post_id: post.id, dir: 0 })
  t.equal(response.statusCode, 404)
  t.match(response.json(), { detail: String })
  t.strictSame(Object.keys(response.json()), ['detail'])
  t.strictSame(await voteRows(app), [{ user_id: other.id, post_id: post.id }])
})

t.test('voting on a post that does not exist is a 404 naming the post', async t => {
  const app = await build(t)
  const user = await createUser(app)
  const post = await createPost(app, user)
  for (const [postId, dir] of [[post.id + 1, 1], [post.id + 1, 0], [99999999999, 1], [99999999999, 0]]) {
    const response = await postVote(app, user, { post_id: postId, dir })
    t.equal(response.statusCode, 404, `post ${postId} dir ${dir}`)
    t.strictSame(response.json(), { detail: `Post with id: ${postId} does not exist` })
  }
  t.strictSame(await voteRows(app), [])
})

t.test('a dir other than 0 or 1 is a 422 on the body\'s dir', async t => {
  const app = await build(t)
  const user = await createUser(app)
  const post = await createPost(app, user)
  for (const dir of [2, -1, '1', 0.5, true, null]) {
    assertValidationError(t, await postVote(app, user, { post_id: post.id, dir }), [['body', 'dir']], JSON.stringify(dir))
  }
  t.strictSame(await voteRows(app), [])
})

t.test('a missing or non-integer post_id is a 422 on the body\'s post_id', async t => {
  const app = await build(t)
  const user = await createUser(app)
  const post = await createPost(app, user)
  assertValidationError(t, await postVote(app, user, { dir: 1 }), [['body', 'post_id']], 'missing')
  assertValidationError(t, await postVote(app, user, { post_id: 1.5, dir: 1 }), [['body', 'post_id']], 'fraction')
  assertValidationError(t, await postVote(app, user, { post_id: [post.id], dir: 1 }), [['body', 'post_id']], 'list')
  const empty = await app.inject({ method: 'POST', url: '/vote', headers: { ...user.headers, 'content-type': 'application/json' } })
  t.equal(empty.statusCode, 422, 'no body')
  t.strictSame(await voteRows(app), [])
})

t.test('voting without a token is a 401, even with an invalid body', async t => {
  const app = await build(t)
  const user = await createUser(app)
  const post = await createPost(app, user)
  for (const payload of [{ post_id: post.id, dir: 1 }, { dir: 7 }]) {
    const response = await app.inject({ method: 'POST', url: '/vote', payload })
    t.equal(response.statusCode, 401, JSON.stringify(payload))
    t.strictSame(response.json(), { detail: 'Not authenticated' })
    t.equal(response.headers['www-authenticate'], 'Bearer')
  }
  const bad = await app.inject({ method: 'POST', url: '/vote', headers: { authorization: `Bearer ${user.token}x` }, payload: { post_id: post.id, dir: 1 } })
  t.equal(bad.statusCode, 401)
  t.strictSame(bad.json(), { detail: 'Could not validate credentials' })
  t.strictSame(await voteRows(app), [])
})

t.test('a user may vote on their own post and on another user\'s', async t => {
  const app = await build(t)
  const ada = await createUser(app)
  const bob = await createUser(app)
  const own = await createPost(app, ada)
  const theirs = await createPost(app, bob)
  t.equal((await postVote(app, ada, { post_id: own.id, dir: 1 })).statusCode, 201, 'own post')
  t.equal((await postVote(app, ada, { post_id: theirs.id, dir: 1 })).statusCode, 201, 'another user\'s post')
  t.strictSame(await voteRows(app), [{ user_id: ada.id, post_id: own.id }, { user_id: ada.id, post_id: theirs.id }])
})

t.test('the votes count follows votes from several users', async t => {
  const app = await build(t)
  const users = [await createUser(app), await createUser(app), await createUser(app)]
  const [ada, bob, cy] = users
  const post = await createPost(app, ada)
  const other = await createPost(app, bob)
  for (const user of users) await postVote(app, user, { post_id: post.id, dir: 1 })
  await postVote(app, cy, { post_id: other.id, dir: 1 })
  t.equal(await votesOf(app, ada, post.id), 3)
  t.equal(await votesOf(app, ada, other.id), 1)
  await postVote(app, bob, { post_id: post.id, dir: 0 })
  t.equal(await votesOf(app, cy, post.id), 2)
  t.equal(await votesOf(app, cy, other.id), 1)
})
