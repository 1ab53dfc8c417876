import bcrypt from 'bcrypt'
import pg from 'pg'
import t from 'tap'
import { missingReference } from '../../db/errors.js'
import { build, createEmptyDatabase, login, sql } from '../helpers/app.js'
import { MIGRATIONS } from '../helpers/migrations.js'

// The schema the FastAPI course's Alembic revisions leave behind, with no extra indexes.
const COURSE_SCHEMA = `
  create table alembic_version (version_num varchar(32) not null, constraint alembic_version_pkc primary key (version_num));
  insert into alembic_version (version_num) values ('1f5e0e1e9b4a');
  create table users (
    id serial not null, email varchar not null, password varchar not null,
    created_at timestamp with time zone default now() not null, phone_number varchar,
    primary key (id), unique (email));
  create table posts (
    id serial not null, title varchar not null, content varchar not null,
    published boolean default 'TRUE' not null, created_at timestamp with time zone default now() not null,
    owner_id integer not null, primary key (id));
  alter table posts add constraint post_users_fk foreign key (owner_id) references users (id) on delete cascade;
  create table votes (
    user_id integer not null, post_id integer not null,
    foreign key (post_id) references posts (id) on delete cascade,
    foreign key (user_id) references users (id) on delete cascade,
    primary key (user_id, post_id));
`

async function courseDatabase (t: Parameters<typeof createEmptyDatabase>[0]): Promise<string> {
  const url = await createEmptyDatabase(t)
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    await client.query(COURSE_SCHEMA)
    const hash = await bcrypt.hash('password123', 4)
    await client.query('insert into users (email, password, created_at) values ($1, $2, $3)', ['Sanjeev@Gmail.com', hash, '2022-01-01T10:00:00.123456Z'])
    await client.query('insert into users (email, password) values ($1, $2)', ['other@gmail.com', hash])
    await client.query('insert into posts (title, content, owner_id) values ($1, $2, 1), ($3, $4, 2)', ['first post', 'from the course', 'second post', 'also old'])
    await client.query('insert into votes (user_id, post_id) values (1, 1), (2, 1)')
  } finally {
    await client.end()
  }
  return url
}

t.test('a database made by the course\'s Alembic migrations is adopted in place', async t => {
  const url = await courseDatabase(t)
  const app = await build(t, { databaseUrl: url })

  const migrations = await sql<{ name: string }>(app, 'select name from mikro_orm_migrations order by id')
  t.same(migrations.map(m => m.name), MIGRATIONS)
  t.same(await sql(app, 'select version_num from alembic_version'), [{ version_num: '1f5e0e1e9b4a' }], 'Alembic\'s history is left alone')
  t.same(await sql(app, 'select count(*)::int as n from users'), [{ n: 2 }])
  t.same(await sql(app, 'select count(*)::int as n from votes'), [{ n: 2 }])
  const indexes = (await sql<{ indexname: string }>(app, 'select indexname from pg_indexes where schemaname = \'public\'')).map(i => i.indexname)
  t.ok(indexes.includes('votes_post_id_index'), 'later migrations apply')
  t.ok(indexes.includes('users_email_lower_unique'))
  t.same(await sql(app, 'select post_id, votes, created_at, hot from vote_counts order by post_id'),
    await sql(app, `select p.id as post_id, count(v.post_id)::int as votes, p.created_at, post_hot(count(v.post_id)::int, p.created_at) as hot
      from posts p left join votes v on v.post_id = p.id group by p.id order by p.id`), 'existing votes are counted, and every post is ranked')

  const token = await login(app, 'sanjeev@gmail.com', 'password123')
  const me = await app.inject({ url: '/users/me', headers: { authorization: `Bearer ${token}` } })
  t.equal(me.statusCode, 200)
  t.match(me.json(), { id: 1, email: 'Sanjeev@Gmail.com', created_at: '2022-01-01T10:00:00.123456+00:00' })

  const feed = await app.inject({ url: '/posts', headers: { authorization: `Bearer ${token}` } })
  t.equal(feed.statusCode, 200)
  t.same(feed.json().map((p: { Post: { title: string }, votes: number }) => [p.Post.title, p.votes]), [['second post', 0], ['first post', 2]])

  const created = await app.inject({ method: 'POST', url: '/posts', headers: { authorization: `Bearer ${token}` }, payload: { title: 'new', content: 'after adoption' } })
  t.equal(created.statusCode, 201)
  t.equal(created.json().id, 3, 'the course\'s sequences carry on')

  const taken = await app.inject({ method: 'POST', url: '/users', payload: { email: 'SANJEEV@gmail.com', password: 'password123' } })
  t.equal(taken.statusCode, 409)
})

t.test('adopting twice changes nothing', async t => {
  const url = await courseDatabase(t)
  const first = await build(t, { databaseUrl: url })
  await first.close()
  const second = await build(t, { databaseUrl: url })
  t.same(await sql(second, 'select count(*)::int as n from mikro_orm_migrations'), [{ n: MIGRATIONS.length }])
  t.same(await sql(second, 'select count(*)::int as n from posts'), [{ n: 2 }])
})

t.test('on an adopted database, a foreign-key violation is traced to the missing row\'s table through the course\'s own constraint names', async t => {
  const app = await build(t, { databaseUrl: await courseDatabase(t) })
  const violation = (text: string) => sql(app, text).then(() => t.fail(`${text} succeeded`), (err: unknown) => err)
  const constraints = await sql<{ conname: string }>(app, 'select conname from pg_constraint where contype = \'f\' and conrelid::regclass::text in (\'posts\', \'votes\') order by conname')
  t.same(constraints.map(row => row.conname), ['post_users_fk', 'votes_post_id_fkey', 'votes_user_id_fkey'], 'the course\'s names, not Postline\'s')
  t.equal(await missingReference(app.pg, await violation('insert into posts (title, content, owner_id) values (\'t\', \'c\', 999)')), 'users')
  t.equal(await missingReference(app.pg, await violation('insert into votes (user_id, post_id) values (999, 1)')), 'users')
  t.equal(await missingReference(app.pg, await violation('insert into votes (user_id, post_id) values (1, 999)')), 'posts')
})
