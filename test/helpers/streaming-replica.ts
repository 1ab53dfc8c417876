import { execFile } from 'node:child_process'
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, rmSync, appendFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { postgresOsUser } from '../../db/embedded-postgres.js'
import { freePort } from './server-process.js'

const run = promisify(execFile)

/** Debian's PostgreSQL server programs (initdb, pg_ctl, pg_basebackup), the newest installed. */
function serverBin (): string | undefined {
  const root = '/usr/lib/postgresql'
  if (!existsSync(root)) return undefined
  const versions = readdirSync(root).filter(version => existsSync(join(root, version, 'bin', 'pg_basebackup'))).sort((a, b) => Number(b) - Number(a))
  return versions[0] === undefined ? undefined : join(root, versions[0], 'bin')
}

/** Why a primary and its streaming replica cannot run here, or false. */
export const streamingReplicaMissing = (): string | false =>
  serverBin() ? false : 'PostgreSQL\'s server programs are not installed (on Debian or Ubuntu: apt-get install -y postgresql)'

export interface Cluster {
  /** The `postline` database's URL. */
  url: string
  dataDir: string
  /** Its server log. */
  logFile: string
  start: () => Promise<void>
  /** Stops it at once (`immediate`), as a crash would, or cleanly (`fast`). */
  stop: (mode?: 'immediate' | 'fast') => Promise<void>
  /** Runs SQL on it as the superuser. */
  psql: (sql: string) => Promise<string>
}

export interface StreamingPair { primary: Cluster, replica: Cluster }

/** Where the pair's stop is registered: a tap test, or a bench's list of clean-ups. */
export interface Teardowns { teardown: (clean: () => Promise<void>) => void }

export interface PairOptions {
  /** recovery_min_apply_delay: each commit applied this long after the primary made it. */
  applyDelayMs?: number
  /** Log every statement, each line prefixed by the client's application name and a '|' (tests count a replica's reads so). */
  logStatements?: boolean
  /** Also listen on every address of this machine, trusting clients from this CIDR (hosts of their own). */
  reachableFrom?: string
}

/** A server program's path, for tools that run one against a cluster (pg_dump, pg_restore). */
export function serverProgram (name: string): string {
  return join(serverBin()!, name)
}

/**
 * A PostgreSQL primary of its own (initdb in a temp folder) and a streaming replica of it made
 * by `pg_basebackup -R`, which may apply each commit late (`applyDelayMs`): a replica that
 * always lags. Both run as real postmasters (as
 * the postgres user when the tests run as root) and are stopped and removed when `t` ends.
 */
export async function startStreamingPair (t: Teardowns, { applyDelayMs = 0, logStatements = false, reachableFrom }: PairOptions = {}): Promise<StreamingPair> {
  const bin = serverBin()!
  const dir = mkdtempSync(join(tmpdir(), 'postline-replication-'))
  chmodSync(dir, 0o755)
  const owner = postgresOsUser()
  if (owner) chownSync(dir, owner.uid, owner.gid)
  const as = (program: string, args: string[]) => run(join(bin, program), args, { ...owner, cwd: dir })

  const clusters: Cluster[] = []
  t.teardown(async () => {
    await Promise.all(clusters.map(cluster => cluster.stop('immediate')))
    rmSync(dir, { recursive: true, force: true })
  })

  const cluster = async (name: string): Promise<Cluster> => {
    const dataDir = join(dir, name)
    const port = await freePort()
    const logFile = join(dir, `${name}.log`)
    let running = false
    const made: Cluster = {
      url: `postgresql://postgres@127.0.0.1:${port}/postline`,
      dataDir,
      logFile,
      start: async () => {
        await as('pg_ctl', ['-D', dataDir, '-l', logFile, '-o', `-p ${port}`, '-w', '-t', '60', 'start'])
        running = true
      },
      stop: async (mode = 'fast') => {
        if (!running) return
        running = false
        await as('pg_ctl', ['-D', dataDir, '-m', mode, '-w', 'stop']).catch(() => {})
      },
      psql: async sql => (await as('psql', ['-h', dir, '-p', String(port), '-U', 'postgres', '-d', 'postgres', '-XAtqc', sql])).stdout.trim()
    }
    clusters.push(made)
    return made
  }

  const primary = await cluster('primary')
  await as('initdb', ['-D', primary.dataDir, '-U', 'postgres', '-A', 'trust', '--no-sync'])
  // The replica's copy keeps these settings (pg_ctl's -o goes through a shell: only the port is passed there).
  if (reachableFrom) appendFileSync(join(primary.dataDir, 'pg_hba.conf'), `host all all ${reachableFrom} trust\n`)
  appendFileSync(join(primary.dataDir, 'postgresql.conf'), `listen_addresses = '${reachableFrom ? '*' : '127.0.0.1'}'
unix_socket_directories = '${dir}'
fsync = off
hot_standby_feedback = on
${logStatements ? 'log_statement = \'all\'\nlog_line_prefix = \'%a|\'\n' : ''}`)
  await primary.start()
  // A checkpoint of the immediate kind: CREATE DATABASE's own would be spread over minutes.
  await primary.psql('create database postline strategy = file_copy')

  const replica = await cluster('replica')
  const { port } = new URL(primary.url)
  await as('pg_basebackup', ['-h', '127.0.0.1', '-p', port, '-U', 'postgres', '-D', replica.dataDir, '-R', '-X', 'stream', '--checkpoint=fast', '--no-sync'])
  if (applyDelayMs > 0) appendFileSync(join(replica.dataDir, 'postgresql.auto.conf'), `recovery_min_apply_delay = '${applyDelayMs}ms'\n`)
  await replica.start()
  return { primary, replica }
}
