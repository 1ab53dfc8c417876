import pg from 'pg'
import t from 'tap'
import { missingReference } from '../../db/errors.js'
import { createTestDatabase } from '../helpers/app.js'

// A vote or post whose user or post was deleted meanwhile fails a foreign key; which row went
// missing is told by the constraint's name, read from the database's own catalogue, since an
// adopted database names its constraints in its own way.

async function violation (pool: pg.Pool, text: string): Promise<unknown> {
  try {
    await pool.query(text)
  } catch (err) {
    return err
  }
  throw new Error(`no error from: ${text}`)
}

async function keyOf (pool: pg.Pool, table: string, referenced: string): Promise<string> {
  const { rows } = await pool.query<{ name: string }>(
    "select conname as name from pg_constraint where contype = 'f' and conrelid = $1::regclass and confrelid = $2::regclass", [table, referenced])
  return rows[0]!.name
}

t.test('a foreign-key violation names the table whose row is missing, whatever the constraints are called', async t => {
  const pool = new pg.Pool({ connectionString: await createTestDatabase(t), max: 2 })
  t.teardown(() => pool.end())
  const [{ id: userId }] = (await pool.query<{ id: number }>("insert into users (email, password) values ('fk@example.com', 'x') returning id")).rows as [{ id: number }]
  const [{ id: postId }] = (await pool.query<{ id: number }>(`insert into posts (title, content, owner_id) values ('t', 'c', ${userId}) returning id`)).rows as [{ id: number }]

  const missingUser = () => violation(pool, `insert into votes (user_id, post_id) values (${userId + 1000}, ${postId})`)
  const missingPost = () => violation(pool, `insert into votes (user_id, post_id) values (${userId}, ${postId + 1000})`)
  const postOfNoOne = () => violation(pool, `insert into posts (title, content, owner_id) values ('t', 'c', ${userId + 1000})`)

  t.equal(await missingReference(pool, await missingUser()), 'users', 'a vote by a user who is gone')
  t.equal(await missingReference(pool, await missingPost()), 'posts', 'a vote on a post that is gone')
  t.equal(await missingReference(pool, await postOfNoOne()), 'users', 'a post by a user who is gone')

  // Named as another schema's tool might name them, after the names were first read.
  const { rows } = await pool.query<{ table: string, name: string }>(
    "select conrelid::regclass::text as table, conname as name from pg_constraint where contype = 'f' order by conname")
  t.ok(rows.length >= 3, 'the course tables have their foreign keys')
  for (const [i, { table, name }] of rows.entries()) {
    await pool.query(`alter table ${table} rename constraint "${name}" to "renamed_${i}"`)
  }
  const renamed = await missingUser() as { constraint?: string }
  t.match(renamed.constraint, /^renamed_/, 'the error carries the new name')
  t.equal(await missingReference(pool, renamed), 'users', 'a name not seen before is looked up again')
  t.equal(await missingReference(pool, await missingPost()), 'posts')

  // A constraint's name is unique within its table only: two tables' keys may share one.
  await pool.query(`alter table posts rename constraint "${await keyOf(pool, 'posts', 'users')}" to shared_fk`)
  await pool.query(`alter table votes rename constraint "${await keyOf(pool, 'votes', 'posts')}" to shared_fk`)
  t.equal(await missingReference(pool, await postOfNoOne()), 'users', 'the posts key of that name')
  t.equal(await missingReference(pool, await missingPost()), 'posts', 'the votes key of that name')

  t.equal(await missingReference(pool, await violation(pool, "insert into users (email, password) values ('fk@example.com', 'x')")), undefined, 'a unique violation is no missing reference')
  t.equal(await missingReference(pool, new Error('not from the database')), undefined)
})
