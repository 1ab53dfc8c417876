import { spawn, type ChildProcess } from 'node:child_process'
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { postgresOsUser } from '../../db/embedded-postgres.js'
import { freePort, until } from './server-process.js'

export const PGBOUNCER = '/usr/sbin/pgbouncer'

/** Why PgBouncer cannot run here, or false. */
export const pgBouncerMissing = (): string | false =>
  existsSync(PGBOUNCER) ? false : `${PGBOUNCER} is not installed (on Debian or Ubuntu: apt-get install -y pgbouncer)`

export interface PgBouncer {
  /** The database of `direct`, through the pooler. */
  url: string
  output: () => string
  stop: () => void
  /** Kills it (its clients' connections cut) and starts it again on the same port. */
  restart: () => Promise<void>
}

/**
 * Debian's PgBouncer in transaction mode in front of the PostgreSQL of `direct` (trust
 * authentication, as on our machines), with `serverConnections` server connections per
 * database and user. Clients' application names get their address appended
 * (application_name_add_host), so the primary can tell pooled connections from direct ones.
 * `listenEverywhere`: on every address of this machine (for hosts of their own), not only 127.0.0.1.
 */
export async function startPgBouncer (direct: string, serverConnections: number, { listenEverywhere = false } = {}): Promise<PgBouncer> {
  const dir = mkdtempSync(join(tmpdir(), 'postline-pgbouncer-'))
  chmodSync(dir, 0o755)
  const target = new URL(direct)
  const port = await freePort()
  // The server login uses this password (the embedded PostgreSQL has one; our machines trust).
  writeFileSync(join(dir, 'users.txt'), `"${decodeURIComponent(target.username)}" "${decodeURIComponent(target.password)}"\n`)
  writeFileSync(join(dir, 'pgbouncer.ini'), `[databases]
* = host=${target.hostname} port=${target.port || 5432}
[pgbouncer]
listen_addr = ${listenEverywhere ? '*' : '127.0.0.1'}
listen_port = ${port}
unix_socket_dir =
auth_type = trust
auth_file = ${dir}/users.txt
pool_mode = transaction
default_pool_size = ${serverConnections}
max_client_conn = 1000
application_name_add_host = 1
`)
  // PgBouncer refuses to run as root: then as the postgres user.
  const user = postgresOsUser()
  let output = ''
  let child: ChildProcess | undefined
  const start = async () => {
    const started = spawn(PGBOUNCER, [join(dir, 'pgbouncer.ini')], { ...user, stdio: ['ignore', 'pipe', 'pipe'] })
    child = started
    const from = output.length
    started.stdout!.on('data', chunk => { output += chunk })
    started.stderr!.on('data', chunk => { output += chunk })
    await until(() => {
      if (/process up/.test(output.slice(from))) return true
      if (started.exitCode !== null) throw new Error(`pgbouncer exited:\n${output}`)
    }, 10_000, () => `pgbouncer to start:\n${output}`)
  }
  /** Ends the process at once, as a crash would, and resolves once it is gone. */
  const kill = async () => {
    const running = child
    if (!running || running.exitCode !== null || running.signalCode !== null) return
    const gone = new Promise(resolve => running.once('close', resolve))
    running.kill('SIGKILL')
    await gone
  }
  const stop = () => {
    child?.kill('SIGKILL')
    rmSync(dir, { recursive: true, force: true })
  }
  try {
    await start()
  } catch (err) {
    stop()
    throw err
  }
  const url = new URL(direct)
  url.port = String(port)
  return { url: url.toString(), output: () => output, stop, restart: async () => { await kill(); await start() } }
}
