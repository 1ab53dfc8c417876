import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { classifyDatabaseError } from '../../db/errors.js'
import { LimitedPool } from '../../db/limited-pool.js'
import { build } from '../helpers/app.js'

// The pools' query timeout: a connection checked out past the limit is cut, one sweeping timer
// per pool instead of one timer per statement.

const LIMIT_MS = 300

t.test('a checkout held past the limit is cut; idle connections and quick statements are not', async t => {
  const app = await build(t)
  t.ok(app.pg.pool instanceof LimitedPool, 'the app\'s pool is a LimitedPool')
  const pool = new LimitedPool({ connectionString: app.directDatabaseUrl, max: 2, checkoutLimitMillis: LIMIT_MS })
  t.teardown(() => pool.end())

  t.same((await pool.query('select 1 as one')).rows, [{ one: 1 }], 'a quick statement is answered')
  await sleep(LIMIT_MS * 2)
  t.equal(pool.idleCount, 1, 'its connection, idle past the limit, is kept')

  const started = performance.now()
  const slow = await pool.query('select pg_sleep(5)').then(() => undefined, (err: Error) => err)
  const waited = performance.now() - started
  t.match(slow?.message, /Connection terminated/, 'a statement running past the limit fails as a cut connection')
  t.equal(classifyDatabaseError(slow!), 'unavailable', 'which the API answers with a 503')
  t.ok(waited >= LIMIT_MS && waited < LIMIT_MS + 700, `after about the limit (${Math.round(waited)} ms)`)
  t.equal(pool.totalCount, 0, 'the pool dropped the cut connection')
  t.same((await pool.query('select 2 as two')).rows, [{ two: 2 }], 'and goes on serving')

  const held = await pool.connect()
  await sleep(LIMIT_MS * 3)
  const late = await held.query('select 1').then(() => undefined, (err: Error) => err)
  t.ok(late instanceof Error, 'a connection checked out and held past the limit is cut too (the process lives on)')
  held.release(late)
  t.same((await pool.query('select 3 as three')).rows, [{ three: 3 }], 'the pool still serves after it')
})
