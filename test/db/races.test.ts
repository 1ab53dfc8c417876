import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { setTimeout as sleep } from 'node:timers/promises'
import pg from 'pg'
import t from 'tap'
import { build, createPost, createTestDatabase, createUser, sql, uniqueEmail } from '../helpers/app.js'
import { castVote, countRows } from '../helpers/assertions.js'

const RACERS = 20
const REGISTRATIONS = 50

// Load shedding is off too, and a request may wait 10 s for one of the pool's connections: on
// a busy machine a burst of simultaneous requests could otherwise be answered 503 before it
// reaches the database, and the races are what these tests are about.
const racing = { config: { LOGIN_RATE_LIMIT: '0', RATE_LIMIT: '0', MAX_EVENT_LOOP_DELAY: '0', DATABASE_POOL_TIMEOUT: '10000' } }

function tally (responses: LightMyRequestResponse[]): Record<number, number> {
  const counts: Record<number, number> = {}
  for (const { statusCode } of responses) counts[statusCode] = (counts[statusCode] ?? 0) + 1
  return counts
}

const register = (app: FastifyInstance, email: string) =>
  app.inject({ method: 'POST', url: '/users', payload: { email, password: 'password123' } })

function mixCase (text: string, seed: number): string {
  return [...text].map((char, i) => ((seed >> (i % 16)) & 1) ? char.toUpperCase() : char.toLowerCase()).join('')
}

async function waitForLockWait (app: FastifyInstance) {
  for (let attempt = 0; attempt < 200; attempt++) {
    const waiting = await countRows(app, "pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'")
    if (waiting > 0) return
    await new Promise(resolve => setTimeout(resolve, 25))
  }
  throw new Error('no query ever waited for the lock')
}

t.test('simultaneous identical votes: one 201, the rest 409, one row', async t => {
  const app = await build(t, racing)
  const user = await createUser(app)
  const post = await createPost(app, user)
  const responses = await Promise.all(Array.from({ length: RACERS }, () => castVote(app, user, post.id, 1)))
  t.strictSame(tally(responses), { 201: 1, 409: RACERS - 1 })
  // The losers get the same answer as a vote repeated later: the insert skips the conflict.
  for (const response of responses.filter(r => r.statusCode === 409)) t.strictSame(response.json(), { detail: `user ${user.id} has already voted on post ${post.id}` })
  t.strictSame(await sql(app, 'select user_id, post_id from votes'), [{ user_id: user.id, post_id: post.id }])
  t.equal((await app.inject({ url: `/posts/${post.id}`, headers: user.headers })).json().votes, 1)
})

t.test('simultaneous registrations of one email: one 201, the rest 409, one row', async t => {
  const app = await build(t, racing)
  const email = uniqueEmail('race')
  const responses = await Promise.all(Array.from({ length: REGISTRATIONS }, () => register(app, email)))
  t.strictSame(tally(responses), { 201: 1, 409: REGISTRATIONS - 1 })
  for (const response of responses.filter(r => r.statusCode === 409)) t.match(response.json(), { detail: String })
  t.equal(await countRows(app, 'users where lower(email) = lower(?)', [email]), 1)
  const created = responses.find(response => response.statusCode === 201)!.json()
  t.strictSame(await sql(app, 'select id, email from users'), [{ id: created.id, email }])
})

t.test('simultaneous registrations of one email in different letter cases: one 201', async t => {
  const app = await build(t, racing)
  const email = uniqueEmail('Race')
  const variants = Array.from({ length: RACERS }, (_, i) => mixCase(email, i * 2654435761))
  t.ok(new Set(variants).size > 1)
  const responses = await Promise.all(variants.map(variant => register(app, variant)))
  t.strictSame(tally(responses), { 201: 1, 409: RACERS - 1 })
  t.equal(await countRows(app, 'users where lower(email) = lower(?)', [email]), 1)
})

t.test('simultaneous vote toggles by several users end with counts equal to the rows', async t => {
  const app = await build(t, racing)
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
      const rows = await countRows(app, 'votes where user_id = ? and post_id = ?', [user.id, post.id])
      t.equal(rows, net, `user ${user.id} post ${post.id}: successful adds minus deletes`)
    }
  }
  const list = await app.inject({ url: '/posts', headers: users[0]!.headers })
  for (const { Post, votes } of list.json() as { Post: { id: number }, votes: number }[]) {
    t.equal(votes, await countRows(app, 'votes where post_id = ?', [Post.id]), `post ${Post.id} in the list`)
    const one = await app.inject({ url: `/posts/${Post.id}`, headers: users[1]!.headers })
    t.equal(one.json().votes, votes, `post ${Post.id} alone`)
  }
})

t.test('200 simultaneous vote toggles across 20 users and 5 posts: rows, vote_counts and the API agree', async t => {
  const app = await build(t, racing)
  const users = await Promise.all(Array.from({ length: 20 }, () => createUser(app)))
  const posts = await Promise.all(users.slice(0, 5).map(user => createPost(app, user)))
  // Every other pair starts with a vote, so that both directions can succeed from the start.
  const pairs = users.flatMap((user, u) => posts.map((post, p) => ({ user, post, initial: (u + p) % 2, net: 0 })))
  const setup = await Promise.all(pairs.filter(pair => pair.initial).map(pair => castVote(app, pair.user, pair.post.id, 1)))
  t.strictSame(tally(setup), { 201: pairs.length / 2 })

  // Two requests per pair, side by side, with directions covering each combination; the
  // pairs rotate through the posts, so each post's counter takes writes from many users at once.
  const patterns = [[1, 0], [0, 1], [1, 1], [0, 0]]
  const attempts = pairs.flatMap((pair, i) => patterns[i % patterns.length]!.map(dir => ({ pair, dir })))
  t.equal(attempts.length, 200)
  const responses = await Promise.all(attempts.map(({ pair, dir }) => castVote(app, pair.user, pair.post.id, dir)))

  const allowed = new Set([201, 404, 409])
  t.strictSame(responses.filter(r => !allowed.has(r.statusCode)).map(r => `${r.statusCode} ${r.body}`), [])
  attempts.forEach(({ pair, dir }, i) => {
    if (responses[i]!.statusCode === 201) pair.net += dir === 1 ? 1 : -1
  })
  const rows = await sql<{ user_id: number, post_id: number }>(app, 'select user_id, post_id from votes')
  const voted = new Set(rows.map(row => `${row.user_id}:${row.post_id}`))
  t.equal(rows.length, pairs.reduce((sum, pair) => sum + pair.initial + pair.net, 0), 'rows: initial votes plus successful adds minus deletes')
  for (const pair of pairs) {
    t.equal(voted.has(`${pair.user.id}:${pair.post.id}`) ? 1 : 0, pair.initial + pair.net, `user ${pair.user.id} post ${pair.post.id}`)
  }

  const counters = await sql<{ id: number, counted: number, kept: number | null }>(app, `
    select p.id, (select count(*)::int from votes v where v.post_id = p.id) as counted, c.votes as kept
      from posts p left join vote_counts c on c.post_id = p.id order by p.id`)
  t.equal(counters.length, posts.length)
  const list = await app.inject({ url: '/posts?limit=100', headers: users[0]!.headers })
  const listed = new Map((list.json() as { Post: { id: number }, votes: number }[]).map(({ Post, votes }) => [Post.id, votes]))
  for (const { id, counted, kept } of counters) {
    t.equal(kept ?? 0, counted, `post ${id}: vote_counts equals the rows`)
    t.equal(listed.get(id), counted, `post ${id} in the list`)
    const one = await app.inject({ url: `/posts/${id}`, headers: users[1]!.headers })
    t.equal(one.json().votes, counted, `post ${id} alone`)
  }
})

t.test('simultaneous deletes of one post: one 204, the rest 404', async t => {
  const app = await build(t, racing)
  const user = await createUser(app)
  const post = await createPost(app, user)
  const responses = await Promise.all(Array.from({ length: RACERS }, () =>
    app.inject({ method: 'DELETE', url: `/posts/${post.id}`, headers: user.headers })))
  t.strictSame(tally(responses), { 204: 1, 404: RACERS - 1 })
  for (const response of responses.filter(r => r.statusCode === 404)) {
    t.strictSame(response.json(), { detail: `Post with id: ${post.id} does not exist` })
  }
  t.equal(await countRows(app, 'posts'), 0)
})

t.test('deleting a post while it is being voted on: no 5xx and no orphan votes', async t => {
  const app = await build(t, racing)
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
  t.equal(await countRows(app, 'posts where id = ?', [post.id]), 0)
  t.equal(await countRows(app, 'votes where post_id = ?', [post.id]), 0)
  t.equal(await countRows(app, 'votes where post_id = ?', [kept.id]), voters.length)
  t.equal(await countRows(app, 'votes v where not exists (select 1 from posts p where p.id = v.post_id)'), 0)
})

t.test('deleting a post in the middle of a stream of votes on it: later votes 404, no orphan rows', async t => {
  const app = await build(t, racing)
  const owner = await createUser(app)
  const voters = await Promise.all(Array.from({ length: RACERS }, () => createUser(app)))
  const post = await createPost(app, owner)
  const kept = await createPost(app, owner)
  // Half the voters hold a vote on the post throughout, so there are votes for the delete to take.
  const holders = voters.slice(0, RACERS / 2)
  const togglers = voters.slice(RACERS / 2)
  t.strictSame(tally(await Promise.all(holders.map(voter => castVote(app, voter, post.id, 1)))), { 201: holders.length })
  const votes: Array<{ postId: number, sentAfterDelete: boolean, response: Promise<LightMyRequestResponse> }> = []
  let deletion: Promise<LightMyRequestResponse> | undefined
  let deleteAnswered = false
  let wavesAfterDelete = 0
  // The other half vote, take the vote back, vote again, and so on, in waves. The
  // first four overlap, 5 ms apart, and the delete goes out with the fourth; after it each wave
  // waits for the one before, so that the stream goes on past the delete's answer without
  // piling up requests faster than a busy machine answers them.
  let previous: Promise<unknown> = Promise.resolve()
  for (let wave = 0; wavesAfterDelete < 2 && wave < 200; wave++) {
    if (wave === 3) {
      deletion = app.inject({ method: 'DELETE', url: `/posts/${post.id}`, headers: owner.headers })
      deletion.then(() => { deleteAnswered = true }, () => {})
    }
    if (wave > 3) await previous
    const sentAfterDelete = deleteAnswered
    const sent = togglers.map(voter => ({ postId: post.id, sentAfterDelete, response: castVote(app, voter, post.id, wave % 2 === 0 ? 1 : 0) }))
    if (wave % 2 === 0) sent.push(...voters.map(voter => ({ postId: kept.id, sentAfterDelete, response: castVote(app, voter, kept.id, 1) })))
    votes.push(...sent)
    previous = Promise.all(sent.map(vote => vote.response))
    if (sentAfterDelete) wavesAfterDelete++
    if (wave < 3) await sleep(5)
  }
  t.equal(wavesAfterDelete, 2, 'the delete was answered while votes were still coming')
  t.equal((await deletion!).statusCode, 204)
  const answered = await Promise.all(votes.map(async vote => ({ ...vote, response: await vote.response })))
  const allowed = new Set([201, 404, 409])
  t.strictSame(answered.filter(({ response }) => !allowed.has(response.statusCode)).map(({ response }) => `${response.statusCode} ${response.body}`), [])
  t.ok(answered.some(({ postId, sentAfterDelete, response }) => postId === post.id && !sentAfterDelete &&
    response.statusCode === 201 && response.json().message === 'successfully deleted vote'), 'votes were taken back before the delete')
  const late = answered.filter(({ postId, sentAfterDelete }) => postId === post.id && sentAfterDelete)
  t.equal(late.length, 2 * togglers.length)
  for (const { response } of late) t.strictSame(response.json(), { detail: `Post with id: ${post.id} does not exist` })

  t.equal(await countRows(app, 'posts where id = ?', [post.id]), 0)
  t.equal(await countRows(app, 'votes where post_id = ?', [post.id]), 0)
  t.equal(await countRows(app, 'vote_counts where post_id = ?', [post.id]), 0)
  t.equal(await countRows(app, 'votes v where not exists (select 1 from posts p where p.id = v.post_id)'), 0)
  t.equal(await countRows(app, 'votes where post_id = ?', [kept.id]), voters.length)
  t.strictSame(await sql(app, 'select votes from vote_counts where post_id = ?', [kept.id]), [{ votes: voters.length }])
})

t.test('one owner replacing a post from two sessions at once: every PUT 200, the last write whole', async t => {
  const app = await build(t, racing)
  const owner = await createUser(app)
  // A second session: another token of the same user (a later expiry makes it differ).
  const second = { authorization: `Bearer ${app.jwt.sign({ user_id: owner.id, sub: String(owner.id) }, { expiresIn: 1800 })}` }
  t.not(second.authorization, owner.headers.authorization)
  const sessions = [owner.headers, second]
  const post = await createPost(app, owner)
  const before = (await app.inject({ url: `/posts/${post.id}`, headers: owner.headers })).json().Post

  // Bodies differ in every field, so a row taking fields from two of them is caught.
  const bodies = Array.from({ length: 40 }, (_, i) => ({ title: `Title ${i}`, content: `Content ${i} `.repeat(i + 1), published: i % 2 === 0 }))
  const responses = await Promise.all(bodies.map((body, i) =>
    app.inject({ method: 'PUT', url: `/posts/${post.id}`, headers: sessions[i % 2]!, payload: { ...body, id: post.id } })))
  t.strictSame(responses.map(r => r.statusCode), bodies.map(() => 200))
  responses.forEach((response, i) => {
    const { title, content, published, id, owner_id: ownerId } = response.json()
    t.strictSame({ title, content, published, id, ownerId }, { ...bodies[i], id: post.id, ownerId: owner.id }, `PUT ${i} answers with its own body`)
  })

  const rows = await sql<{ id: number, title: string, content: string, published: boolean, owner_id: number }>(app,
    'select id, title, content, published, owner_id from posts')
  t.equal(rows.length, 1)
  const { title, content, published, id, owner_id: ownerId } = rows[0]!
  const written = bodies.find(body => body.title === title)
  t.ok(written, `the final title ${title} is one of the PUTs'`)
  t.strictSame({ title, content, published }, written, 'the final row is one PUT body, not a mix')
  t.strictSame({ id, ownerId }, { id: post.id, ownerId: owner.id })
  const after = (await app.inject({ url: `/posts/${post.id}`, headers: second })).json().Post
  t.strictSame(after, { ...before, ...written })
})

t.test('one owner patching different fields from two sessions at once: both changes stay', async t => {
  const app = await build(t, racing)
  const owner = await createUser(app)
  const second = { authorization: `Bearer ${app.jwt.sign({ user_id: owner.id, sub: String(owner.id) }, { expiresIn: 1800 })}` }
  const post = await createPost(app, owner, { title: 'Original title', content: 'Original content' })
  const changes = Array.from({ length: 40 }, (_, i) => i % 2 === 0 ? { title: `Title ${i}` } : { content: `Content ${i}` })
  const responses = await Promise.all(changes.map((change, i) =>
    app.inject({ method: 'PATCH', url: `/posts/${post.id}`, headers: i % 2 === 0 ? owner.headers : second, payload: change })))
  t.strictSame(responses.map(r => r.statusCode), changes.map(() => 200))
  const [row] = await sql<{ title: string, content: string }>(app, 'select title, content from posts where id = ?', [post.id])
  t.ok(changes.some(change => change.title === row!.title), `title ${row!.title} comes from a title PATCH`)
  t.ok(changes.some(change => change.content === row!.content), `content ${row!.content} comes from a content PATCH`)
})

t.test('a vote that loses the race to a delete is a 404 naming the post', async t => {
  const databaseUrl = await createTestDatabase(t)
  const app = await build(t, { ...racing, databaseUrl })
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
  t.equal(await countRows(app, 'votes'), 0)
})
