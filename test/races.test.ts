import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import pg from 'pg'
import t from 'tap'
import { build, createPost, createTestDatabase, createUser, sql, uniqueEmail, type TestUser } from './helper.js'

const RACERS = 20

const noRateLimits = { config: { LOGIN_RATE_LIMIT: '0', RATE_LIMIT: '0' } }

function tally (responses: LightMyRequestResponse[]): Record<number, number> {
  const counts: Record<number, number> = {}
  for (const { statusCode } of responses) counts[statusCode] = (counts[statusCode] ?? 0) + 1
  return counts
}

const castVote = (app: FastifyInstance, user: TestUser, postId: number, dir: number) =>
  app.inject({ method: 'POST', url: '/vote', headers: user.headers, payload: { post_id: postId, dir } })

const register = (app: FastifyInstance, email: string) =>
  app.inject({ method: 'POST', url: '/users', payload: { email, password: 'password123' } })

async function count (app: FastifyInstance, query: string, params: unknown[] = []): Promise<number> {
  const [row] = await sql<{ n: number }>(app, `select count(*)::int as n from ${query}`, params)
  return row!.n
}

function mixCase (text: string, seed: number): string {
  return [...text].map((char, i) => ((seed >> (i % 16)) & 1) ? char.toUpperCase() : char.toLowerCase()).join('')
}

async function waitForLockWait (app: FastifyInstance) {
  for (let attempt = 0; attempt < 200; attempt++) {
    const waiting = await count(app, "pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'")
    if (waiting > 0) return
    await new Promise(resolve => setTimeout(resolve, 25))
  }
  throw new Error('no query ever waited for the lock')
}

t.test('simultaneous identical votes: one 201, the rest 409, one row', async t => {
  const app = await build(t, noRateLimits)
  const user = await createUser(app)
  const post = await createPost(app, user)
  const responses = await Promise.all(Array.from({ length: RACERS }, () => castVote(app, user, post.id, 1)))
  t.strictSame(tally(responses), { 201: 1, 409: RACERS - 1 })
  for (const response of responses.filter(r => r.statusCode === 409)) t.match(response.json(), { detail: String })
  t.strictSame(await sql(app, 'select user_id, post_id from votes'), [{ user_id: user.id, post_id: post.id }])
  t.equal((await app.inject({ url: `/posts/${post.id}`, headers: user.headers })).json().votes, 1)
})

t.test('simultaneous registrations of one email: one 201, the rest 409, one row', async t => {
  const app = await build(t, noRateLimits)
  const email = uniqueEmail('race')
  const responses = await Promise.all(Array.from({ length: RACERS }, () => register(app, email)))
  t.strictSame(tally(responses), { 201: 1, 409: RACERS - 1 })
  for (const response of responses.filter(r => r.statusCode === 409)) t.match(response.json(), { detail: String })
  t.equal(await count(app, 'users where lower(email) = lower(?)', [email]), 1)
})

t.test('simultaneous registrations of one email in different letter cases: one 201', async t => {
  const app = await build(t, noRateLimits)
  const email = uniqueEmail('Race')
  const variants = Array.from({ length: RACERS }, (_, i) => mixCase(email, i * 2654435761))
  t.ok(new Set(variants).size > 1)
  const responses = await Promise.all(variants.map(variant => register(app, variant)))
  t.strictSame(tally(responses), { 201: 1, 409: RACERS - 1 })
  t.equal(await count(app, 'users where lower(email) = lower(?)', [email]), 1)
})

t.test('simultaneous vote toggles by several users end with counts equal to the rows', async t => {
  const app = await build(t, noRateLimits)
  const users = [await createUser(app), await createUser(app), await createUser(app), await createUser(app)]
  const posts = [await createPost(app, users[0]!), await createPost(app, users[1]!), await createPost(app, users[2]!)]
  const dirs = [1, 0, 1, 1, 0, 1, 0, 1]
  const attempts = users.flatMap(user => posts.flatMap(post => dirs.map(dir => ({ user, post, dir }))))
  const responses = await Promise.all(attempts.map(({ user, post, dir }) => castVote(app, user, post.id, dir)))

  const allowed = new Set([201, 404, 409])
  t.strictSame(responses.filter(r => !allowed.has(r.statusCode)).map(r => `${r.statusCode} ${r.body}`), [])
  for (const user of users) {
    for (const post of posts) {
      let net = 0
      attempts.forEach((attempt, i) => {
        if (attempt.user !== user || attempt.post !== post || responses[i]!.statusCode !== 201) return
        net += attempt.dir === 1 ? 1 : -1
      })
      const rows = await count(app, 'votes where user_id = ? and post_id = ?', [user.id, post.id])
      t.equal(rows, net, `user ${user.id} post ${post.id}: successful adds minus deletes`)
    }
  }
  const list = await app.inject({ url: '/posts', headers: users[0]!.headers })
  for (const { Post, votes } of list.json() as { Post: { id: number }, votes: number }[]) {
    t.equal(votes, await count(app, 'votes where post_id = ?', [Post.id]), `post ${Post.id} in the list`)
    const one = await app.inject({ url: `/posts/${Post.id}`, headers: users[1]!.headers })
    t.equal(one.json().votes, votes, `post ${Post.id} alone`)
  }
})

t.test('simultaneous deletes of one post: one 204, the rest 404', async t => {
  const app = await build(t, noRateLimits)
  const user = await createUser(app)
  const post = await createPost(app, user)
  const responses = await Promise.all(Array.from({ length: RACERS }, () =>
    app.inject({ method: 'DELETE', url: `/posts/${post.id}`, headers: user.headers })))
  t.strictSame(tally(responses), { 204: 1, 404: RACERS - 1 })
  for (const response of responses.filter(r => r.statusCode === 404)) {
    t.strictSame(response.json(), { detail: `Post with id: ${post.id} does not exist` })
  }
  t.equal(await count(app, 'posts'), 0)
})

t.test('deleting a post while it is being voted on: no 5xx and no orphan votes', async t => {
  const app = await build(t, noRateLimits)
  const owner = await createUser(app)
  const voters = [owner]
  for (let i = 0; i < 5; i++) voters.push(await createUser(app))
  const post = await createPost(app, owner)
  const kept = await createPost(app, owner)
  const votes = voters.flatMap(voter => [castVote(app, voter, post.id, 1), castVote(app, voter, kept.id, 1), castVote(app, voter, post.id, 0)])
  const deletion = app.inject({ method: 'DELETE', url: `/posts/${post.id}`, headers: owner.headers })
  const [deleted, ...responses] = await Promise.all([deletion, ...votes])
  t.equal(deleted!.statusCode, 204)
  const allowed = new Set([201, 404])
  t.strictSame(responses.filter(r => !allowed.has(r.statusCode)).map(r => `${r.statusCode} ${r.body}`), [])
  t.equal(await count(app, 'posts where id = ?', [post.id]), 0)
  t.equal(await count(app, 'votes where post_id = ?', [post.id]), 0)
  t.equal(await count(app, 'votes where post_id = ?', [kept.id]), voters.length)
  t.equal(await count(app, 'votes v where not exists (select 1 from posts p where p.id = v.post_id)'), 0)
})

t.test('a vote that loses the race to a delete is a 404 naming the post', async t => {
  const databaseUrl = await createTestDatabase(t)
  const app = await build(t, { ...noRateLimits, databaseUrl })
  const owner = await createUser(app)
  const voter = await createUser(app)
  const post = await createPost(app, owner)
  const deleter = new pg.Client({ connectionString: databaseUrl })
  await deleter.connect()
  try {
    await deleter.query('begin')
    await deleter.query('delete from posts where id = $1', [post.id])
    const pending = castVote(app, voter, post.id, 1)
    await waitForLockWait(app)
    await deleter.query('commit')
    const response = await pending
    t.equal(response.statusCode, 404)
    t.strictSame(response.json(), { detail: `Post with id: ${post.id} does not exist` })
  } finally {
    await deleter.end()
  }
  t.equal(await count(app, 'votes'), 0)
})
