import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import t, { type Test } from 'tap'
import { build, createPost, createUser, sql, type TestUser } from '../helpers/app.js'
import { castVote, countRows } from '../helpers/assertions.js'

// The `votes` number of GET /posts and GET /posts/:id is read from `vote_counts`, a table kept
// by statement-level triggers on `votes`. These tests write votes every way there is (the API,
// multi-row SQL, cascades, truncate, many requests at once) and check that the API and the
// table still agree with the rows. The last tests drop one trigger each and show that the same
// check then fails: the counts really come from the triggers, not from a count of the rows.
// The same rows keep each post's `hot` rank and `created_at` for the ranked feeds, checked alike.

const noRateLimits = { config: { LOGIN_RATE_LIMIT: '0', RATE_LIMIT: '0' } }

const PAGE = 100

interface PostOut { Post: { id: number }, votes: number }

/** Every post's `votes` as GET /posts lists it, page by page. */
async function listedVotes (app: FastifyInstance, viewer: TestUser): Promise<Map<number, number>> {
  const listed = new Map<number, number>()
  for (let skip = 0; ; skip += PAGE) {
    const response = await app.inject({ url: `/posts?limit=${PAGE}&skip=${skip}`, headers: viewer.headers })
    if (response.statusCode !== 200) throw new Error(`GET /posts: ${response.statusCode} ${response.body}`)
    const page = response.json() as PostOut[]
    for (const { Post, votes } of page) listed.set(Post.id, votes)
    if (page.length < PAGE) return listed
  }
}

/** Each post's `votes` as GET /posts/:id answers it. */
async function votesOf (app: FastifyInstance, viewer: TestUser, postId: number): Promise<number | string> {
  const response = await app.inject({ url: `/posts/${postId}`, headers: viewer.headers })
  return response.statusCode === 200 ? (response.json() as PostOut).votes : `${response.statusCode} ${response.body}`
}

/**
 * Every way the counts disagree with the rows, as readable lines (none when all is exact):
 * the API (list and single post) against `count(*)` of each post's votes, and `vote_counts`
 * against `votes` grouped by post (a post without votes may have no row, or a row with 0).
 */
async function mismatches (app: FastifyInstance, viewer: TestUser): Promise<string[]> {
  const problems: string[] = []
  const posts = (await sql<{ id: number }>(app, 'select id from posts order by id')).map(row => row.id)
  const listed = await listedVotes(app, viewer)
  if (listed.size !== posts.length) problems.push(`GET /posts lists ${listed.size} posts, the table has ${posts.length}`)
  for (const id of posts) {
    const rows = await countRows(app, 'votes where post_id = ?', [id])
    if (listed.get(id) !== rows) problems.push(`post ${id}: GET /posts says ${listed.get(id)}, votes has ${rows} rows`)
    const single = await votesOf(app, viewer, id)
    if (single !== rows) problems.push(`post ${id}: GET /posts/${id} says ${single}, votes has ${rows} rows`)
  }

  const grouped = new Map((await sql<{ post_id: number, n: number }>(app,
    'select post_id, count(*)::int as n from votes group by post_id')).map(row => [row.post_id, row.n]))
  const counters = new Map((await sql<{ post_id: number, votes: number }>(app,
    'select post_id, votes from vote_counts')).map(row => [row.post_id, row.votes]))
  for (const id of new Set([...grouped.keys(), ...counters.keys()])) {
    const rows = grouped.get(id) ?? 0
    const counter = counters.get(id)
    if ((counter ?? 0) !== rows) problems.push(`vote_counts for post ${id} is ${counter ?? 'missing'}, votes has ${rows} rows`)
    if (counter !== undefined && !posts.includes(id)) problems.push(`vote_counts has a row for post ${id}, which does not exist`)
  }
  // The ranked feeds walk every post's row: each must be there, with the post's created_at and its exact hot rank.
  const unranked = await sql<{ id: number, problem: string }>(app, `
    select p.id, case when c.post_id is null then 'no row' when c.created_at <> p.created_at then 'another created_at' else 'a stale hot rank' end as problem
      from posts p left join vote_counts c on c.post_id = p.id
     where c.post_id is null or c.created_at <> p.created_at or c.hot <> post_hot(c.votes, p.created_at)`)
  for (const { id, problem } of unranked) problems.push(`vote_counts for post ${id}: ${problem}`)
  return problems
}

/** Each of the posts' `votes` through GET /posts/:id, for exact expected values. */
async function apiVotes (app: FastifyInstance, viewer: TestUser, postIds: number[]): Promise<(number | string)[]> {
  return Promise.all(postIds.map(id => votesOf(app, viewer, id)))
}

async function setUp (t: Test, users: number, posts: number, poolSize = 10) {
  const app = await build(t, { config: { ...noRateLimits.config, DATABASE_POOL_SIZE: String(poolSize), DATABASE_POOL_TIMEOUT: '10000' } })
  const people = (await Promise.all(Array.from({ length: users }, () => createUser(app)))).sort((a, b) => a.id - b.id)
  const created = []
  for (let i = 0; i < posts; i++) created.push(await createPost(app, people[i % users]!, { title: `Post ${i}` }))
  return { app, users: people, posts: created, ids: created.map(post => post.id) }
}

t.test('votes through the API: add, remove, re-add', async t => {
  const { app, users: [ada, bob, cy], ids } = await setUp(t, 3, 2)
  const [p1, p2] = ids as [number, number]
  t.strictSame(await mismatches(app, ada!), [], 'no votes yet')
  t.strictSame(await apiVotes(app, ada!, ids), [0, 0])

  for (const user of [ada!, bob!, cy!]) t.equal((await castVote(app, user, p1, 1)).statusCode, 201)
  t.equal((await castVote(app, bob!, p2, 1)).statusCode, 201)
  t.strictSame(await apiVotes(app, cy!, ids), [3, 1], 'after adding')
  t.strictSame(await mismatches(app, ada!), [], 'after adding')

  t.equal((await castVote(app, ada!, p1, 1)).statusCode, 409, 'a second vote is refused')
  t.equal((await castVote(app, cy!, p2, 0)).statusCode, 404, 'taking back a vote never cast')
  t.strictSame(await apiVotes(app, cy!, ids), [3, 1], 'refused requests change nothing')
  t.strictSame(await mismatches(app, ada!), [], 'after refused requests')

  t.equal((await castVote(app, ada!, p1, 0)).statusCode, 201)
  t.equal((await castVote(app, bob!, p1, 0)).statusCode, 201)
  t.equal((await castVote(app, bob!, p2, 0)).statusCode, 201)
  t.strictSame(await apiVotes(app, cy!, ids), [1, 0], 'after removing')
  t.strictSame(await mismatches(app, ada!), [], 'after removing')

  t.equal((await castVote(app, ada!, p1, 1)).statusCode, 201)
  t.equal((await castVote(app, bob!, p2, 1)).statusCode, 201)
  t.strictSame(await apiVotes(app, cy!, ids), [2, 1], 'after re-adding')
  t.strictSame(await mismatches(app, ada!), [], 'after re-adding')
})

t.test('plain SQL: one insert statement of several rows across several posts', async t => {
  const { app, users, ids } = await setUp(t, 4, 4)
  const [p1, p2, p3, p4] = ids as [number, number, number, number]
  const [u1, u2, u3, u4] = users.map(user => user.id) as [number, number, number, number]
  // p1 already has a counter row (from the API); the others get theirs from the statement.
  t.equal((await castVote(app, users[0]!, p1, 1)).statusCode, 201)

  await sql(app, 'insert into votes (user_id, post_id) values (?, ?), (?, ?), (?, ?), (?, ?), (?, ?), (?, ?)',
    [u2, p1, u3, p1, u1, p2, u2, p2, u4, p3, u3, p3])
  t.strictSame(await apiVotes(app, users[1]!, ids), [3, 2, 2, 0], 'after a multi-row VALUES insert')
  t.strictSame(await mismatches(app, users[0]!), [], 'after a multi-row VALUES insert')

  // INSERT ... SELECT, part of which conflicts with existing rows and is skipped.
  await sql(app, 'insert into votes (user_id, post_id) select u.id, p.id from users u cross join posts p where p.id in (?, ?, ?) on conflict do nothing',
    [p1, p3, p4])
  t.strictSame(await apiVotes(app, users[1]!, ids), [4, 2, 4, 4], 'after INSERT ... SELECT ... ON CONFLICT DO NOTHING')
  t.strictSame(await mismatches(app, users[0]!), [], 'after INSERT ... SELECT ... ON CONFLICT DO NOTHING')

  // A rolled-back insert leaves no trace in the counts.
  const client = await app.pg.connect()
  try {
    await client.query('begin')
    await client.query('insert into votes (user_id, post_id) select u.id, $1::int from users u on conflict do nothing', [p2])
    await client.query('rollback')
  } finally {
    client.release()
  }
  t.strictSame(await apiVotes(app, users[1]!, ids), [4, 2, 4, 4], 'after a rolled-back insert')
  t.strictSame(await mismatches(app, users[0]!), [], 'after a rolled-back insert')
})

t.test('plain SQL: one delete statement of several rows', async t => {
  const { app, users, ids } = await setUp(t, 4, 3)
  const [p1, p2, p3] = ids as [number, number, number]
  await sql(app, 'insert into votes (user_id, post_id) select u.id, p.id from users u cross join posts p')
  t.strictSame(await apiVotes(app, users[0]!, ids), [4, 4, 4])
  t.strictSame(await mismatches(app, users[0]!), [], 'after the insert')

  await sql(app, 'delete from votes where user_id = ?', [users[0]!.id])
  t.strictSame(await apiVotes(app, users[1]!, ids), [3, 3, 3], 'after deleting one user\'s votes on every post')
  t.strictSame(await mismatches(app, users[1]!), [], 'after deleting one user\'s votes')

  await sql(app, 'delete from votes where post_id in (?, ?) and user_id <> ?', [p1, p3, users[3]!.id])
  t.strictSame(await apiVotes(app, users[1]!, ids), [1, 3, 1], 'after deleting votes across two posts')
  t.strictSame(await mismatches(app, users[1]!), [], 'after deleting votes across two posts')

  await sql(app, 'delete from votes where post_id = ?', [p2])
  t.strictSame(await apiVotes(app, users[1]!, ids), [1, 0, 1], 'after deleting all of a post\'s votes')
  t.strictSame(await mismatches(app, users[1]!), [], 'after deleting all of a post\'s votes')

  await sql(app, 'delete from votes where post_id = ?', [p2])
  t.strictSame(await mismatches(app, users[1]!), [], 'a delete that removes nothing changes nothing')
})

t.test('plain SQL: update votes set post_id moves votes between posts', async t => {
  const { app, users, ids } = await setUp(t, 4, 4)
  const [p1, p2, p3, p4] = ids as [number, number, number, number]
  await sql(app, 'insert into votes (user_id, post_id) select u.id, ?::int from users u', [p1])
  await sql(app, 'insert into votes (user_id, post_id) values (?, ?)', [users[0]!.id, p2])
  t.strictSame(await apiVotes(app, users[0]!, ids), [4, 1, 0, 0])
  t.strictSame(await mismatches(app, users[0]!), [], 'before moving')

  // Two votes of p1 go to p3 (which had no counter row): p1 down, p3 up.
  await sql(app, 'update votes set post_id = ? where post_id = ? and user_id in (?, ?)', [p3, p1, users[1]!.id, users[2]!.id])
  t.strictSame(await apiVotes(app, users[0]!, ids), [2, 1, 2, 0], 'after moving two votes to a post without votes')
  t.strictSame(await mismatches(app, users[0]!), [], 'after moving two votes to a post without votes')

  // One statement moves votes from several posts to several others.
  await sql(app, 'update votes set post_id = case post_id when ?::int then ?::int when ?::int then ?::int else post_id end where post_id in (?, ?)',
    [p1, p4, p3, p2, p1, p3])
  t.strictSame(await apiVotes(app, users[0]!, ids), [0, 3, 0, 2], 'after moving votes between several posts at once')
  t.strictSame(await mismatches(app, users[0]!), [], 'after moving votes between several posts at once')

  // Votes crossing in both directions in one statement, and an update that keeps post_id.
  const [u1, u2, u3, u4] = users.map(user => user.id)
  t.strictSame(await sql(app, 'select user_id from votes where post_id = ? order by user_id', [p2]), [{ user_id: u1 }, { user_id: u2 }, { user_id: u3 }])
  await sql(app, 'update votes set post_id = case post_id when ?::int then ?::int else ?::int end where (post_id = ? and user_id in (?, ?)) or (post_id = ? and user_id = ?)',
    [p2, p4, p2, p2, u2, u3, p4, u4])
  t.strictSame(await apiVotes(app, users[0]!, ids), [0, 2, 0, 3], 'after moving votes both ways between two posts')
  await sql(app, 'update votes set user_id = user_id')
  t.strictSame(await apiVotes(app, users[0]!, ids), [0, 2, 0, 3], 'after an update that moves nothing')
  t.strictSame(await mismatches(app, users[0]!), [], 'after crossing moves and a no-op update')
})

t.test('deleting a post cascades its votes and its counter row', async t => {
  const { app, users, ids } = await setUp(t, 3, 4)
  const [p1, p2, p3, p4] = ids as [number, number, number, number]
  await sql(app, 'insert into votes (user_id, post_id) select u.id, p.id from users u cross join posts p')
  t.strictSame(await apiVotes(app, users[0]!, ids), [3, 3, 3, 3])

  // p1 is users[0]'s: deleted through the API.
  const deleted = await app.inject({ method: 'DELETE', url: `/posts/${p1}`, headers: users[0]!.headers })
  t.equal(deleted.statusCode, 204)
  t.equal(await countRows(app, 'vote_counts where post_id = ?', [p1]), 0, 'no counter row for the post deleted through the API')
  t.strictSame(await mismatches(app, users[1]!), [], 'after deleting a post through the API')

  // p2 and p3 in one SQL statement; their votes cascade, p4's stay.
  await sql(app, 'delete from posts where id in (?, ?)', [p2, p3])
  t.equal(await countRows(app, 'vote_counts where post_id in (?, ?)', [p2, p3]), 0, 'no counter rows for the posts deleted by SQL')
  t.equal(await countRows(app, 'votes where post_id not in (select id from posts)'), 0, 'no orphan votes')
  t.equal(await countRows(app, 'vote_counts where post_id not in (select id from posts)'), 0, 'no orphan counter rows')
  t.strictSame(await apiVotes(app, users[1]!, [p4]), [3])
  t.strictSame(await mismatches(app, users[1]!), [], 'after deleting posts by SQL')
})

t.test('deleting a user cascades through their votes and their posts', async t => {
  const { app, users, ids } = await setUp(t, 3, 3)
  const [p1, p2, p3] = ids as [number, number, number]
  const [gone, stays, other] = users as [TestUser, TestUser, TestUser]
  // Posts are owned round-robin: p1 is gone's, p2 stays's, p3 other's.
  await sql(app, 'insert into votes (user_id, post_id) select u.id, p.id from users u cross join posts p')
  t.strictSame(await apiVotes(app, stays, ids), [3, 3, 3])

  await sql(app, 'delete from users where id = ?', [gone.id])
  t.equal(await countRows(app, 'posts where id = ?', [p1]), 0, 'the user\'s post went with them')
  t.equal(await countRows(app, 'vote_counts where post_id = ?', [p1]), 0, 'no orphan counter row for the user\'s post')
  t.equal(await countRows(app, 'votes where user_id = ?', [gone.id]), 0, 'the user\'s votes went with them')
  t.strictSame(await apiVotes(app, stays, [p2, p3]), [2, 2], 'the user\'s votes on other posts are no longer counted')
  t.strictSame(await mismatches(app, stays), [], 'after deleting a user')

  await sql(app, 'delete from users where id in (?, ?)', [other.id, stays.id])
  const survivor = await createUser(app)
  t.equal(await countRows(app, 'vote_counts'), 0, 'no counter row left once every post is gone')
  t.strictSame(await mismatches(app, survivor), [], 'after deleting the other users')
})

t.test('truncate votes resets the counts to zero', async t => {
  const { app, users, ids } = await setUp(t, 3, 3)
  await sql(app, 'insert into votes (user_id, post_id) select u.id, p.id from users u cross join posts p where p.id <> ?', [ids[2]])
  t.strictSame(await apiVotes(app, users[0]!, ids), [3, 3, 0])
  t.strictSame(await mismatches(app, users[0]!), [], 'before truncating')

  await sql(app, 'truncate votes')
  t.strictSame(await apiVotes(app, users[0]!, ids), [0, 0, 0], 'after truncate')
  t.strictSame(await mismatches(app, users[0]!), [], 'after truncate')
  t.equal(await countRows(app, 'vote_counts where votes <> 0'), 0, 'no non-zero counter row')

  // Counting starts again from zero.
  t.equal((await castVote(app, users[1]!, ids[0]!, 1)).statusCode, 201)
  await sql(app, 'insert into votes (user_id, post_id) values (?, ?), (?, ?)', [users[0]!.id, ids[0], users[0]!.id, ids[2]])
  t.strictSame(await apiVotes(app, users[0]!, ids), [2, 0, 1], 'votes after the truncate')
  t.strictSame(await mismatches(app, users[0]!), [], 'votes after the truncate')
})

t.test('200 simultaneous API votes by 20 users on 5 posts leave exact counts and no 5xx', async t => {
  // Votes on one post wait for each other's commits. With 25 connections the five posts' votes
  // proceed side by side; the rest of the burst waits for a connection, longer than the default
  // 1.5 s on a busy machine (then a 503, as it should be), so here up to 10 s.
  const { app, users, posts, ids } = await setUp(t, 20, 5, 25)
  // Some votes exist beforehand, so that some dir 0 requests have a vote to take back.
  await sql(app, 'insert into votes (user_id, post_id) select u.id, p.id from users u cross join posts p where (u.id + p.id) % 3 = 0')
  const before = await sql<{ user_id: number, post_id: number }>(app, 'select user_id, post_id from votes')
  t.ok(before.length > 0)
  t.strictSame(await mismatches(app, users[0]!), [], 'before the burst')

  // Each (user, post) pair gets two requests, in an order spread over the burst.
  const attempts = Array.from({ length: 200 }, (_, i) => ({
    user: users[i % 20]!,
    post: posts[Math.floor(i / 20) % 5]!,
    dir: (i * 7 + Math.floor(i / 3)) % 3 === 0 ? 0 : 1
  }))
  t.ok(attempts.some(a => a.dir === 0) && attempts.some(a => a.dir === 1), 'both directions are sent')
  const responses: LightMyRequestResponse[] = await Promise.all(attempts.map(({ user, post, dir }) => castVote(app, user, post.id, dir)))

  const allowed = new Set([201, 404, 409])
  t.strictSame(responses.filter(r => !allowed.has(r.statusCode)).map(r => `${r.statusCode} ${r.body}`), [], 'only 201, 404 and 409')
  t.ok(responses.filter(r => r.statusCode === 201).length > 0, 'some votes went through')

  // Each pair's rows: what it had, plus the successful adds, minus the successful removals.
  const expected = new Map<string, number>()
  for (const { user_id: userId, post_id: postId } of before) expected.set(`${userId}/${postId}`, 1)
  attempts.forEach(({ user, post, dir }, i) => {
    if (responses[i]!.statusCode !== 201) return
    const key = `${user.id}/${post.id}`
    expected.set(key, (expected.get(key) ?? 0) + (dir === 1 ? 1 : -1))
  })
  const after = await sql<{ user_id: number, post_id: number }>(app, 'select user_id, post_id from votes')
  const actual = new Map(after.map(row => [`${row.user_id}/${row.post_id}`, 1]))
  t.strictSame(Object.fromEntries([...actual].sort()), Object.fromEntries([...expected].filter(([, n]) => n !== 0).sort()),
    'the rows are the successful requests applied to the rows before')

  const perPost = ids.map(id => after.filter(row => row.post_id === id).length)
  t.strictSame(await apiVotes(app, users[3]!, ids), perPost, 'GET /posts/:id counts the rows')
  t.strictSame(await mismatches(app, users[0]!), [], 'after the burst')
})

// The counts above are right only because of the triggers: without one, the same checks fail.
const withoutTrigger: [trigger: string, write: (app: FastifyInstance, users: TestUser[], ids: number[]) => Promise<unknown>][] = [
  ['votes_count_insert', (app, users, ids) => castVote(app, users[1]!, ids[0]!, 1)],
  ['votes_count_delete', (app, users) => sql(app, 'delete from votes where user_id = ?', [users[0]!.id])],
  ['votes_count_update', (app, _users, ids) => sql(app, 'update votes set post_id = ? where post_id = ?', [ids[1], ids[0]])],
  ['votes_count_truncate', app => sql(app, 'truncate votes')]
]

for (const [trigger, write] of withoutTrigger) {
  t.test(`control: with ${trigger} dropped, the counts no longer match the rows`, async t => {
    const { app, users, ids } = await setUp(t, 2, 2)
    t.equal((await castVote(app, users[0]!, ids[0]!, 1)).statusCode, 201)
    t.strictSame(await mismatches(app, users[0]!), [], 'exact before the trigger is dropped')

    await sql(app, `drop trigger ${trigger} on votes`)
    t.equal(await countRows(app, 'pg_trigger where tgrelid = \'votes\'::regclass and tgname = ?', [trigger]), 0, 'the trigger is gone')
    await write(app, users, ids)
    const rows = await Promise.all(ids.map(id => countRows(app, 'votes where post_id = ?', [id])))
    const shown = await apiVotes(app, users[0]!, ids)
    t.notSame(shown, rows, `GET /posts/:id (${shown.join(', ')}) disagrees with the rows (${rows.join(', ')})`)
    t.ok((await mismatches(app, users[0]!)).length > 0, 'the check every other test makes fails')
  })
}

// The same for the triggers on `posts` that keep every post ranked.
const withoutPostTrigger: [trigger: string, write: (app: FastifyInstance, users: TestUser[], ids: number[]) => Promise<unknown>][] = [
  ['posts_vote_counts_insert', (app, users) => createPost(app, users[0]!)],
  ['posts_vote_counts_move', (app, _users, ids) => sql(app, 'update posts set created_at = created_at - interval \'3 days\' where id = ?', [ids[0]])]
]

for (const [trigger, write] of withoutPostTrigger) {
  t.test(`control: with ${trigger} dropped, a post's rank no longer matches it`, async t => {
    const { app, users, ids } = await setUp(t, 2, 2)
    t.strictSame(await mismatches(app, users[0]!), [], 'exact before the trigger is dropped')
    await sql(app, `drop trigger ${trigger} on posts`)
    await write(app, users, ids)
    t.ok((await mismatches(app, users[0]!)).length > 0, 'the check every other test makes fails')
  })
}

t.test('posts back-dated, renumbered or inserted by plain SQL keep exact ranks', async t => {
  const { app, users, ids } = await setUp(t, 2, 3)
  await castVote(app, users[0]!, ids[0]!, 1)
  await castVote(app, users[1]!, ids[0]!, 1)
  await sql(app, 'update posts set created_at = created_at - interval \'2 days\' where id = ?', [ids[0]])
  await sql(app, 'update posts set id = id + 1000 where id = ?', [ids[2]])
  await sql(app, 'insert into posts (title, content, owner_id, created_at) select \'bulk\', \'c\', ?, now() - n * interval \'1 hour\' from generate_series(1, 5) n', [users[1]!.id])
  await sql(app, 'update posts set title = \'renamed\' where id = ?', [ids[1]])
  t.strictSame(await mismatches(app, users[0]!), [])
  t.equal(await countRows(app, 'vote_counts'), await countRows(app, 'posts'), 'one row per post')
})

// The usual ways to reset a course database: every TRUNCATE that PostgreSQL allows on the
// course's three tables works here too, and leaves the counts exact; the forms it refuses
// are refused for the course's own foreign keys, never for Postline's counter table.
const COURSE_TABLES = ['users', 'posts', 'votes'] as const
/** A table that others reference can only be truncated with them (or with CASCADE). */
const REFERENCED_BY: Record<string, string[]> = { users: ['posts', 'votes'], posts: ['votes'], votes: [] }

t.test('every TRUNCATE form on the course\'s tables works, or fails as on the course\'s schema, and the counts stay exact', async t => {
  const app = await build(t, noRateLimits)
  const subsets = [1, 2, 3, 4, 5, 6, 7].map(bits => COURSE_TABLES.filter((_, i) => bits & (1 << i)))
  const forms = subsets.flatMap(tables => ['', ' restart identity'].flatMap(identity => ['', ' cascade'].map(cascade => ({
    tables,
    statement: `truncate ${tables.join(', ')}${identity}${cascade}`,
    allowed: cascade !== '' || tables.every(table => REFERENCED_BY[table]!.every(other => (tables as string[]).includes(other)))
  }))))
  // Postline's own table too, alone and beside the course's.
  forms.push({ tables: [], statement: 'truncate vote_counts', allowed: true }, { tables: ['votes'], statement: 'truncate votes, vote_counts', allowed: true }, { tables: ['posts', 'votes'], statement: 'truncate posts, votes, vote_counts', allowed: true })

  for (const { tables, statement, allowed } of forms) {
    await sql(app, 'insert into users (email, password) select \'seed\' || g || \'.\' || md5(random()::text) || \'@example.com\', \'x\' from generate_series(1, 3) g')
    await sql(app, 'insert into posts (title, content, owner_id) select \'seeded\', \'c\', id from users')
    await sql(app, 'insert into votes (user_id, post_id) select u.id, p.id from users u cross join posts p where (u.id + p.id) % 2 = 0 on conflict do nothing')
    const before = await countRows(app, 'votes')
    t.ok(before > 0, `${statement}: there are votes before`)

    let error: (Error & { code?: string, detail?: string }) | undefined
    try {
      await sql(app, statement)
    } catch (err) {
      error = err as Error
    }
    if (allowed) {
      t.equal(error, undefined, `${statement}: works (${error?.message ?? 'no error'})`)
      for (const table of tables) t.equal(await countRows(app, table), 0, `${statement}: ${table} is empty`)
    } else {
      t.equal(error?.code, '0A000', `${statement}: refused, as on the course's schema (${error?.message})`)
      t.notMatch(`${error?.message} ${error?.detail}`, /vote_counts|sessions|session_resets|refresh_tokens/, `${statement}: not because of Postline's own tables`)
    }
    const viewer = await createUser(app)
    t.strictSame(await mismatches(app, viewer), [], `${statement}: the counts are exact`)
    // Counting goes on from there.
    await sql(app, 'insert into votes (user_id, post_id) select ?, id from posts on conflict do nothing', [viewer.id])
    t.strictSame(await mismatches(app, viewer), [], `${statement}: and exact for the votes after it`)
  }
})
