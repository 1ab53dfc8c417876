import type { FastifyInstance } from 'fastify'
import t, { type Test } from 'tap'
import { isFeedPosition, listFeed } from '../../db/queries/feeds.js'
import { decodeCursor, encodeCursor } from '../../lib/cursor.js'
import { TEST_SECRET, build, createPost, createTestDatabase, createUser, sql, type TestUser } from '../helpers/app.js'
import { assertValidationError, castVote } from '../helpers/assertions.js'

// Ranked, cursor-paged feeds: GET /posts and GET /users/{id}/posts with sort, t, cursor and
// include. Orders are checked against the contract's formulas computed here from the rows,
// on posts back-dated by plain SQL and voted both through the API and by plain SQL.

interface PostOut { Post: { id: number, owner_id: number, created_at: string }, votes: number, voted?: boolean }
interface Row { id: number, owner_id: number, epoch: number, votes: number }

const SORTS = ['new', 'top', 'hot'] as const
const WINDOWS = { hour: 3600, day: 86_400, week: 7 * 86_400, month: 30 * 86_400, year: 365 * 86_400, all: Infinity } as const
type Sort = typeof SORTS[number]
type Window = keyof typeof WINDOWS

const hot = (row: Row) => Math.log10(Math.max(row.votes, 1)) + (row.epoch - 1134028003) / 45000

/** The contract's order for `sort`, computed here: each comparison, then id descending. */
function ordered (rows: Row[], sort: Sort): number[] {
  const keys: Record<Sort, (row: Row) => number[]> = {
    new: row => [row.epoch],
    top: row => [row.votes, row.epoch],
    hot: row => [hot(row)]
  }
  return [...rows].sort((a, b) => {
    const [ka, kb] = [keys[sort](a), keys[sort](b)]
    for (let i = 0; i < ka.length; i++) if (ka[i] !== kb[i]) return kb[i]! - ka[i]!
    return b.id - a.id
  }).map(row => row.id)
}

/** Every post with its exact vote count from the rows, and how old it is, by the database's clock. */
async function rows (app: FastifyInstance, ownerId?: number): Promise<(Row & { now: number })[]> {
  const found = await sql<Row & { now: number }>(app, `
    select p.id, p.owner_id, extract(epoch from p.created_at)::float8 as epoch, count(v.post_id)::int as votes, extract(epoch from now())::float8 as now
      from posts p left join votes v on v.post_id = p.id
     where ?::int is null or p.owner_id = ?::int
     group by p.id`, [ownerId ?? null, ownerId ?? null])
  return found
}

const inWindow = (all: Row[], t: Window, now: number) => all.filter(row => row.epoch >= now - WINDOWS[t])

/** The `rel="next"` target of a Link header, or undefined. */
function nextOf (link: string | string[] | number | undefined): string | undefined {
  if (typeof link !== 'string') return undefined
  return /^<([^>]+)>; rel="next"$/.exec(link)?.[1]
}

/** Follows `rel="next"` from `url` to the end; every page's ids, in order. */
async function walk (app: FastifyInstance, user: TestUser, url: string, pages: number[][] = []): Promise<number[][]> {
  for (let next: string | undefined = url; next !== undefined;) {
    const response = await app.inject({ url: next, headers: user.headers })
    if (response.statusCode !== 200) throw new Error(`GET ${next}: ${response.statusCode} ${response.body}`)
    const page = (response.json() as PostOut[]).map(post => post.Post.id)
    pages.push(page)
    next = nextOf(response.headers.link)
    if (pages.length > 1000) throw new Error('the walk does not end')
  }
  return pages
}

/** Users and posts of every age (back-dated by SQL), voted through the API and by SQL. */
async function seeded (t: Test) {
  const app = await build(t)
  const users = await Promise.all([0, 1, 2, 3].map(() => createUser(app)))
  const [ada, bob] = users as [TestUser, TestUser]
  // Ages in hours, away from each window's edge; several posts per window, two at the same instant.
  const ages = [0.1, 0.5, 0.5, 3, 20, 30, 100, 200, 400, 1000, 3000, 5000, 9000, 20_000]
  await sql(app, `insert into posts (title, content, owner_id, created_at)
    select 'Post ' || i, 'content', case when i % 3 = 0 then ?::int else ?::int end, date_trunc('second', now()) - age * interval '1 hour'
      from unnest(?::float8[]) with ordinality as a(age, i)`, [bob.id, ada.id, ages])
  const ids = (await sql<{ id: number }>(app, 'select id from posts order by id')).map(row => row.id)
  // Votes: by SQL, many rows at once (a few posts get many), and through the API.
  await sql(app, `insert into votes (user_id, post_id)
    select u.id, p.id from users u, posts p where (p.id * 7 + u.id) % 3 = 0 or p.id = ?`, [ids[9]])
  for (const id of ids.slice(0, 4)) {
    const response = await castVote(app, users[3]!, id, (await sql(app, 'select from votes where user_id = ? and post_id = ?', [users[3]!.id, id])).length ? 0 : 1)
    t.equal(response.statusCode, 201)
  }
  return { app, users, ada, bob, ids }
}

t.test('every sort and window lists exactly the posts the formulas order, page by page through Link', async t => {
  const { app, ada } = await seeded(t)
  const all = await rows(app)
  const now = all[0]!.now
  for (const sort of SORTS) {
    for (const t_ of Object.keys(WINDOWS) as Window[]) {
      const expected = ordered(inWindow(all, t_, now), sort)
      const pages = await walk(app, ada, `/posts?sort=${sort}&t=${t_}&limit=4`)
      t.strictSame(pages.flat(), expected, `sort=${sort} t=${t_}`)
      t.ok(pages.slice(0, -1).every(page => page.length === 4), `sort=${sort} t=${t_}: every page but the last is full`)
    }
  }
  const first = await app.inject({ url: '/posts?sort=top&limit=100', headers: ada.headers })
  const listed = first.json() as PostOut[]
  t.strictSame(listed.map(post => post.votes), ordered(all, 'top').map(id => all.find(row => row.id === id)!.votes), 'each post shows its exact votes')
  t.equal(first.headers.link, undefined, 'a page shorter than limit has no next link')
})

t.test('a windowed feed excludes back-dated posts once they leave the window', async t => {
  const { app, ada, ids } = await seeded(t)
  const day = async () => (await walk(app, ada, '/posts?t=day&sort=hot&limit=50')).flat()
  const before = await day()
  t.ok(before.includes(ids[0]!))
  await sql(app, 'update posts set created_at = created_at - interval \'2 days\' where id = ?', [ids[0]])
  t.notOk((await day()).includes(ids[0]!), 'moved out of the last 24 hours')
  t.ok((await walk(app, ada, '/posts?t=week&sort=hot&limit=50')).flat().includes(ids[0]!), 'still within the week')
})

t.test('a window is its length in hours, whatever the time zone of the database\'s sessions', async t => {
  // A time zone whose clocks went forward an hour two days ago: its last 7 calendar days are 167 hours.
  const changed = new Date(Date.now() - 2 * 86_400_000)
  const month = changed.getUTCMonth() + 1
  const zone = `STD0DST,M${month}.${Math.ceil(changed.getUTCDate() / 7)}.${changed.getUTCDay()}/0,M${(month + 5) % 12 + 1}.1.0/0`
  const url = await createTestDatabase(t)
  await sql(await build(t, { databaseUrl: url }), `alter database "${new URL(url).pathname.slice(1)}" set timezone = '${zone}'`)
  const app = await build(t, { databaseUrl: url })
  const [{ hours }] = await sql<{ hours: number }>(app, 'select extract(epoch from now() - (now() - interval \'7 days\'))::float / 3600 as hours')
  t.equal(hours, 167, 'the sessions\' 7 days are 167 hours (the premise)')
  const ada = await createUser(app)
  const [inside, outside] = [await createPost(app, ada), await createPost(app, ada)]
  await sql(app, 'update posts set created_at = now() - interval \'167 hours 30 minutes\' where id = ?', [inside.id])
  await sql(app, 'update posts set created_at = now() - interval \'168 hours 30 minutes\' where id = ?', [outside.id])
  for (const url of ['/posts?t=week', '/posts?t=week&sort=top', `/users/${ada.id}/posts?t=week&sort=hot`]) {
    const ids = (await app.inject({ url, headers: ada.headers })).json().map((post: PostOut) => post.Post.id)
    t.same(ids, [inside.id], `${url}: 167.5 hours ago is within the week, 168.5 is not`)
  }
})

t.test('votes written by plain SQL reorder top and hot at once', async t => {
  const { app, ada, ids } = await seeded(t)
  const oldest = ids[ids.length - 1]!
  const topFirst = async (sort: Sort) => ((await app.inject({ url: `/posts?sort=${sort}&limit=1`, headers: ada.headers })).json() as PostOut[])[0]
  t.not((await topFirst('top'))!.Post.id, oldest)
  // A year-old post with a thousand more votes than any other: first by top, not by hot.
  await sql(app, 'insert into users (email, password) select \'bulk\' || n || \'@example.com\', \'x\' from generate_series(1, 1000) n')
  await sql(app, 'insert into votes (user_id, post_id) select id, ? from users where email like \'bulk%\'', [oldest])
  const top = await topFirst('top')
  t.equal(top!.Post.id, oldest)
  t.equal(top!.votes, await sql<{ n: number }>(app, 'select count(*)::int as n from votes where post_id = ?', [oldest]).then(r => r[0]!.n))
  const all = await rows(app)
  t.strictSame((await walk(app, ada, '/posts?sort=hot&limit=5')).flat(), ordered(all, 'hot'), 'hot follows the formula with the new votes')
  await sql(app, 'delete from votes where post_id = ?', [oldest])
  t.not((await topFirst('top'))!.Post.id, oldest, 'and again once they are deleted')
  t.strictSame((await walk(app, ada, '/posts?sort=top&limit=5')).flat(), ordered(await rows(app), 'top'))
})

t.test('Link: the request\'s own path and parameters, skip left out, cursor added', async t => {
  const { app, ada } = await seeded(t)
  const response = await app.inject({ url: '/posts/?limit=3&search=Post&sort=hot&skip=2&t=all', headers: ada.headers })
  t.equal(response.statusCode, 200)
  const next = nextOf(response.headers.link)
  t.ok(next, `a full page has a next link: ${response.headers.link}`)
  const url = new URL(next!, 'http://host')
  t.equal(url.pathname, '/posts/', 'the request\'s own path')
  t.strictSame([...url.searchParams.keys()], ['limit', 'search', 'sort', 't', 'cursor'])
  t.strictSame(Object.fromEntries(url.searchParams), { limit: '3', search: 'Post', sort: 'hot', t: 'all', cursor: url.searchParams.get('cursor') })

  // The cursor continues where skip left off: the same posts as a deeper skip.
  const bySkip = await app.inject({ url: '/posts?limit=3&search=Post&sort=hot&skip=5', headers: ada.headers })
  const byCursor = await app.inject({ url: next!, headers: ada.headers })
  t.strictSame(byCursor.json(), bySkip.json())

  const plain = await app.inject({ url: '/posts?limit=2', headers: ada.headers })
  t.match(plain.headers.link, /^<\/posts\?limit=2&cursor=[\w.-]+>; rel="next"$/, 'the course\'s feed gains only the header')

  // A `?` after the first is part of a value, for the router and for the link alike.
  for (const title of ['Why? one', 'Why? two']) await createPost(app, ada, { title })
  const questioned = await app.inject({ url: '/posts?search=Why?&sort=hot&limit=1', headers: ada.headers })
  const walked = new URL(nextOf(questioned.headers.link)!, 'http://host')
  t.strictSame([walked.searchParams.get('search'), walked.searchParams.get('sort'), walked.searchParams.get('limit')], ['Why?', 'hot', '1'], 'every parameter after a literal ? is kept')
  const second = await app.inject({ url: walked.pathname + walked.search, headers: ada.headers })
  t.strictSame([second.statusCode, second.json().map((post: PostOut) => post.Post.id).length], [200, 1], 'and its next page is the other post')
})

t.test('a full walk sees every post exactly once while posts are created, deleted and voted', async t => {
  const { app, users, ada, bob } = await seeded(t)
  for (let i = 0; i < 40; i++) await createPost(app, i % 2 ? ada : bob, { title: `More ${i}` })
  await sql(app, 'update posts set created_at = created_at - (id % 17) * interval \'1 hour\'')
  const all = await rows(app)
  // Left alone during the walk: every other post. The rest are deleted or voted on meanwhile.
  const stable = new Set(all.filter(row => row.id % 2 === 0).map(row => row.id))
  const changing = all.filter(row => !stable.has(row.id)).map(row => row.id)
  const expected: Record<Sort, number[]> = { new: [], top: [], hot: [] }
  for (const sort of SORTS) expected[sort] = ordered(all, sort).filter(id => stable.has(id))

  for (const sort of SORTS) {
    const state = { walking: true }
    const pages: number[][] = []
    const walker = walk(app, ada, `/posts?sort=${sort}&limit=3`, pages).finally(() => { state.walking = false })
    let changes = 0
    const mutator = (async () => {
      for (let i = 0; state.walking; i++) {
        const id = changing[i % changing.length]!
        const voter = users[i % users.length]!
        if (i % 5 === 0) await createPost(app, voter, { title: `During ${sort} ${i}` })
        else if (i % 7 === 0) await sql(app, 'delete from posts where id = ?', [id])
        else await sql(app, 'insert into votes (user_id, post_id) select ?, id from posts where id = ? on conflict do nothing', [voter.id, id])
        changes++
        await new Promise(resolve => setImmediate(resolve))
      }
    })()
    await Promise.all([walker, mutator])
    const seen = pages.flat()
    t.ok(changes > 0, `sort=${sort}: ${changes} changes were made during the walk`)
    t.strictSame(seen.filter(id => stable.has(id)), expected[sort], `sort=${sort}: every untouched post exactly once, in order`)
    const counts = new Map<number, number>()
    for (const id of seen) counts.set(id, (counts.get(id) ?? 0) + 1)
    t.ok([...counts.values()].every(n => n <= 2), `sort=${sort}: no post more than twice`)
    if (sort === 'new') t.equal(counts.size, seen.length, 'sort=new: no post twice (its key never changes)')
  }
})

t.test('a cursor past a deleted post continues after it', async t => {
  const { app, ada, bob } = await seeded(t)
  for (const sort of SORTS) {
    const expected = ordered(await rows(app), sort)
    const first = await app.inject({ url: `/posts?sort=${sort}&limit=3`, headers: ada.headers })
    const last = (first.json() as PostOut[]).at(-1)!.Post
    const owner = last.owner_id === ada.id ? ada : bob
    t.equal((await app.inject({ method: 'DELETE', url: `/posts/${last.id}`, headers: owner.headers })).statusCode, 204)
    const second = await app.inject({ url: nextOf(first.headers.link)!, headers: ada.headers })
    t.strictSame((second.json() as PostOut[]).map(post => post.Post.id), expected.slice(3, 6), `sort=${sort}`)
  }
})

t.test('include=voted says, for the token\'s user, whether each post has their vote', async t => {
  const { app, users, ids } = await seeded(t)
  for (const user of users.slice(0, 3)) {
    const mine = new Set((await sql<{ post_id: number }>(app, 'select post_id from votes where user_id = ?', [user.id])).map(row => row.post_id))
    t.ok(mine.size > 0 && mine.size < ids.length, 'the user voted on some posts only')
    for (const sort of SORTS) {
      const response = await app.inject({ url: `/posts?sort=${sort}&limit=100&include=voted`, headers: user.headers })
      const listed = response.json() as PostOut[]
      t.strictSame(listed.map(post => post.voted), listed.map(post => mine.has(post.Post.id)), `sort=${sort}`)
    }
    for (const id of ids.slice(0, 5)) {
      const one = (await app.inject({ url: `/posts/${id}?include=voted`, headers: user.headers })).json() as PostOut
      t.equal(one.voted, mine.has(id), `GET /posts/${id}?include=voted`)
    }
  }
  const plain = await app.inject({ url: '/posts?limit=3', headers: users[0]!.headers })
  t.ok((plain.json() as PostOut[]).every(post => !('voted' in post)), 'without include, no voted field')
  const one = (await app.inject({ url: `/posts/${ids[0]}`, headers: users[0]!.headers })).json() as PostOut
  t.strictSame(Object.keys(one), ['Post', 'votes'], 'GET /posts/{id} keeps the course\'s shape')
  const missing = await app.inject({ url: '/posts/999999?include=voted', headers: users[0]!.headers })
  t.equal(missing.statusCode, 404)
})

t.test('GET /users/{id}/posts: that user\'s posts only, with the same sorts and cursors', async t => {
  const { app, ada, bob } = await seeded(t)
  for (const owner of [ada, bob]) {
    const theirs = await rows(app, owner.id)
    for (const sort of SORTS) {
      const pages = await walk(app, ada, `/users/${owner.id}/posts?sort=${sort}&limit=2`)
      t.strictSame(pages.flat(), ordered(theirs, sort), `user ${owner.id}, sort=${sort}`)
    }
    const day = await walk(app, bob, `/users/${owner.id}/posts?t=day&sort=top&limit=2&include=voted`)
    t.strictSame(day.flat(), ordered(inWindow(theirs, 'day', theirs[0]!.now), 'top'))
  }
  const link = (await app.inject({ url: `/users/${ada.id}/posts?limit=1`, headers: ada.headers })).headers.link
  t.match(link, new RegExp(`^</users/${ada.id}/posts\\?limit=1&cursor=`), 'its Link stays on its path')
  const lone = await createUser(app)
  const empty = await app.inject({ url: `/users/${lone.id}/posts`, headers: ada.headers })
  t.strictSame([empty.statusCode, empty.json(), empty.headers.link], [200, [], undefined], 'a user without posts: an empty page')

  const missing = await app.inject({ url: '/users/999999/posts', headers: ada.headers })
  t.strictSame([missing.statusCode, missing.json()], [404, { detail: 'User with id: 999999 does not exist' }])
  const huge = await app.inject({ url: '/users/99999999999/posts', headers: ada.headers })
  t.strictSame([huge.statusCode, huge.json()], [404, { detail: 'User with id: 99999999999 does not exist' }])
  const anonymous = await app.inject({ url: `/users/${ada.id}/posts` })
  t.strictSame([anonymous.statusCode, anonymous.json()], [401, { detail: 'Not authenticated' }])
  const anonymousBad = await app.inject({ url: '/users/abc/posts?sort=x' })
  t.equal(anonymousBad.statusCode, 401, 'authentication comes before validation')
  assertValidationError(t, await app.inject({ url: '/users/abc/posts', headers: ada.headers }), [['path', 'id']])
  assertValidationError(t, await app.inject({ url: `/users/${ada.id}/posts?sort=best`, headers: ada.headers }), [['query', 'sort']])
})

t.test('every bad new parameter is a 422 naming it', async t => {
  const { app, ada } = await seeded(t)
  const page = await app.inject({ url: '/posts?sort=top&t=year&limit=2', headers: ada.headers })
  const cursor = new URL(nextOf(page.headers.link)!, 'http://host').searchParams.get('cursor')!
  const [payload, signature] = cursor.split('.') as [string, string]
  const flipped = (text: string, at: number) => text.slice(0, at) + (text[at] === 'A' ? 'B' : 'A') + text.slice(at + 1)
  const position = JSON.parse(Buffer.from(payload, 'base64url').toString()) as [string, string, unknown[], number]
  const cases: [query: string, loc: string][] = [
    ['sort=HOT', 'sort'],
    ['sort=', 'sort'],
    ['t=decade', 't'],
    ['include=x', 'include'],
    ['include=voted,x', 'include'],
    ['cursor=', 'cursor'],
    [`cursor=${'a'.repeat(10_000)}`, 'cursor'],
    ['cursor=not-a-cursor', 'cursor'],
    [`sort=top&t=year&cursor=${flipped(payload, 3)}.${signature}`, 'cursor'],
    [`sort=top&t=year&cursor=${payload}.${flipped(signature, 5)}`, 'cursor'],
    [`sort=top&t=year&cursor=${payload}`, 'cursor'],
    [`sort=top&t=year&cursor=${cursor.slice(0, -4)}`, 'cursor'],
    [`sort=hot&t=year&cursor=${cursor}`, 'cursor'],
    [`sort=top&t=all&cursor=${cursor}`, 'cursor'],
    [`t=year&cursor=${cursor}`, 'cursor'],
    [`sort=top&t=year&cursor=${encodeCursor('another-secret-key-0123456789abcdef', { sort: 'top', t: 'year', key: position[2] as number[], id: position[3] })}`, 'cursor'],
    [`sort=top&t=year&skip=1&cursor=${cursor}`, 'cursor']
  ]
  for (const [query, loc] of cases) {
    for (const path of ['/posts', `/users/${ada.id}/posts`]) {
      const response = await app.inject({ url: `${path}?${query}`, headers: ada.headers })
      assertValidationError(t, response, [['query', loc]], `${path}?${query.slice(0, 80)}`)
      if (loc === 'cursor') t.equal(response.json().detail[0].type, 'value_error', 'every bad cursor is a value_error')
    }
  }
  for (const include of ['x', 'VOTED', '']) {
    assertValidationError(t, await app.inject({ url: `/posts/1?include=${include}`, headers: ada.headers }), [['query', 'include']], `/posts/{id}?include=${include}`)
  }
  // One entry per problem: a bad cursor is named beside the query's other problems.
  const together: [query: string, locs: string[]][] = [
    ['sort=HOT&cursor=junk', ['sort', 'cursor']],
    ['limit=0&skip=1&cursor=x', ['limit', 'cursor']],
    [`limit=0&sort=top&t=year&skip=1&cursor=${cursor}`, ['limit', 'cursor']],
    [`limit=0&sort=hot&t=year&cursor=${cursor}`, ['limit', 'cursor']],
    [`limit=0&sort=top&t=year&cursor=${cursor}`, ['limit']],
    [`sort=HOT&t=year&cursor=${cursor}`, ['sort']],
    [`t=decade&cursor=${'a'.repeat(2000)}`, ['t', 'cursor']]
  ]
  for (const [query, locs] of together) {
    for (const path of ['/posts', `/users/${ada.id}/posts`]) {
      assertValidationError(t, await app.inject({ url: `${path}?${query}`, headers: ada.headers }), locs.map(loc => ['query', loc]), `${path}?${query.slice(0, 60)}`)
    }
  }
  assertValidationError(t, await app.inject({ url: '/users/x/posts?cursor=junk', headers: ada.headers }), [['path', 'id'], ['query', 'cursor']], 'a bad id beside a bad cursor')

  const mismatched = await app.inject({ url: `/posts?sort=hot&t=year&cursor=${cursor}`, headers: ada.headers })
  t.match(mismatched.json(), { detail: [{ loc: ['query', 'cursor'], msg: /sort=top/, type: 'value_error' }] }, 'the message says which sort the cursor is for')
  const ok = await app.inject({ url: `/posts?sort=top&t=year&skip=0&cursor=${cursor}`, headers: ada.headers })
  t.equal(ok.statusCode, 200, 'skip=0 goes with a cursor')
  const wellFormedButForeign = encodeCursor(TEST_SECRET, { sort: 'new', t: 'all', key: ['not a timestamp'], id: 1 })
  const foreign = await app.inject({ url: `/posts?cursor=${wellFormedButForeign}`, headers: ada.headers })
  assertValidationError(t, foreign, [['query', 'cursor']], 'a signed cursor whose key the sort cannot take')
  for (const key of ['2026-13-45 25:61:61+00', '99999999-01-01 00:00:00+00', '2026-01-01 00:00:00+99:99']) {
    const impossible = encodeCursor(TEST_SECRET, { sort: 'new', t: 'all', key: [key], id: 1 })
    assertValidationError(t, await app.inject({ url: `/posts?cursor=${impossible}`, headers: ada.headers }), [['query', 'cursor']], `a signed cursor at ${key}`)
  }
})

t.test('posts dated at the ends of time or in the future: walks go past them, windows hold only the past', async t => {
  const { app, ada } = await seeded(t)
  await sql(app, `insert into posts (title, content, owner_id, created_at) values
    ('ends', 'c', ?, '9999-12-31 23:59:59.999999+00'), ('begins', 'c', ?, '0001-01-01 00:00:00+00'), ('tomorrow', 'c', ?, now() + interval '1 day')`, [ada.id, ada.id, ada.id])
  const total = (await rows(app)).length
  for (const sort of SORTS) {
    const seen = (await walk(app, ada, `/posts?sort=${sort}&limit=1`)).flat()
    t.equal(new Set(seen).size, total, `sort=${sort}: a walk one post at a time sees all ${total}`)
  }
  const future = (await sql<{ id: number }>(app, 'select id from posts where created_at > now()')).map(row => row.id)
  for (const window of ['hour', 'day', 'year'] as const) {
    const listed = (await walk(app, ada, `/posts?sort=hot&t=${window}&limit=50`)).flat()
    t.notOk(listed.some(id => future.includes(id)), `t=${window}: nothing created after now`)
  }

  // A post dated infinity ranks infinitely hot: its position must survive the cursor (JSON has no infinity).
  await sql(app, 'insert into posts (title, content, owner_id, created_at) values (\'forever\', \'c\', ?, \'infinity\')', [ada.id])
  const request = { sort: 'hot' as const, t: 'all' as const, limit: 1, skip: 0, search: '', voted: false }
  const caller = { userId: ada.id, sessionId: null, issuedAt: Date.now() / 1000 }
  const first = await listFeed(app.pg, caller, request)
  t.equal(first!.last!.key[0], 'Infinity')
  const position = decodeCursor(TEST_SECRET, encodeCursor(TEST_SECRET, { sort: 'hot', t: 'all', ...first!.last! }), 'hot', 'all')
  t.ok(isFeedPosition('hot', position), 'the cursor after it is accepted')
  const second = await listFeed(app.pg, caller, { ...request, after: position })
  t.not(second!.posts[0]!.Post.id, first!.posts[0]!.Post.id, 'and continues after it')
})
