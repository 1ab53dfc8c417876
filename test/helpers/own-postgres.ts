import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Test } from 'tap'
import { startEmbeddedPostgres, type EmbeddedPostgres } from '../../db/embedded-postgres.js'
import { freePort } from './server-process.js'

export interface OwnPostgres {
  /** Where its data lives (its postmaster.pid among them). */
  dataDir: string
  /** Starts it (again); resolves with its URL, the same each time. */
  start: () => Promise<string>
  /** Stops it, when it runs. */
  stop: () => Promise<void>
}

/**
 * An embedded PostgreSQL that only this test uses, for tests that stop and start the
 * database under the server; not started yet. It is stopped and its folder removed when `t` ends.
 */
export async function ownPostgres (t: Test, name: string): Promise<OwnPostgres> {
  const dir = mkdtempSync(join(tmpdir(), `postline-${name}-`))
  const dataDir = join(dir, 'postgres')
  const port = await freePort()
  let running: EmbeddedPostgres | undefined
  const stop = async () => {
    await running?.stop()
    running = undefined
  }
  t.teardown(async () => {
    await stop()
    rmSync(dir, { recursive: true, force: true })
  })
  return {
    dataDir,
    start: async () => {
      running ??= await startEmbeddedPostgres({ dataDir, port, database: 'postline' })
      return running.url
    },
    stop
  }
}
