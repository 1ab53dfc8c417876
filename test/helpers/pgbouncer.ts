import { execFileSync, spawn } from 'node:child_process'
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
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
}

/**
 * Debian's PgBouncer in transaction mode in front of the PostgreSQL of `direct` (trust
 * authentication, as on our machines), with `serverConnections` server connections per
 * database and user. Clients' application names get their address appended
 * (application_name_add_host), so the primary can tell pooled connections from direct ones.
 */
export async function startPgBouncer (direct: string, serverConnections: number): Promise<PgBouncer> {
  const dir = mkdtempSync(join(tmpdir(), 'postline-pgbouncer-'))
  chmodSync(dir, 0o755)
  const target = new URL(direct)
  const port = await freePort()
  writeFileSync(join(dir, 'users.txt'), `"${decodeURIComponent(target.username)}" ""\n`)
  writeFileSync(join(dir, 'pgbouncer.ini'), `[databases]
* = host=${target.hostname} port=${target.port || 5432}
[pgbouncer]
listen_addr = 127.0.0.1
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
  const user = process.getuid?.() === 0 ? { uid: Number(execFileSync('id', ['-u', 'postgres'])), gid: Number(execFileSync('id', ['-g', 'postgres'])) } : {}
  const child = spawn(PGBOUNCER, [join(dir, 'pgbouncer.ini')], { ...user, stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  child.stdout.on('data', chunk => { output += chunk })
  child.stderr.on('data', chunk => { output += chunk })
  const stop = () => {
    child.kill('SIGKILL')
    rmSync(dir, { recursive: true, force: true })
  }
  try {
    await until(() => {
      if (/process up/.test(output)) return true
      if (child.exitCode !== null) throw new Error(`pgbouncer exited:\n${output}`)
    }, 10_000, () => `pgbouncer to start:\n${output}`)
  } catch (err) {
    stop()
    throw err
  }
  const url = new URL(direct)
  url.port = String(port)
  return { url: url.toString(), output: () => output, stop }
}
