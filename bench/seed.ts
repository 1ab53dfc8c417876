// Fills the benchmark database deterministically, by SQL alone:
//   node --import tsx bench/seed.ts --preset small|large [--rounds N]
// Everything is loaded in one transaction: an error rolls it back and exits non-zero.
import { parseArgs } from 'node:util'
import bcrypt from 'bcrypt'
import pg from 'pg'
import { loadConfig } from '../lib/config.js'
import { openBenchDatabase } from './database.js'
import { BENCH_PASSWORD as PASSWORD, isPresetName, PRESETS, type Preset } from './presets.js'

// A fixed salt, so that two runs store the same hash (bcrypt's own salts are random).
const SALT = 'postlinebenchseedsalt.'
const HOT_POSTS = 100
const RARE_WORD = 'quokka'
const RARE_EVERY = 10007

// 200 distinct ordinary words: no stop words, no two with the same stem, none inside another.
const WORDS = `
  apple river mountain garden window yellow purple silver coffee bread
  candle forest meadow harbor island valley desert canyon glacier volcano
  thunder breeze sunset morning evening winter summer autumn spring rainbow
  pencil paper basket bottle blanket pillow carpet ladder mirror wallet
  guitar piano violin trumpet drum melody rhythm chorus ballad concert
  tiger rabbit turtle dolphin eagle falcon penguin zebra giraffe monkey
  castle bridge tower temple market village museum library theater station
  engine rocket wheel anchor compass lantern helmet jacket sweater boots
  pepper ginger honey butter cheese lemon orange cherry banana mango
  copper marble granite crystal velvet cotton leather bamboo cedar maple
  doctor farmer sailor pilot painter baker tailor hunter dancer writer
  planet comet galaxy meteor orbit nebula lunar solar cosmic stellar
  quiet brave gentle clever happy lucky sunny windy frozen golden
  bright simple modern ancient hidden secret distant narrow shallow hollow
  journey voyage picnic festival holiday parade circus carnival harvest wedding
  puzzle riddle legend fable poem novel diary letter journal sketch
  kitchen cellar attic balcony porch chimney fence hedge orchard vineyard
  tomato potato carrot onion garlic spinach pumpkin olive almond walnut
  signal cable laptop camera battery printer keyboard monitor router sensor
  whisper giggle shadow echo spark flame ember frost mist storm
`.trim().split(/\s+/)

const TABLES = ['users', 'posts', 'votes', 'vote_counts']
const MAX_BIGINT = 2n ** 63n - 1n // masks hashes to non-negative

function parseOptions (): { name: string, preset: Preset, rounds: number } {
  const { values } = parseArgs({
    options: {
      preset: { type: 'string', default: 'small' },
      rounds: { type: 'string' }
    }
  })
  const name = values.preset
  const preset = isPresetName(name) ? PRESETS[name] : undefined
  if (!preset) throw new Error(`--preset must be one of ${Object.keys(PRESETS).join(', ')} (got ${JSON.stringify(name)})`)
  const rounds = values.rounds === undefined ? loadConfig().BCRYPT_ROUNDS : Number(values.rounds)
  if (!Number.isInteger(rounds) || rounds < 4 || rounds > 31) throw new Error(`--rounds must be an integer from 4 to 31 (got ${values.rounds})`)
  return { name, preset, rounds }
}

async function passwordHash (rounds: number): Promise<string> {
  const hash = await bcrypt.hash(PASSWORD, `$2b$${String(rounds).padStart(2, '0')}$${SALT}`)
  if (!await bcrypt.compare(PASSWORD, hash)) throw new Error('the bcrypt hash does not match its password')
  return hash
}

async function timed<T> (name: string, run: () => Promise<T>): Promise<T> {
  const start = performance.now()
  const result = await run()
  console.error(`${name}: ${((performance.now() - start) / 1000).toFixed(2)} s`)
  return result
}

async function indexSnapshot (client: pg.Client): Promise<Map<string, string>> {
  const { rows } = await client.query<{ indexname: string, indexdef: string }>(
    'select indexname, indexdef from pg_indexes where schemaname = \'public\''
  )
  return new Map(rows.map(row => [row.indexname, row.indexdef]))
}

function compareIndexes (before: Map<string, string>, after: Map<string, string>): void {
  const names = new Set([...before.keys(), ...after.keys()])
  const changed = [...names].filter(name => before.get(name) !== after.get(name))
  if (changed.length) throw new Error(`indexes differ after seeding: ${changed.join(', ')}`)
}

interface DroppedIndex {
  name: string
  restore: string
}

/**
 * Drops the indexes that loading would otherwise maintain row by row, and returns the
 * statements that re-create them as they were. Kept: indexes a foreign key references
 * (the users and posts primary keys, which the ids fill in order anyway).
 */
async function dropIndexes (client: pg.Client, tables: string[]): Promise<DroppedIndex[]> {
  const { rows } = await client.query<DroppedIndex & { drop: string }>(`
    select i.indexrelid::regclass::text as name,
      case when c.oid is null then format('drop index %s', i.indexrelid::regclass)
        else format('alter table %s drop constraint %I', i.indrelid::regclass, c.conname) end as drop,
      case when c.oid is null then pg_get_indexdef(i.indexrelid)
        else format('alter table %s add constraint %I %s', i.indrelid::regclass, c.conname, pg_get_constraintdef(c.oid)) end as restore
    from pg_index i
    left join pg_constraint c on c.conindid = i.indexrelid and c.conrelid = i.indrelid and c.contype in ('p', 'u', 'x')
    where i.indrelid = any ($1::regclass[])
      and not exists (select 1 from pg_constraint f where f.contype = 'f' and f.conindid = i.indexrelid)
    order by i.indexrelid`, [tables])
  for (const row of rows) await client.query(row.drop)
  return rows
}

async function insertUsers (client: pg.Client, { users }: Preset, hash: string): Promise<void> {
  await client.query(`
    insert into users (id, email, password, created_at)
    select n, 'user' || n || '@example.com', $2, timestamptz '2026-01-01 00:00:00+00' + n * interval '1 second'
    from generate_series(1, $1::int) n`, [users, hash])
  await client.query('select setval(pg_get_serial_sequence(\'users\', \'id\'), $1::int)', [users])
}

/**
 * One post a second, the newest at the moment of seeding, so that the windows of `t=hour|day|...`
 * hold posts (the bench reseeds data whose newest post has aged, see seed-if-needed.ts).
 * Two 63-bit hashes per post give its words as base-200 digits. The three title words
 * are distinct: the second is 1-99 places after the first in the list, the third 100-199.
 * The list is a name[]: its elements have a fixed width, so w[i] is a direct lookup
 * where a text[] would walk the array (five times slower).
 */
async function insertPosts (client: pg.Client, { users, posts }: Preset, now: string): Promise<void> {
  const digit = (hash: string, place: number) => `w[1 + (${hash} / ${200 ** place} % 200)::int]`
  const title = `'Post ' || n || ': ' || w[1 + first] || ' ' || w[1 + (first + 1 + a / 200 % 99)::int % 200]
    || ' ' || w[1 + (first + 100 + a / 40000 % 100)::int % 200]
    || case when n % ${RARE_EVERY} = 1 then ' ${RARE_WORD}' else '' end`
  const content = `'Some thoughts on the ' || ${digit('b', 0)} || ' ' || ${digit('b', 1)} || ' by the ' || ${digit('b', 2)}
    || '. The ' || ${digit('b', 3)} || ' ' || ${digit('b', 4)} || ' met the ' || ${digit('b', 5)} || ' ' || ${digit('b', 6)}
    || ' near the ' || ${digit('a', 3)} || ', and the ' || ${digit('a', 4)} || ' felt ' || ${digit('a', 5)} || ' all week.'`
  await client.query(`
    insert into posts (id, title, content, published, created_at, owner_id)
    select n, ${title}, ${content}, n % 20 <> 0,
      $4::timestamptz - ($1::int - n) * interval '1 second',
      (n::bigint * 7919 % $2::int)::int + 1
    from (
      select n, a, b, (a % 200)::int as first
      from (
        select n, hashint8extended(n, 1) & ${MAX_BIGINT} as a, hashint8extended(n, 2) & ${MAX_BIGINT} as b
        from generate_series(1, $1::int) n
        offset 0 -- evaluates each hash once per row instead of once per use
      ) hashes
    ) picks, (select $3::name[] as w) words`, [posts, users, WORDS, now])
  await client.query('select setval(pg_get_serial_sequence(\'posts\', \'id\'), $1::int)', [posts])
}

/**
 * A user's first fifth of votes go to consecutive hot posts (the multiples of
 * posts / 100, taken cyclically), so they are distinct. The others go to cold posts: the
 * m-th cold post (0-based) is m / (spacing - 1) * spacing + m % (spacing - 1) + 1, which
 * is never hot. Each user takes m = start + i * stride (mod cold) for i = 0, 1, ..., with
 * stride = floor(cold / picks): they span less than one lap of the cold posts, so they
 * are distinct too.
 */
async function insertVotes (client: pg.Client, { users, posts, votes }: Preset): Promise<void> {
  const perUser = votes / users
  const hot = perUser / 5
  const spacing = posts / HOT_POSTS
  const cold = posts - HOT_POSTS
  const stride = Math.floor(cold / (perUser - hot))
  if (!Number.isInteger(hot) || !Number.isInteger(spacing) || spacing < 2 || hot > HOT_POSTS || stride < 1) {
    throw new Error('the preset cannot be seeded with distinct votes')
  }
  await client.query(`
    insert into votes (user_id, post_id)
    select u, case
      when j < $2::int then ((u * 37 + j) % ${HOT_POSTS} + 1) * $3::int
      else (m / ($3::int - 1) * $3::int + m % ($3::int - 1) + 1)::int
    end
    from (
      select u, j, ((hashint8extended(u, 3) & ${MAX_BIGINT}) % $4::int + (j - $2::int) * $5::int) % $4::int as m
      from (select k / $1::int + 1 as u, k % $1::int as j from generate_series(0, $6::int - 1) k offset 0) picks
    ) cold`, [perUser, hot, spacing, cold, stride, votes])
}

async function existingTables (client: pg.Client): Promise<string[]> {
  const { rows } = await client.query<{ name: string }>(
    'select name from unnest($1::text[]) name where to_regclass(\'public.\' || name) is not null', [TABLES])
  return rows.map(row => row.name)
}

// Its triggers were skipped while loading, so it is rebuilt from scratch: every post's row, ranked.
async function rebuildVoteCounts (client: pg.Client): Promise<void> {
  await client.query('truncate vote_counts')
  await client.query(`insert into vote_counts (post_id, votes, created_at, hot)
    select p.id, coalesce(v.n, 0), p.created_at, post_hot(coalesce(v.n, 0), p.created_at)
      from posts p left join (select post_id, count(*)::int as n from votes group by post_id) v on v.post_id = p.id`)
}

async function countRows (client: pg.Client, tables: string[]): Promise<Record<string, number>> {
  const counts: Record<string, number> = {}
  for (const table of tables) {
    const { rows } = await client.query<{ count: string }>(`select count(*) from ${client.escapeIdentifier(table)}`)
    counts[table] = Number(rows[0]?.count)
  }
  return counts
}

async function verify (client: pg.Client, preset: Preset, tables: string[]): Promise<void> {
  const counts = await countRows(client, tables)
  console.error(`rows: ${JSON.stringify(counts)}`)
  for (const table of ['users', 'posts', 'votes'] as const) {
    if (counts[table] !== preset[table]) throw new Error(`${table} has ${counts[table]} rows, expected ${preset[table]}`)
  }
  if (tables.includes('vote_counts')) {
    const { rows } = await client.query<{ sum: string | null }>('select sum(votes) from vote_counts')
    if (Number(rows[0]?.sum) !== preset.votes) throw new Error(`vote_counts adds up to ${rows[0]?.sum} votes, expected ${preset.votes}`)
    if (counts.vote_counts !== preset.posts) throw new Error(`vote_counts has ${counts.vote_counts} rows, expected one per post (${preset.posts})`)
  }
}

async function seed (client: pg.Client, preset: Preset, hash: string): Promise<void> {
  const tables = await existingTables(client)
  await client.query('begin')
  try {
    // Superuser only: skips foreign key checks and the vote_counts triggers while loading.
    await client.query('set local session_replication_role = replica')
    await client.query('set local maintenance_work_mem = \'512MB\'')
    await client.query('set local work_mem = \'256MB\'')
    await client.query('set local synchronous_commit = off')
    const indexesBefore = await indexSnapshot(client)
    await timed('truncate', () => client.query('truncate users, posts, votes restart identity cascade'))
    const restore = await timed('drop indexes', () => dropIndexes(client, tables))
    await timed('users', () => insertUsers(client, preset, hash))
    const { rows: [{ now }] } = await client.query<{ now: string }>('select date_trunc(\'second\', now())::text as now')
    await timed('posts', () => insertPosts(client, preset, now))
    await timed('votes', () => insertVotes(client, preset))
    await timed('analyze', () => client.query('analyze users, posts, votes'))
    if (tables.includes('vote_counts')) await timed('vote_counts', () => rebuildVoteCounts(client))
    for (const index of restore) await timed(`index ${index.name}`, () => client.query(index.restore))
    await verify(client, preset, tables)
    compareIndexes(indexesBefore, await indexSnapshot(client))
    await timed('commit', () => client.query('commit'))
  } catch (err) {
    await client.query('rollback').catch(() => {})
    throw err
  }
  // Outside the transaction: vacuum cannot run in one. It sets the visibility map for index-only scans.
  await timed('vacuum', () => client.query(`vacuum (analyze) ${tables.map(table => client.escapeIdentifier(table)).join(', ')}`))
}

async function main (): Promise<void> {
  const { name, preset, rounds } = parseOptions()
  const start = performance.now()
  const hash = await timed(`bcrypt (cost ${rounds})`, () => passwordHash(rounds))
  const database = await timed('open database', () => openBenchDatabase())
  try {
    const client = new pg.Client({ connectionString: database.url })
    await client.connect()
    try {
      console.error(`seeding preset ${name}: ${JSON.stringify(preset)}`)
      await seed(client, preset, hash)
    } finally {
      await client.end()
    }
  } finally {
    await database.stop?.()
  }
  console.error(`total: ${((performance.now() - start) / 1000).toFixed(2)} s`)
}

main().catch(err => {
  console.error(err)
  process.exitCode = 1
})
