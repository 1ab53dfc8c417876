import newman, { type NewmanRunSummary } from 'newman'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import pg from 'pg'
import t from 'tap'
import { createTestDatabase } from '../helpers/app.js'
import { startServer } from '../helpers/server-process.js'
import { projectRoot } from '../../lib/project-root.js'

// The Postman collection in docs/postman, run with newman against the server process on a
// fresh database, twice: each run registers its own users, so the second one must pass too.
// The session "Refresh and logout" starts and ends is checked in the database afterwards.

const POSTMAN = join(projectRoot(), 'docs', 'postman')
const readJson = (file: string) => JSON.parse(readFileSync(join(POSTMAN, file), 'utf8'))
const collection = readJson('postline.postman_collection.json')
const environment = readJson('postline.postman_environment.json')

interface Item { name: string, item?: Item[] }

/** The collection's request names in the order newman runs them (folders walked depth-first). */
const requestNames = (items: Item[]): string[] => items.flatMap(item => item.item ? requestNames(item.item) : [item.name])

function runCollection (url: string): Promise<NewmanRunSummary> {
  return new Promise((resolve, reject) => {
    newman.run({ collection, environment, envVar: [{ key: 'URL', value: url }], reporters: [] }, (err, summary) => {
      if (err) reject(err)
      else resolve(summary)
    })
  })
}

/** The JSON body the server sent in answer to the named request. */
function answer (summary: NewmanRunSummary, name: string) {
  return summary.run.executions.find(execution => execution.item.name === name)?.response?.json()
}

async function query (databaseUrl: string, text: string, params: unknown[]): Promise<Record<string, unknown>[]> {
  const client = new pg.Client({ connectionString: databaseUrl })
  await client.connect()
  try {
    return (await client.query(text, params)).rows
  } finally {
    await client.end()
  }
}

const databaseUrl = await createTestDatabase(t)
const server = await startServer(t, { DATABASE_URL: databaseUrl })
t.teardown(() => server.stop())

const expected = requestNames(collection.item)
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

for (const round of ['first', 'second']) {
  await t.test(`${round} run of the collection (${expected.length} requests)`, async t => {
    const started = performance.now()
    const summary = await runCollection(server.url)
    const { executions, failures, stats } = summary.run
    t.comment(`${executions.length} requests, ${stats.assertions.total} assertions in ${Math.round(performance.now() - started)} ms`)

    t.same(failures.map(failure => `${failure.source?.name ?? failure.at}: ${failure.error.test ?? failure.error.name}: ${failure.error.message}`), [], 'the run has no failure')
    t.same(executions.map(execution => execution.item.name), expected, 'every request of the collection was sent, in order')
    t.same(executions.filter(execution => !execution.response).map(execution => execution.item.name), [], 'every request was answered')
    const failed = executions.flatMap(execution => execution.assertions
      .filter(assertion => assertion.error || assertion.skipped)
      .map(assertion => `${execution.item.name}: ${assertion.assertion}: ${assertion.error?.message ?? 'skipped'}`))
    t.same(failed, [], 'every assertion passed')
    t.same(executions.filter(execution => execution.assertions.length < 2).map(execution => execution.item.name), [],
      'every request asserts its status and its body')
    t.equal(stats.assertions.failed, 0, 'newman counts no failed assertion')

    const user = answer(summary, 'Create user')
    t.same(await query(databaseUrl, 'select id, email from users where id = $1', [user?.id]), [{ id: user?.id, email: user?.email }],
      'the registered user is in the database')
    const postIds = [answer(summary, 'Create post')?.id, answer(summary, 'Create draft post')?.id]
    t.same(await query(databaseUrl, 'select id, owner_id, published from posts where id = any($1)', [postIds]), [{ id: postIds[1], owner_id: user?.id, published: true }],
      'the deleted post is gone; the draft is there, published by the PATCH')

    const grant = answer(summary, 'Token: password grant')
    const sessionId = typeof grant?.access_token === 'string' ? JSON.parse(Buffer.from(grant.access_token.split('.')[1], 'base64url').toString()).sid : undefined
    t.match(sessionId, UUID, 'the password grant\'s access token names its session')
    t.same(answer(summary, 'Sessions')?.filter((session: { current: boolean }) => session.current).map((session: { id: string }) => session.id), [sessionId],
      'the session list marks that session as current')
    t.same(await query(databaseUrl, 'select (select count(*) from sessions where id = $1)::int as sessions, (select count(*) from refresh_tokens where session_id = $1)::int as refresh_tokens', [sessionId]),
      [{ sessions: 0, refresh_tokens: 0 }], 'the logged-out session is gone from the database, with its refresh tokens')
    t.same(await query(databaseUrl, 'select count(*)::int as count from sessions where user_id = $1', [user?.id]), [{ count: 1 }],
      'the session of "Login" stays')
  })
}
