import t from 'tap'
import { createTestDatabase } from '../helpers/app.js'
import { startServer } from '../helpers/server-process.js'

// The FastAPI course's own test cases (users, posts, votes), replayed over real HTTP
// against the server process on a fresh database, as a client of that course sends them.

const server = await startServer(t, { DATABASE_URL: await createTestDatabase(t) })
t.teardown(() => server.stop())

interface Reply { status: number, body: any, headers: Headers }

async function call (method: string, path: string, options: { json?: unknown, form?: Record<string, string | undefined>, token?: string } = {}): Promise<Reply> {
  const headers: Record<string, string> = {}
  let body: string | undefined
  if (options.token) headers.authorization = `Bearer ${options.token}`
  if (options.json !== undefined) {
    headers['content-type'] = 'application/json'
    body = JSON.stringify(options.json)
  }
  if (options.form) {
    headers['content-type'] = 'application/x-www-form-urlencoded'
    const fields = Object.entries(options.form).filter((entry): entry is [string, string] => entry[1] !== undefined)
    body = new URLSearchParams(fields).toString()
  }
  const response = await fetch(server.url + path, { method, headers, body })
  const text = await response.text()
  return { status: response.status, body: text ? JSON.parse(text) : null, headers: response.headers }
}

let counter = 0
async function testUser (email = `sanjeev${++counter}@gmail.com`) {
  const created = await call('POST', '/users/', { json: { email, password: 'password123' } })
  t.equal(created.status, 201)
  const login = await call('POST', '/login', { form: { username: email, password: 'password123' } })
  return { ...created.body, email, password: 'password123', token: login.body.access_token as string }
}

async function testPosts (owner: { token: string }, other: { token: string }) {
  const posts = []
  for (const [user, title, content] of [[owner, 'first title', 'first content'], [owner, '2nd title', '2nd content'], [owner, '3rd title', '3rd content'], [other, '3rd title', '3rd content']] as const) {
    posts.push((await call('POST', '/posts/', { token: user.token, json: { title, content } })).body)
  }
  return posts
}

const decodePayload = (token: string) => JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString())

t.test('test_root', async t => {
  const res = await call('GET', '/')
  t.equal(res.status, 200)
  t.equal(res.body.message, 'Hello World')
})

t.test('test_create_user', async t => {
  const res = await call('POST', '/users/', { json: { email: 'hello123@gmail.com', password: 'password123' } })
  t.equal(res.status, 201)
  t.equal(res.body.email, 'hello123@gmail.com')
  t.same(Object.keys(res.body).sort(), ['created_at', 'email', 'id'])
})

t.test('test_login_user', async t => {
  const user = await testUser()
  const res = await call('POST', '/login', { form: { username: user.email, password: user.password } })
  t.equal(res.status, 200)
  t.equal(res.body.token_type, 'bearer')
  t.equal(decodePayload(res.body.access_token).user_id, user.id)
})

t.test('test_incorrect_login', async t => {
  const user = await testUser()
  const cases: [string | undefined, string | undefined, number][] = [
    ['wrongemail@gmail.com', 'password123', 403],
    [user.email, 'wrongpassword', 403],
    ['wrongemail@gmail.com', 'wrongpassword', 403],
    [undefined, 'password123', 422],
    [user.email, undefined, 422]
  ]
  for (const [username, password, status] of cases) {
    const res = await call('POST', '/login', { form: { username, password } })
    t.equal(res.status, status, `${username} / ${password}`)
    if (status === 403) t.same(res.body, { detail: 'Invalid Credentials' })
  }
})

t.test('posts', async t => {
  const user = await testUser()
  const other = await testUser()
  const posts = await testPosts(user, other)

  t.test('test_get_all_posts', async t => {
    const res = await call('GET', '/posts/', { token: user.token })
    t.equal(res.status, 200)
    t.equal(res.body.length, posts.length)
    for (const item of res.body) t.match(item, { Post: { id: Number, title: String, content: String, published: Boolean, created_at: String, owner_id: Number, owner: { id: Number, email: String, created_at: String } }, votes: Number })
  })

  t.test('test_unauthorized_user_get_all_posts', async t => {
    t.equal((await call('GET', '/posts/')).status, 401)
  })

  t.test('test_unauthorized_user_get_one_post', async t => {
    t.equal((await call('GET', `/posts/${posts[0].id}`)).status, 401)
  })

  t.test('test_get_one_post_not_exist', async t => {
    t.equal((await call('GET', '/posts/88888', { token: user.token })).status, 404)
  })

  t.test('test_get_one_post', async t => {
    const res = await call('GET', `/posts/${posts[0].id}`, { token: user.token })
    t.equal(res.status, 200)
    t.equal(res.body.Post.id, posts[0].id)
    t.equal(res.body.Post.content, posts[0].content)
    t.equal(res.body.Post.title, posts[0].title)
  })

  t.test('test_create_post', async t => {
    for (const [title, content, published] of [['awesome new title', 'awesome new content', true], ['favorite pizza', 'i love pepperoni', false], ['tallest skyscrapers', 'wahoo', true]] as const) {
      const res = await call('POST', '/posts/', { token: user.token, json: { title, content, published } })
      t.equal(res.status, 201)
      t.match(res.body, { title, content, published, owner_id: user.id })
    }
  })

  t.test('test_create_post_default_published_true', async t => {
    const res = await call('POST', '/posts/', { token: user.token, json: { title: 'arbitrary title', content: 'aasdfjasdf' } })
    t.equal(res.status, 201)
    t.match(res.body, { title: 'arbitrary title', content: 'aasdfjasdf', published: true, owner_id: user.id })
  })

  t.test('test_unauthorized_user_create_post', async t => {
    t.equal((await call('POST', '/posts/', { json: { title: 'arbitrary title', content: 'aasdfjasdf' } })).status, 401)
  })

  t.test('test_unauthorized_user_delete_Post', async t => {
    t.equal((await call('DELETE', `/posts/${posts[0].id}`)).status, 401)
  })

  t.test('test_delete_post_non_exist', async t => {
    t.equal((await call('DELETE', '/posts/8000000', { token: user.token })).status, 404)
  })

  t.test('test_delete_other_user_post', async t => {
    t.equal((await call('DELETE', `/posts/${posts[3].id}`, { token: user.token })).status, 403)
  })

  t.test('test_update_post', async t => {
    const res = await call('PUT', `/posts/${posts[0].id}`, { token: user.token, json: { title: 'updated title', content: 'updatd content', id: posts[0].id } })
    t.equal(res.status, 200)
    t.equal(res.body.title, 'updated title')
    t.equal(res.body.content, 'updatd content')
  })

  t.test('test_update_other_user_post', async t => {
    const res = await call('PUT', `/posts/${posts[3].id}`, { token: user.token, json: { title: 'updated title', content: 'updatd content', id: posts[3].id } })
    t.equal(res.status, 403)
  })

  t.test('test_unauthorized_user_update_post', async t => {
    t.equal((await call('PUT', `/posts/${posts[0].id}`)).status, 401)
  })

  t.test('test_update_post_non_exist', async t => {
    const res = await call('PUT', '/posts/8000000', { token: user.token, json: { title: 'updated title', content: 'updatd content', id: posts[3].id } })
    t.equal(res.status, 404)
  })

  t.test('test_delete_post_success', async t => {
    t.equal((await call('DELETE', `/posts/${posts[0].id}`, { token: user.token })).status, 204)
    t.equal((await call('GET', `/posts/${posts[0].id}`, { token: user.token })).status, 404)
  })
})

t.test('votes', async t => {
  const user = await testUser()
  const other = await testUser()
  const posts = await testPosts(user, other)

  t.test('test_vote_on_post', async t => {
    t.equal((await call('POST', '/vote/', { token: user.token, json: { post_id: posts[3].id, dir: 1 } })).status, 201)
  })

  t.test('test_vote_twice_post', async t => {
    t.equal((await call('POST', '/vote/', { token: user.token, json: { post_id: posts[3].id, dir: 1 } })).status, 409)
  })

  t.test('test_delete_vote', async t => {
    const res = await call('POST', '/vote/', { token: user.token, json: { post_id: posts[3].id, dir: 0 } })
    t.equal(res.status, 201)
    t.same(res.body, { message: 'successfully deleted vote' })
  })

  t.test('test_delete_vote_non_exist', async t => {
    t.equal((await call('POST', '/vote/', { token: user.token, json: { post_id: posts[3].id, dir: 0 } })).status, 404)
  })

  t.test('test_vote_post_non_exist', async t => {
    t.equal((await call('POST', '/vote/', { token: user.token, json: { post_id: 80000, dir: 1 } })).status, 404)
  })

  t.test('test_vote_unauthorized_user', async t => {
    t.equal((await call('POST', '/vote/', { json: { post_id: posts[3].id, dir: 1 } })).status, 401)
  })

  t.test('votes are counted in the feed', async t => {
    await call('POST', '/vote/', { token: user.token, json: { post_id: posts[1].id, dir: 1 } })
    await call('POST', '/vote/', { token: other.token, json: { post_id: posts[1].id, dir: 1 } })
    const res = await call('GET', `/posts/${posts[1].id}`, { token: other.token })
    t.equal(res.body.votes, 2)
  })
})

t.test('the server shuts down cleanly on SIGTERM', async t => {
  await t.resolveMatch(server.stop(), 0)
})
