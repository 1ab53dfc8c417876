import { execFile } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'
import { build, uniqueEmail } from '../helpers/app.js'
import { projectRoot } from '../../lib/project-root.js'

// A client made from the live document as a user makes one (README, "A typed client"):
// openapi-typescript's CLI writes the types, a program using them with openapi-fetch is
// type-checked by tsc, then run against the server. A second program sends `dir: 2`, which
// must not compile. Everything is written to a temporary folder; tsc runs once for both.

const ROOT = projectRoot()
const run = promisify(execFile)
// tap puts its own loader in every child's NODE_OPTIONS; the client runs as a user's would.
const { NODE_OPTIONS: _tapLoader, ...env } = process.env

const GOOD = `import createClient from 'openapi-fetch'
import type { components, paths } from './postline-api.js'

type Post = components['schemas']['Post']
type PostOut = components['schemas']['PostOut']

const [baseUrl = '', email = ''] = process.argv.slice(2)
const password = 'client-password-1'
const client = createClient<paths>({ baseUrl })

const registered = await client.POST('/users', { body: { email, password } })
if (!registered.data) throw new Error(\`register: \${registered.response.status}\`)
const loggedIn = await client.POST('/login', {
  body: { username: email, password },
  bodySerializer: form => new URLSearchParams(form),
  headers: { 'Content-Type': 'application/x-www-form-urlencoded' }
})
if (!loggedIn.data) throw new Error(\`login: \${loggedIn.response.status}\`)
const token: string = loggedIn.data.access_token

const authed = createClient<paths>({ baseUrl, headers: { Authorization: \`Bearer \${token}\` } })
const created = await authed.POST('/posts', { body: { title: 'Typed client', content: 'Sent through openapi-fetch' } })
if (!created.data) throw new Error(\`post: \${created.response.status}\`)
const post: Post = created.data
const voted = await authed.POST('/vote', { body: { post_id: post.id, dir: 1 } })
const message: 'successfully added vote' | 'successfully deleted vote' | undefined = voted.data?.message
const again = await authed.POST('/vote', { body: { post_id: post.id, dir: 1 } })
const conflict = typeof again.error?.detail === 'string' ? again.error.detail : undefined
const listed = await authed.GET('/posts', { params: { query: { limit: 5, search: 'Typed client' } } })
const page: PostOut[] = listed.data ?? []

console.log(JSON.stringify({
  user: { id: registered.data.id, email: registered.data.email },
  post: { id: post.id, published: post.published, owner_id: post.owner_id, owner: post.owner.email },
  vote: [voted.response.status, message],
  again: [again.response.status, conflict],
  page: page.map(item => ({ id: item.Post.id, votes: item.votes }))
}))
`

const BAD = `import createClient from 'openapi-fetch'
import type { paths } from './postline-api.js'

const client = createClient<paths>({ baseUrl: 'http://127.0.0.1:8000' })
await client.POST('/vote', { body: { post_id: 1, dir: 2 } })
`

const TSCONFIG = {
  compilerOptions: {
    strict: true,
    noEmit: true,
    target: 'ES2022',
    module: 'NodeNext',
    moduleResolution: 'NodeNext',
    lib: ['ES2022', 'DOM'],
    types: ['node'],
    skipLibCheck: true
  },
  files: ['good.ts', 'bad.ts']
}

const app = await build(t)
const base = await app.listen({ host: '127.0.0.1', port: 0 })
const dir = mkdtempSync(join(tmpdir(), 'postline-client-'))
t.teardown(() => rmSync(dir, { recursive: true, force: true }))
symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir')
writeFileSync(join(dir, 'package.json'), JSON.stringify({ type: 'module', private: true }))
writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify(TSCONFIG))
writeFileSync(join(dir, 'good.ts'), GOOD)
writeFileSync(join(dir, 'bad.ts'), BAD)

t.test('openapi-typescript turns the live document into types, with the named schemas', async t => {
  await run(process.execPath, [join(ROOT, 'node_modules/openapi-typescript/bin/cli.js'), `${base}/openapi.json`, '-o', join(dir, 'postline-api.d.ts')], { cwd: dir, env })
  const types = readFileSync(join(dir, 'postline-api.d.ts'), 'utf8')
  for (const name of ['UserOut', 'Post', 'PostOut', 'Token', 'VoteIn', 'HTTPError', 'HTTPValidationError']) {
    t.match(types, new RegExp(`^\\s+${name}: \\{`, 'm'), `components.schemas.${name} is a type`)
  }
  t.match(types, /dir: 0 \| 1;/, 'dir is 0 | 1')
  t.match(types, /get: operations\["listPosts"\];/, 'operations are named by their operationId')
})

t.test('tsc accepts the program that uses the client, and refuses dir 2 with the dir error alone', async t => {
  const checked = await run(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', dir, '--pretty', 'false'], { cwd: dir, env }).then(
    () => ({ code: 0, stdout: '' }),
    (err: { code: number, stdout: string }) => ({ code: err.code, stdout: err.stdout }))
  const errors = checked.stdout.split('\n').filter(line => /error TS\d+/.test(line))
  t.equal(checked.code, 2, 'tsc fails: bad.ts does not compile')
  t.strictSame(errors.filter(line => !line.startsWith('bad.ts')), [], 'good.ts compiles')
  t.equal(errors.length, 1, `one error: ${errors.join('\n')}`)
  t.match(errors[0], /^bad\.ts\(5,\d+\): error TS2322: Type '2' is not assignable to type '0 \| 1'\./, 'on the line with dir: 2, saying dir is 0 or 1')
})

t.test('the program registers, logs in, posts, votes and lists through the generated client', async t => {
  const email = uniqueEmail('client')
  const { stdout } = await run(process.execPath, ['--import', 'tsx', 'good.ts', base, email], { cwd: dir, env })
  const result = JSON.parse(stdout)
  t.match(result.user, { id: Number, email })
  t.equal(result.post.owner_id, result.user.id, 'the post is the user\'s')
  t.equal(result.post.owner, email)
  t.equal(result.post.published, true, 'published may be left out, and defaults to true')
  t.strictSame(result.vote, [201, 'successfully added vote'])
  t.strictSame(result.again, [409, `user ${result.user.id} has already voted on post ${result.post.id}`], 'an error body is typed too')
  t.strictSame(result.page, [{ id: result.post.id, votes: 1 }], 'the list has the post with its vote')
})
