import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { freePort, processesWith, spawnServer, startServer, until, waitFor } from '../helpers/server-process.js'

// A stop asked for at any moment of an embedded start-up: Ctrl-C at a terminal (SIGINT to the
// whole process group, postgres included if it shares the group) or SIGTERM to the node
// process alone (systemd, docker stop, kill). Each exits 0 within 3 s of the signal and leaves no
// process behind, and the next start on the same folder works. (On an idle machine a stop takes
// well under a second; the suite runs four files at a time on two cores, and PostgreSQL's
// shutdown checkpoint then took 2.2 s once. Waiting for the migrations or initdb to finish
// would take far longer.)

const EXIT_LIMIT_MS = 3_000

const MOMENTS = [
  { name: 'the first log line', line: /no database configured: starting the embedded PostgreSQL/ },
  { name: 'initdb', line: /initialising an embedded PostgreSQL cluster/ },
  { name: 'between "serving" and the migrations', line: /embedded PostgreSQL is serving/ },
  { name: 'between the migrations and "Server listening"', line: /applied database migrations/ }
]

const STOPS = [
  { name: 'Ctrl-C (SIGINT to the process group)', send: (pid: number) => process.kill(-pid, 'SIGINT'), checksNextStart: true },
  { name: 'SIGTERM to the node process alone', send: (pid: number) => process.kill(pid, 'SIGTERM'), checksNextStart: false }
]

for (const stop of STOPS) {
  for (const moment of MOMENTS) {
    t.test(`${stop.name} at ${moment.name}: exit 0 within 3 s, nothing left running${stop.checksNextStart ? ', the next start works' : ''}`, async t => {
      const dir = mkdtempSync(join(tmpdir(), 'postline-stop-'))
      // Every process the server starts inherits this variable, so that none can hide.
      const marker = `postline-stop-${randomBytes(6).toString('hex')}`
      t.teardown(() => {
        for (const pid of [...processesWith(dir), ...processesWith(marker)]) process.kill(pid, 'SIGKILL')
        rmSync(dir, { recursive: true, force: true })
      })
      const env = { EMBEDDED_POSTGRES_DIR: join(dir, 'postgres'), EMBEDDED_POSTGRES_PORT: String(await freePort()), POSTLINE_TEST_MARKER: marker }

      const server = spawnServer(t, env, { group: true })
      await until(() => moment.line.test(server.output()) || server.child.exitCode !== null ? true : undefined, 60_000,
        () => `${moment.name}:\n${server.output()}`)
      t.equal(server.child.exitCode, null, `the server is still starting at ${moment.name}`)
      const signalled = performance.now()
      stop.send(server.child.pid!)
      const exit = await waitFor(server.exited, 15_000, () => `the server to exit:\n${server.output()}`)
      const took = Math.round(performance.now() - signalled)
      t.comment(`${stop.name} at ${moment.name}: signal → exit ${took} ms`)
      t.same(exit, { code: 0, signal: null }, 'exit code 0')
      t.ok(took <= EXIT_LIMIT_MS, `within ${EXIT_LIMIT_MS} ms of the signal (${took} ms)`)
      t.notMatch(server.output(), /Server listening/, 'it never listened')
      t.notMatch(server.output(), /"level":[56]0/, 'no error or fatal line')

      // Children notice their parent's exit within moments; allow them a little.
      const deadline = Date.now() + 1_000
      while ((processesWith(dir).length || processesWith(marker).length) && Date.now() < deadline) await sleep(50)
      t.same([...processesWith(dir), ...processesWith(marker)], [], 'no process (postgres, initdb, bcrypt worker) is left running')

      // What the folder is left in depends on the moment, not on the signal: one start after
      // each moment is enough (a full embedded start is the costliest step here).
      if (!stop.checksNextStart) return
      const next = await startServer(t, env)
      const ready = await fetch(`${next.url}/ready`)
      t.equal(ready.status, 200, 'the next start on the same folder serves, /ready 200')
      t.equal(await next.stop(), 0, 'and stops with exit code 0')
    })
  }
}
