import { randomBytes } from 'node:crypto'
import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import pg from 'pg'
import t, { type Test } from 'tap'
import { ConfigError, DEVELOPMENT_SECRET_KEY, loadConfig, readEnvironment, type ConfigSource } from '../../lib/config.js'
import { parseEnvFile } from '../../lib/env-file.js'
import { resolveDatabase } from '../../db/database.js'
import { createEmptyDatabase } from '../helpers/app.js'
import { spawnServer, startServer, waitFor } from '../helpers/server-process.js'
import { projectRoot } from '../../lib/project-root.js'

const ROOT = projectRoot()

function configError (source: ConfigSource): ConfigError | undefined {
  try {
    loadConfig(source)
  } catch (err) {
    if (err instanceof ConfigError) return err
    throw err
  }
  return undefined
}

/** Sets (or, with undefined, removes) a process environment variable until the test ends. */
function setEnv (t: Test, name: string, value: string | undefined) {
  const previous = process.env[name]
  t.teardown(() => {
    if (previous === undefined) delete process.env[name]
    else process.env[name] = previous
  })
  if (value === undefined) delete process.env[name]
  else process.env[name] = value
}

const BAD_VALUES: [name: string, value: string][] = [
  ['PORT', 'abc'],
  ['DATABASE_HOSTNAME', 'db host'],
  ['DATABASE_URL', 'postgresql://postgres@127.0.0.1:99999/postline'],
  ['DATABASE_DIRECT_URL', 'postgresql://postgres@127.0.0.1:port/postline'],
  ['DATABASE_READ_URLS', 'postgresql://r1/postline,postgresql://r2:70000/postline'],
  ['DATABASE_HOSTNAME', 'a/b'],
  ['PORT', '70000'],
  ['BCRYPT_ROUNDS', '2'],
  ['LOG_LEVEL', 'loud'],
  ['ALGORITHM', 'RS256'],
  ['DATABASE_URL', 'mysql://x'],
  ['ACCESS_TOKEN_EXPIRE_MINUTES', '0'],
  ['REFRESH_TOKEN_EXPIRE_DAYS', '0'],
  ['REFRESH_TOKEN_EXPIRE_DAYS', '1.5'],
  ['WEB_CONCURRENCY', '0'],
  ['LOGIN_RATE_LIMIT', '-1'],
  ['DATABASE_READ_URLS', 'replica.internal:5432'],
  ['DATABASE_READ_URLS', 'postgresql://a/postline,'],
  ['DATABASE_READ_MAX_LAG', '-1']
]

t.test('a bad value is refused with one line naming the variable', async t => {
  for (const [name, value] of BAD_VALUES) {
    const error = configError({ [name]: value })
    t.type(error, ConfigError, `${name}=${value}`)
    t.match(error?.message, new RegExp(`\\b${name}\\b`), `${name}=${value} is named`)
    t.notMatch(error?.message, /\n/, `${name}=${value} is one line`)
  }
})

t.test('DATABASE_HOSTNAME: a name or an address, IPv6 too, in the URL the parts make', async t => {
  for (const [host, expected] of [['db.example.com', 'db.example.com'], ['10.0.0.5', '10.0.0.5'], ['::1', '[::1]']]) {
    const database = await resolveDatabase(loadConfig({ DATABASE_HOSTNAME: host, DATABASE_PASSWORD: 'p#w' }), () => {})
    t.equal(new URL(database.url).host, `${expected}:5432`, host)
    t.equal(decodeURIComponent(new URL(database.url).password), 'p#w')
  }
})

t.test('unset variables take their defaults', async t => {
  const config = loadConfig({})
  t.equal(config.NODE_ENV, 'development')
  t.equal(config.PORT, 8000)
  t.equal(config.HOST, '127.0.0.1')
  t.equal(config.LOG_LEVEL, 'info')
  t.equal(config.ALGORITHM, 'HS256')
  t.equal(config.ACCESS_TOKEN_EXPIRE_MINUTES, 60)
  t.equal(config.REFRESH_TOKEN_EXPIRE_DAYS, 30)
  t.equal(config.BCRYPT_ROUNDS, 12)
  t.equal(config.WEB_CONCURRENCY, 1)
  t.equal(config.LOGIN_RATE_LIMIT, 10)
  t.equal(config.RATE_LIMIT, 6000)
  t.equal(config.BODY_LIMIT, 1024 * 1024)
  t.equal(config.CORS_ORIGINS, '')
  t.equal(config.DATABASE_URL, undefined)
})

t.test('numeric strings are coerced to numbers', async t => {
  const config = loadConfig({ PORT: '9001', ACCESS_TOKEN_EXPIRE_MINUTES: '15', BCRYPT_ROUNDS: '5', WEB_CONCURRENCY: '4', LOGIN_RATE_LIMIT: '0', RATE_LIMIT: '120', DATABASE_PORT: '5433' })
  t.equal(config.PORT, 9001)
  t.equal(config.ACCESS_TOKEN_EXPIRE_MINUTES, 15)
  t.equal(config.BCRYPT_ROUNDS, 5)
  t.equal(config.WEB_CONCURRENCY, 4)
  t.equal(config.LOGIN_RATE_LIMIT, 0)
  t.equal(config.RATE_LIMIT, 120)
  t.equal(config.DATABASE_PORT, 5433)
})

t.test('empty strings count as unset', async t => {
  const config = loadConfig({ PORT: '', BCRYPT_ROUNDS: '', LOG_LEVEL: '', ALGORITHM: '', DATABASE_URL: '', SECRET_KEY: '', NODE_ENV: '' })
  t.equal(config.PORT, 8000)
  t.equal(config.BCRYPT_ROUNDS, 12)
  t.equal(config.LOG_LEVEL, 'info')
  t.equal(config.ALGORITHM, 'HS256')
  t.equal(config.DATABASE_URL, undefined)
  t.equal(config.SECRET_KEY, DEVELOPMENT_SECRET_KEY)
})

t.test('postgres:// and postgresql:// database URLs are accepted', async t => {
  for (const url of ['postgres://u:p@db:5432/app', 'postgresql://u@127.0.0.1/app']) {
    t.equal(loadConfig({ DATABASE_URL: url }).DATABASE_URL, url)
  }
})

t.test('DATABASE_READ_URLS takes one replica URL or several, comma-separated', async t => {
  t.equal(loadConfig({}).DATABASE_READ_URLS, '', 'none by default')
  t.equal(loadConfig({}).DATABASE_READ_MAX_LAG, 5000)
  for (const urls of ['postgresql://r1/postline', 'postgresql://r1/postline,postgres://u:p@r2:5433/postline', 'postgresql://r1/postline, postgresql://r2/postline']) {
    t.equal(loadConfig({ DATABASE_READ_URLS: urls }).DATABASE_READ_URLS, urls)
  }
  const error = configError({ DATABASE_READ_URLS: 'postgresql://r1/postline', WEB_CONCURRENCY: '2' })
  t.match(error?.message, /DATABASE_READ_URLS with WEB_CONCURRENCY above 1 needs REDIS_URL/, 'several processes without Redis are refused: each would know only its own writes')
  t.equal(loadConfig({ DATABASE_READ_URLS: 'postgresql://r1/postline', WEB_CONCURRENCY: '2', REDIS_URL: 'redis://127.0.0.1:6379' }).WEB_CONCURRENCY, 2)
})

t.test('production refuses a missing, short or stand-in SECRET_KEY', async t => {
  for (const SECRET_KEY of [undefined, '', 'too-short-a-secret', DEVELOPMENT_SECRET_KEY]) {
    const error = configError({ NODE_ENV: 'production', SECRET_KEY })
    t.type(error, ConfigError, `SECRET_KEY=${JSON.stringify(SECRET_KEY)}`)
    t.match(error?.message, /\bSECRET_KEY\b/)
    t.notMatch(error?.message, /\n/)
  }
})

t.test('production accepts a 40-character SECRET_KEY', async t => {
  const secret = randomBytes(20).toString('hex')
  const config = loadConfig({ NODE_ENV: 'production', SECRET_KEY: secret })
  t.equal(config.SECRET_KEY, secret)
  t.equal(config.NODE_ENV, 'production')
})

t.test('readEnvironment reads a .env file, and the process environment wins over it', async t => {
  const suffix = randomBytes(4).toString('hex').toUpperCase()
  const fileOnly = `POSTLINE_TEST_FILE_ONLY_${suffix}`
  const both = `POSTLINE_TEST_BOTH_${suffix}`
  const dir = t.testdir({
    '.env': `# settings\n${fileOnly}=from-file\n${both}=from-file\nACCESS_TOKEN_EXPIRE_MINUTES=15\nLOG_LEVEL="warn"\n`
  })
  setEnv(t, both, 'from-process')
  setEnv(t, 'ACCESS_TOKEN_EXPIRE_MINUTES', undefined)
  setEnv(t, 'LOG_LEVEL', 'error')

  const environment = readEnvironment(join(dir, '.env'))

  t.equal(environment[fileOnly], 'from-file')
  t.equal(environment[both], 'from-process')
  const config = loadConfig(environment)
  t.equal(config.ACCESS_TOKEN_EXPIRE_MINUTES, 15)
  t.equal(config.LOG_LEVEL, 'error')
})

/* eslint-disable no-template-curly-in-string -- the text of a .env file, not templates */
t.test('a .env file is read as python-dotenv reads it: # inside a value, quotes, escapes, ${NAME}', async t => {
  const text = [
    '# a comment',
    'SECRET_KEY=k9#Qx2-and-more   # a comment after a space',
    'DATABASE_PASSWORD=s3cr#t!pw',
    'HASH_FIRST=#abc',
    'export EXPORTED = spaced value  ',
    'SINGLE=\'raw \\n ${SECRET_KEY} # kept\'',
    'DOUBLE="line one\\nline two # kept \\" quote"',
    'MULTI="first',
    'second"',
    'AFTER_MULTI=yes',
    'NESTED=${DATABASE_PASSWORD}@${FROM_ENVIRONMENT}/${MISSING:-fallback}',
    'EMPTY=',
    'not a line at all',
    ''
  ].join('\n')
  t.strictSame(parseEnvFile(text, { FROM_ENVIRONMENT: 'env' }), {
    SECRET_KEY: 'k9#Qx2-and-more',
    DATABASE_PASSWORD: 's3cr#t!pw',
    HASH_FIRST: '#abc',
    EXPORTED: 'spaced value',
    SINGLE: 'raw \\n ${SECRET_KEY} # kept',
    DOUBLE: 'line one\nline two # kept " quote',
    MULTI: 'first\nsecond',
    AFTER_MULTI: 'yes',
    NESTED: 's3cr#t!pw@env/fallback',
    EMPTY: ''
  })
})
/* eslint-enable no-template-curly-in-string */

t.test('readEnvironment without a .env file is the process environment', async t => {
  const name = `POSTLINE_TEST_ONLY_PROCESS_${randomBytes(4).toString('hex').toUpperCase()}`
  setEnv(t, name, 'here')
  const dir = t.testdir({})
  const environment = readEnvironment(join(dir, '.env'))
  t.equal(environment[name], 'here')
  t.strictSame(environment, { ...process.env })
})

t.test('the server refuses to start on a bad variable, with one line naming it', async t => {
  const server = spawnServer(t, { PORT: 'abc' })
  const { code } = await waitFor(server.exited, 60_000, 'the server to exit')
  t.not(code, 0)
  t.not(code, null)
  const lines = server.output().split('\n').filter(line => line.trim())
  t.equal(lines.length, 1, server.output())
  t.match(lines[0], /\bPORT\b/)
  t.notMatch(server.output(), /\n\s+at /, 'no stack trace')
})

t.test('a database that refuses the login stops start-up with one line saying so', async t => {
  const server = spawnServer(t, { DATABASE_URL: 'postgresql://no_such_role_here@127.0.0.1:5432/postgres' })
  const { code } = await waitFor(server.exited, 60_000, 'the server to exit')
  t.not(code, 0)
  const lines = server.output().split('\n').filter(line => line.trim())
  t.equal(lines.length, 1, server.output())
  t.match(lines[0], /refuses user .*no_such_role_here.*DATABASE_URL/)
  t.notMatch(server.output(), /\n\s+at /, 'no stack trace')
})

t.test('the server starts, migrates, answers over HTTP and stops cleanly on SIGTERM', async t => {
  const databaseUrl = await createEmptyDatabase(t)
  const server = await startServer(t, { DATABASE_URL: databaseUrl })

  const response = await fetch(`${server.url}/`)
  t.equal(response.status, 200)
  t.strictSame(await response.json(), { message: 'Hello World' })

  const client = new pg.Client({ connectionString: databaseUrl })
  await client.connect()
  try {
    const { rows } = await client.query<{ name: string }>('select name from mikro_orm_migrations order by name')
    const files = readdirSync(join(ROOT, 'db', 'migrations')).filter(file => /^Migration.*\.ts$/.test(file) && !file.endsWith('.d.ts'))
    t.strictSame(rows.map(row => row.name), files.map(file => file.replace(/\.ts$/, '')).sort())
    const tables = await client.query<{ name: string }>("select table_name as name from information_schema.tables where table_schema = 'public' and table_name in ('users', 'posts', 'votes') order by table_name")
    t.strictSame(tables.rows.map(row => row.name), ['posts', 'users', 'votes'])
  } finally {
    await client.end()
  }

  server.child.kill('SIGTERM')
  const { code, signal } = await waitFor(server.exited, 10_000, 'the server to exit after SIGTERM')
  t.equal(code, 0)
  t.equal(signal, null)
})
