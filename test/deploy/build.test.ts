import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import pg from 'pg'
import t from 'tap'
import { createEmptyDatabase } from '../helpers/app.js'
import { spawnServer, startServer, waitFor } from '../helpers/server-process.js'
import { projectRoot } from '../../lib/project-root.js'

// Production runs the server compiled to JavaScript (`npm start` runs dist/server.js). Here it
// is built as `npm start` builds it (incremental: little to do when dist/ is current), then
// run with plain node on an empty database: migrations included. No other test uses dist/.

const ROOT = projectRoot()
const run = promisify(execFile)

t.test('package.json: npm start builds, then runs compiled JavaScript; tsx is for development only', async t => {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string>, dependencies: Record<string, string>, devDependencies: Record<string, string> }
  t.equal(pkg.scripts.start, 'node dist/server.js')
  t.match(pkg.scripts.prestart, /npm run -s build/, 'npm start builds what changed first')
  t.match(pkg.scripts.build, /tsc -b tsconfig\.build\.json/)
  t.notOk('tsx' in pkg.dependencies, 'tsx is no runtime dependency')
  t.ok('tsx' in pkg.devDependencies && 'typescript' in pkg.devDependencies)
  t.match(pkg.scripts.migrate, /node dist\/db\/migrate-cli\.js up/)
})

t.test('the compiled server migrates an empty database and serves', async t => {
  await run('npm', ['run', '-s', 'build'], { cwd: ROOT })
  const entry = join('dist', 'server.js')

  const url = await createEmptyDatabase(t)
  const env = { DATABASE_URL: url, SECRET_KEY: 'postline-build-test-secret-0123456789' }
  const server = await startServer(t, env, { script: entry })
  t.match(server.output(), /"migrations":\["Migration20261121112919_initial"/, 'the compiled migrations were applied')
  t.equal((await fetch(`${server.url}/health`)).status, 200)
  const created = await fetch(`${server.url}/users`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: 'built@example.com', password: 'password123' }) })
  t.equal(created.status, 201, 'a route reaches the database and the bcrypt worker (plain JavaScript beside it)')
  t.equal((await fetch(`${server.url}/docs`)).status, 200, 'the docs are served')
  t.equal(await server.stop(), 0)

  const client = new pg.Client({ connectionString: url })
  await client.connect()
  t.teardown(() => client.end())
  const count = async () => Number((await client.query('select count(*) from mikro_orm_migrations')).rows[0].count)
  const applied = await count()
  t.ok(applied >= 4)
  const migrateCli = join('dist', 'db', 'migrate-cli.js')
  for (const [direction, expected] of [['down', applied - 1], ['up', applied]] as const) {
    const cli = spawnServer(t, env, { script: migrateCli, args: [direction] })
    const exit = await waitFor(cli.exited, 60_000, `migrate ${direction}`)
    t.equal(exit.code, 0, `the compiled migrate CLI (${direction}) exits 0: ${cli.output()}`)
    t.equal(await count(), expected, `migrate ${direction}`)
  }
})
