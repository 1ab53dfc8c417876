import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { createEmptyDatabase } from '../helpers/app.js'
import { freePort, processesWith, spawnServer, startServer, waitFor, type SpawnedServer } from '../helpers/server-process.js'

// The embedded PostgreSQL meets what a second checkout or a second `npm start` brings: its
// data folder or its port already in use. Each test has a temporary folder and free ports of
// its own (never `.data/postgres` or 54329, which other checkouts on the machine may use).

const FATAL = 60
// ESC, which starts every ANSI colour code.
const ESCAPE = '\u001b['

function fatalLines (server: SpawnedServer): string[] {
  return server.output().split('\n').flatMap(line => {
    try {
      const parsed = JSON.parse(line) as { level: number, msg: string }
      return parsed.level === FATAL ? [parsed.msg] : []
    } catch {
      return []
    }
  })
}

/** A temporary folder for an embedded cluster; whatever still runs from it is killed, then it is removed. */
function dataFolder (t: Test, name: string): string {
  const dir = mkdtempSync(join(tmpdir(), `postline-${name}-`))
  t.teardown(() => {
    for (const pid of processesWith(dir)) process.kill(pid, 'SIGKILL')
    rmSync(dir, { recursive: true, force: true })
  })
  return join(dir, 'postgres')
}

t.test('a second server on a data folder that a running one holds: one line naming the process, exit 1, never listening', async t => {
  const dataDir = dataFolder(t, 'second')
  const port = String(await freePort())
  const first = await startServer(t, { EMBEDDED_POSTGRES_DIR: dataDir, EMBEDDED_POSTGRES_PORT: port })

  const second = spawnServer(t, { EMBEDDED_POSTGRES_DIR: dataDir, EMBEDDED_POSTGRES_PORT: port })
  const exit = await waitFor(second.exited, 30_000, () => `the second server to exit:\n${second.output()}`)
  t.same(exit, { code: 1, signal: null }, 'exit code 1')
  t.notMatch(second.output(), /Server listening/, 'it never listened')
  const fatal = fatalLines(second)
  t.equal(fatal.length, 1, 'one fatal line')
  t.match(fatal[0], new RegExp(`^start-up failed: the embedded PostgreSQL's data folder ${dataDir} is in use by process \\d+ .*EMBEDDED_POSTGRES_DIR`), fatal[0])
  t.notMatch(second.output(), /"stack"|\n\s+at |undefined/, 'no stack trace, no "undefined"')

  const ready = await fetch(`${first.url}/ready`)
  t.equal(ready.status, 200, 'the first server still answers /ready')
  t.equal(await first.stop(), 0, 'and stops with exit code 0')
})

t.test('the embedded port taken by another program: one line saying so and naming EMBEDDED_POSTGRES_PORT, exit 1, never listening', async t => {
  const dataDir = dataFolder(t, 'port')
  const taken = createServer()
  await new Promise<void>(resolve => taken.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise(resolve => taken.close(resolve)))
  const port = (taken.address() as { port: number }).port

  const server = spawnServer(t, { EMBEDDED_POSTGRES_DIR: dataDir, EMBEDDED_POSTGRES_PORT: String(port) })
  const exit = await waitFor(server.exited, 60_000, () => `the server to exit:\n${server.output()}`)
  t.same(exit, { code: 1, signal: null }, 'exit code 1')
  t.notMatch(server.output(), /Server listening/, 'it never listened')
  const fatal = fatalLines(server)
  t.equal(fatal.length, 1, 'one fatal line')
  t.match(fatal[0], new RegExp(`^start-up failed: .*port ${port} .*taken.*EMBEDDED_POSTGRES_PORT`), fatal[0])
  t.notMatch(server.output(), /"stack"|\n\s+at |undefined/, 'no stack trace, no "undefined"')
  t.same(processesWith(dataDir), [], 'no postgres is left running on the folder')
})

/** `npm run migrate[:down]`, as a program (not a terminal) runs it: its output is a pipe. */
async function migrateCli (t: Test, direction: 'up' | 'down', env: Record<string, string>) {
  const cli = spawnServer(t, env, { script: 'db/migrate-cli.ts', args: [direction] })
  const exit = await waitFor(cli.exited, 60_000, () => `migrate ${direction} to exit:\n${cli.output()}`)
  return { exit, output: cli.output() }
}

t.test('npm run migrate and migrate:down beside a server running on the embedded PostgreSQL work on its database, and leave it running', async t => {
  const dataDir = dataFolder(t, 'migrate')
  const env = { EMBEDDED_POSTGRES_DIR: dataDir, EMBEDDED_POSTGRES_PORT: String(await freePort()) }
  const server = await startServer(t, env)

  const down = await migrateCli(t, 'down', env)
  t.same(down.exit, { code: 0, signal: null }, `migrate:down exits 0:\n${down.output}`)
  t.match(down.output, /reverted: Migration\w+/, 'and reverts the latest migration')
  const up = await migrateCli(t, 'up', env)
  t.same(up.exit, { code: 0, signal: null }, `migrate exits 0:\n${up.output}`)
  t.match(up.output, /applied: Migration\w+/, 'and applies it again')
  t.notOk((down.output + up.output).includes(ESCAPE), 'no colour codes in output that is not a terminal')

  const ready = await fetch(`${server.url}/ready`)
  t.equal(ready.status, 200, 'the server still answers /ready: its PostgreSQL was not stopped')
  t.equal(await server.stop(), 0, 'and stops with exit code 0')
})

t.test('npm run migrate on a configured database: plain output when not on a terminal', async t => {
  const { exit, output } = await migrateCli(t, 'up', { DATABASE_URL: await createEmptyDatabase(t) })
  t.same(exit, { code: 0, signal: null }, 'exit code 0')
  t.match(output, /Applied 'Migration\w+'/, 'the migrator says what it applied')
  t.notOk(output.includes(ESCAPE), 'without colour codes')
})
