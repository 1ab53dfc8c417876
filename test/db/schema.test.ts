import { MikroORM } from '@mikro-orm/postgresql'
import t from 'tap'
import pg from 'pg'
import { setTimeout as sleep } from 'node:timers/promises'
import { MIGRATION_LOCK, migrate, migrateUrl } from '../../db/migrate.js'
import { createOrmConfig } from '../../db/orm-config.js'
import { createEventReader } from '../../db/queries/stream.js'
import { HOT } from '../../db/migrations/Migration20261206024914_ranked_feeds.js'
import { build, createEmptyDatabase, sql } from '../helpers/app.js'
import { MIGRATIONS } from '../helpers/migrations.js'

const CONTRACT = {
  users: [
    ['id', 'integer', 'NO', "nextval('users_id_seq'::regclass)"],
    ['email', 'character varying', 'NO', null],
    ['password', 'character varying', 'NO', null],
    ['created_at', 'timestamp with time zone', 'NO', 'now()'],
    ['phone_number', 'character varying', 'YES', null]
  ],
  posts: [
    ['id', 'integer', 'NO', "nextval('posts_id_seq'::regclass)"],
    ['title', 'character varying', 'NO', null],
    ['content', 'character varying', 'NO', null],
    ['published', 'boolean', 'NO', 'true'],
    ['created_at', 'timestamp with time zone', 'NO', 'now()'],
    ['owner_id', 'integer', 'NO', null]
  ],
  votes: [
    ['user_id', 'integer', 'NO', null],
    ['post_id', 'integer', 'NO', null]
  ]
}

const COLUMNS = `select column_name, data_type, is_nullable, column_default, character_maximum_length
  from information_schema.columns where table_schema = 'public' and table_name = ? order by ordinal_position`

const CONSTRAINTS = `select tc.constraint_type, kcu.column_name, ccu.table_name as target, rc.delete_rule
  from information_schema.table_constraints tc
  join information_schema.key_column_usage kcu on kcu.constraint_name = tc.constraint_name and kcu.table_name = tc.table_name
  left join information_schema.referential_constraints rc on rc.constraint_name = tc.constraint_name
  left join information_schema.constraint_column_usage ccu on ccu.constraint_name = tc.constraint_name and tc.constraint_type = 'FOREIGN KEY'
  where tc.table_schema = 'public' and tc.table_name = ? order by tc.constraint_type, kcu.column_name`

t.test('the tables and columns are exactly the contract\'s', async t => {
  const app = await build(t)
  for (const [table, columns] of Object.entries(CONTRACT)) {
    const rows = await sql<{ column_name: string, data_type: string, is_nullable: string, column_default: string | null, character_maximum_length: number | null }>(app, COLUMNS, [table])
    t.same(rows.map(row => [row.column_name, row.data_type, row.is_nullable, row.column_default]), columns, `${table} columns`)
    t.ok(rows.every(row => row.character_maximum_length === null), `${table} has no arbitrary varchar limits`)
  }
})

t.test('keys and cascades are the contract\'s', async t => {
  const app = await build(t)
  const constraints = async (table: string) => (await sql<{ constraint_type: string, column_name: string, target: string | null, delete_rule: string | null }>(app, CONSTRAINTS, [table]))
    .map(row => [row.constraint_type, row.column_name, row.target, row.delete_rule])
  t.same(await constraints('users'), [['PRIMARY KEY', 'id', null, null], ['UNIQUE', 'email', null, null]])
  t.same(await constraints('posts'), [['FOREIGN KEY', 'owner_id', 'users', 'CASCADE'], ['PRIMARY KEY', 'id', null, null]])
  t.same(await constraints('votes'), [
    ['FOREIGN KEY', 'post_id', 'posts', 'CASCADE'],
    ['FOREIGN KEY', 'user_id', 'users', 'CASCADE'],
    ['PRIMARY KEY', 'post_id', null, null],
    ['PRIMARY KEY', 'user_id', null, null]
  ])
})

t.test('the indexes the queries need exist', async t => {
  const app = await build(t)
  const indexes = await sql<{ indexname: string, indexdef: string }>(app, 'select indexname, indexdef from pg_indexes where schemaname = \'public\'')
  const definitions = indexes.map(index => index.indexdef)
  t.ok(definitions.some(d => /UNIQUE INDEX .* ON public\.users .*\(lower\(\(email\)::text\)\)/.test(d)), 'case-insensitive unique email')
  t.ok(definitions.some(d => /ON public\.votes .*\(post_id\)$/.test(d)), 'votes by post')
  t.ok(definitions.some(d => /ON public\.posts .*\(created_at DESC, id DESC\)/.test(d)), 'feed order')
  t.ok(definitions.some(d => /ON public\.posts USING gin \(title gin_trgm_ops\)/.test(d)), 'trigram search on titles')
})

t.test('migrations go down and up again', async t => {
  const url = await createEmptyDatabase(t)
  const orm = await MikroORM.init(createOrmConfig(url, { logger: () => {} }))
  t.teardown(() => orm.close())
  const tables = async () => (await orm.em.getConnection().execute<{ table_name: string }[]>(
    'select table_name from information_schema.tables where table_schema = \'public\' and table_name in (\'users\', \'posts\', \'votes\', \'vote_counts\', \'sessions\', \'refresh_tokens\', \'session_resets\', \'stream_events\', \'stream_tickets\') order by 1'))
    .map(row => row.table_name)

  t.same(await migrate(orm, url), MIGRATIONS)
  t.same(await tables(), ['posts', 'refresh_tokens', 'session_resets', 'sessions', 'stream_events', 'stream_tickets', 'users', 'vote_counts', 'votes'])
  t.same(await migrate(orm, url), [], 'nothing left to apply')
  t.same(await migrate(orm, url, 'down'), ['Migration20261208030000_stream_lock_in_insert'])
  t.same(await migrate(orm, url, 'down'), ['Migration20261208001000_stream_owners_and_renumbered_posts'])
  t.same(await migrate(orm, url, 'down'), ['Migration20261207234500_stream_votes_lean'])
  t.same(await migrate(orm, url, 'down'), ['Migration20261207232000_post_hot_inlined'])
  t.same(await migrate(orm, url, 'down'), ['Migration20261207211508_stream_event_columns'])
  t.same(await migrate(orm, url, 'down'), ['Migration20261207050000_vote_counts_truncate_events'])
  t.same(await migrate(orm, url, 'down'), ['Migration20261206153605_stream'])
  t.same(await tables(), ['posts', 'refresh_tokens', 'session_resets', 'sessions', 'users', 'vote_counts', 'votes'], 'the change feed\'s tables go')
  t.same(await migrate(orm, url, 'down'), ['Migration20261206054429_sessions'])
  t.same(await tables(), ['posts', 'users', 'vote_counts', 'votes'], 'the sessions\' tables go')
  t.same(await migrate(orm, url, 'down'), ['Migration20261206024914_ranked_feeds'])
  t.same(await migrate(orm, url, 'down'), ['Migration20261205130602_vote_counts_without_foreign_key'])
  t.same(await migrate(orm, url, 'down'), ['Migration20261121120513_vote_counts_and_search'])
  t.same(await migrate(orm, url, 'down'), ['Migration20261121112924_indexes'])
  t.same(await migrate(orm, url, 'down'), ['Migration20261121112919_initial'])
  t.same(await tables(), [])
  t.same(await migrate(orm, url), MIGRATIONS)
})

t.test('the change feed\'s events keep what they say when their JSON moves from the triggers to the readers, and back', async t => {
  const url = await createEmptyDatabase(t)
  const quiet = () => {}
  await migrateUrl(url, 'up', quiet)
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  t.teardown(() => client.end())
  await client.query('insert into users (email, password, created_at) values ($1, $2, $3), ($4, $2, $5)', ['a@x.com', 'x', '2026-01-02 03:04:05.678901+00', 'b@x.com', 'infinity'])
  await client.query('insert into posts (title, content, owner_id, created_at) values ($1, $2, 1, $3), ($4, $5, 2, $6)', ['one', 'a "quoted" line', '2026-03-04 05:06:07+02', 'two', 'ü', '-infinity'])
  await client.query('update posts set title = \'one, again\', published = false where id = 1')
  await client.query('insert into votes (user_id, post_id) values (1, 1), (2, 1)')
  await client.query('delete from posts where id = 2')
  const events = async () => (await createEventReader(0).read(client)).map(({ type, data }) => ({ type, data: JSON.parse(data) as unknown }))
  const written = await events()
  t.same(written.map(event => event.type), ['post.created', 'post.created', 'post.updated', 'post.votes', 'post.deleted'])
  t.same(written[2]!.data, { id: 1, title: 'one, again', content: 'a "quoted" line', published: false, created_at: '2026-03-04T03:06:07+00:00', owner_id: 1, owner: { id: 1, email: 'a@x.com', created_at: '2026-01-02T03:04:05.678901+00:00' } }, 'a post as the API shows it, in UTC')
  t.same(written[1]!.data, { Post: { id: 2, title: 'two', content: 'ü', published: true, created_at: '-infinity', owner_id: 2, owner: { id: 2, email: 'b@x.com', created_at: 'infinity' } }, votes: 0 }, 'infinities as PostgreSQL names them')
  t.same(written[3]!.data, { id: 1, votes: 2 })
  t.same(written[4]!.data, { id: 2 })

  t.same(await migrateUrl(url, 'down', quiet), ['Migration20261208030000_stream_lock_in_insert'])
  t.same(await migrateUrl(url, 'down', quiet), ['Migration20261208001000_stream_owners_and_renumbered_posts'])
  t.same(await migrateUrl(url, 'down', quiet), ['Migration20261207234500_stream_votes_lean'])
  t.same(await migrateUrl(url, 'down', quiet), ['Migration20261207232000_post_hot_inlined'])
  t.same(await migrateUrl(url, 'down', quiet), ['Migration20261207211508_stream_event_columns'])
  const { rows } = await client.query<{ type: string, data: string }>('select type, data from stream_events order by id')
  t.same(rows.map(({ type, data }) => ({ type, data: JSON.parse(data) as unknown })), written, 'undone: each event\'s JSON as the readers wrote it')
  t.same(await migrateUrl(url, 'up', quiet), ['Migration20261207211508_stream_event_columns', 'Migration20261207232000_post_hot_inlined', 'Migration20261207234500_stream_votes_lean', 'Migration20261208001000_stream_owners_and_renumbered_posts', 'Migration20261208030000_stream_lock_in_insert'])
  t.same(await events(), written, 'and done again: the same events')
})

t.test('the hot rank is computed inside the statements that use it, and ranks as it did', async t => {
  const url = await createEmptyDatabase(t)
  await migrateUrl(url, 'up', () => {})
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  t.teardown(() => client.end())
  // A session far from UTC: the rank must not depend on the session's time zone.
  await client.query('set timezone = \'Asia/Kolkata\'')
  const { rows: [plan] } = await client.query<{ 'QUERY PLAN': unknown }>('explain (verbose, format json) select post_hot(3, now())')
  const shown = JSON.stringify(plan!['QUERY PLAN'])
  t.notMatch(shown, /post_hot/, 'no call of post_hot is left in the plan')
  t.match(shown, /EXTRACT\(epoch/, 'its body is')
  await client.query(HOT.replace('"post_hot"', '"post_hot_as_created"'))
  const { rows: [compared] } = await client.query<{ n: number, differ: number }>(`
    select count(*)::int as n, count(*) filter (where post_hot(v, at) is distinct from post_hot_as_created(v, at))::int as differ
      from generate_series(-3, 2000, 7) v,
           (select generate_series('1901-02-03 04:05:06.789012+00'::timestamptz, '2099-01-01', '97 days 5 hours 7 minutes 11.654321 seconds') as at
            union all values ('infinity'::timestamptz), ('-infinity'), ('4713-01-01 00:00:00+00 BC'), ('294276-12-31 23:59:59.999999+00')) times`)
  t.ok(compared!.n > 100_000, `${compared!.n} ranks compared`)
  t.equal(compared!.differ, 0, 'every rank is the same number as the function of the ranked feeds migration gives')
})

t.test('migrating by URL applies exactly what is pending, and nothing on a database up to date', async t => {
  const url = await createEmptyDatabase(t)
  const quiet = () => {}
  t.same(await migrateUrl(url, 'up', quiet), MIGRATIONS, 'an empty database gets every migration')
  t.same(await migrateUrl(url, 'up', quiet), [], 'an up-to-date database gets none')
  t.same(await migrateUrl(url, 'down', quiet), MIGRATIONS.slice(-1), 'down reverts the latest')
  t.same(await migrateUrl(url, 'up', quiet), MIGRATIONS.slice(-1), 'a database one behind gets the missing one')
})

t.test('a migration whose connection is cut (postgres stopping under a start-up) fails, without crashing the process', async t => {
  const url = await createEmptyDatabase(t)
  const holder = new pg.Client({ connectionString: url })
  await holder.connect()
  t.teardown(() => holder.end())
  await holder.query('select pg_advisory_lock($1)', [MIGRATION_LOCK])
  const migrating = migrateUrl(url, 'up', () => {})
  migrating.catch(() => {})
  let waiter: number | undefined
  for (let tries = 0; waiter === undefined && tries < 200; tries++) {
    const { rows } = await holder.query<{ pid: number }>("select pid from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock' and query like 'select pg_advisory_lock%'")
    waiter = rows[0]?.pid
    if (waiter === undefined) await sleep(50)
  }
  t.ok(waiter, 'the migration waits for the lock on a connection of its own')
  await holder.query('select pg_terminate_backend($1)', [waiter])
  await t.rejects(migrating, 'the migration fails')
  await sleep(200)
  t.pass('and this process is still running')
})

t.test('processes starting together migrate once', async t => {
  const url = await createEmptyDatabase(t)
  const orms = await Promise.all([1, 2, 3].map(() => MikroORM.init(createOrmConfig(url, { logger: () => {} }))))
  t.teardown(() => Promise.all(orms.map(orm => orm.close())))
  const applied = await Promise.all(orms.map(orm => migrate(orm, url)))
  t.same(applied.flat().sort(), MIGRATIONS)
})

t.test('the entities and the migrations agree: a migrated database needs no new migration', async t => {
  const url = await createEmptyDatabase(t)
  const orm = await MikroORM.init(createOrmConfig(url, { logger: () => {} }))
  t.teardown(() => orm.close())
  await migrate(orm, url)
  t.equal(await orm.getMigrator().checkMigrationNeeded(), false, 'the schema the entities describe is the one the migrations made')
})
