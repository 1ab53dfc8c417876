import t from 'tap'
import { CALLER_ME } from '../../db/queries/caller.js'
import { build, sql } from '../helpers/app.js'

// Every protected statement checks the token's session (CALLER_STANDS). Its plan must find the
// session by primary key whatever the statistics say: a plan that walked the user's sessions by
// `user_id` would cost a request as many rows as the user has sessions (every login adds one).

t.test('the session check finds the session by its primary key, for a user with one session or thousands', async t => {
  const app = await build(t)
  await sql(app, 'insert into users (email, password) select \'u\' || g || \'@example.com\', \'x\' from generate_series(1, 2000) g')
  const plan = async () => {
    const [{ id }] = await sql<{ id: string }>(app, 'select id from sessions where user_id = 1 order by created_at desc limit 1') as [{ id: string }]
    const client = await app.pg.connect()
    try {
      // The generic plan: what a prepared statement settles on after its first runs.
      await client.query('set plan_cache_mode = force_generic_plan')
      await client.query(`prepare caller_me (int, uuid, float8) as ${CALLER_ME}`)
      const { rows } = await client.query<{ 'QUERY PLAN': string }>(`explain (analyze, costs off) execute caller_me (1, '${id}', 0)`)
      await client.query('deallocate caller_me')
      await client.query('reset plan_cache_mode')
      return rows.map(row => row['QUERY PLAN']).join('\n')
    } finally {
      client.release()
    }
  }

  // One session per user, as statistics would see it on most databases.
  await sql(app, 'insert into sessions (user_id, expires_at) select id, now() + interval \'1 day\' from users')
  await sql(app, 'analyze sessions')
  const even = await plan()
  t.match(even, /sessions_pkey/, even)
  t.notMatch(even, /sessions_user_id_created_at_index/)

  // One user with thousands.
  await sql(app, 'insert into sessions (user_id, expires_at) select 1, now() + interval \'1 day\' from generate_series(1, 3000)')
  await sql(app, 'analyze sessions')
  const skewed = await plan()
  t.match(skewed, /sessions_pkey/, skewed)
  t.notMatch(skewed, /sessions_user_id_created_at_index/)
  t.match(skewed, /rows=1(\.00)? loops=1/, 'one row read for the session')
})
