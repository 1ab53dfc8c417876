import { spawn, type ChildProcess } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { createServer, type AddressInfo } from 'node:net'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Test } from 'tap'
import { projectRoot } from '../../lib/project-root.js'

const ROOT = projectRoot()

export interface Exit {
  code: number | null
  signal: NodeJS.Signals | null
}

export interface SpawnedServer {
  child: ChildProcess
  /** Everything the process has written to stdout and stderr so far. */
  output: () => string
  /** Settles once the process has exited and its stdout and stderr are drained. */
  exited: Promise<Exit>
}

export interface ServerProcess extends SpawnedServer {
  url: string
  /** Sends SIGTERM and resolves with the exit code. */
  stop: () => Promise<number | null>
}

export interface SpawnOptions {
  /**
   * Lead a process group of its own, as a terminal's foreground job does, so that
   * `process.kill(-child.pid, 'SIGINT')` is what Ctrl-C sends.
   */
  group?: boolean
  /** The script to run instead of `server.ts` (relative to the project); a `.js` one runs without tsx. */
  script?: string
  args?: string[]
  /** A command that runs the server inside it, such as `ip netns exec <name>` (it must exec the server, keeping its pid). */
  within?: string[]
}

/** Set by test/run.ts once it has built dist/: server processes then run compiled, as `npm start` runs them. */
export const COMPILED_VARIABLE = 'POSTLINE_TEST_COMPILED'

/** `server.ts` → `dist/server.js` (and so on) when the run has built dist/; the script itself otherwise. */
const compiled = (script: string) =>
  process.env[COMPILED_VARIABLE] && script.endsWith('.ts') ? join('dist', script.replace(/\.ts$/, '.js')) : script

/**
 * Runs `server.ts` as `npm start` does (compiled, under test/run.ts), with a minimal environment: PATH and HOME, then
 * HOST=127.0.0.1, PORT=0, LOG_LEVEL=info, BCRYPT_ROUNDS=4, BCRYPT_WORKERS=1 and rate limits off, each overridable by `env`.
 * Does not wait for anything; the process is killed with SIGKILL when `t` ends if it still runs.
 */
export function spawnServer (t: Test, env: Record<string, string>, options: SpawnOptions = {}): SpawnedServer {
  const inherited: Record<string, string> = {}
  for (const name of ['PATH', 'HOME']) {
    const value = process.env[name]
    if (value !== undefined) inherited[name] = value
  }
  const script = compiled(options.script ?? 'server.ts')
  const loader = script.endsWith('.ts') ? ['--import', 'tsx'] : []
  const [command, ...args] = [...options.within ?? [], process.execPath, ...loader, join(ROOT, script), ...options.args ?? []] as [string, ...string[]]
  const child = spawn(command, args, {
    cwd: ROOT,
    env: { ...inherited, HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'info', BCRYPT_ROUNDS: '4', BCRYPT_WORKERS: '1', LOGIN_RATE_LIMIT: '0', RATE_LIMIT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: options.group === true
  })
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  })
  let output = ''
  child.stdout.on('data', chunk => { output += chunk })
  child.stderr.on('data', chunk => { output += chunk })
  const exited = new Promise<Exit>(resolve => child.once('close', (code, signal) => resolve({ code, signal })))
  return { child, output: () => output, exited }
}

/** Settles as `promise` does, or rejects once `ms` have passed first. */
export async function waitFor<T> (promise: Promise<T>, ms: number, what: string | (() => string)): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${typeof what === 'string' ? what : what()}`)), ms)
  })
  try {
    return await Promise.race([promise, timeout])
  } finally {
    clearTimeout(timer)
  }
}

/** Resolves with the address of the "Server listening at" log line; rejects if the process exits first. */
function listeningAddress (server: SpawnedServer): Promise<string> {
  return new Promise((resolve, reject) => {
    const check = () => {
      const match = /Server listening at (http:\/\/[\d.]+:\d+)/.exec(server.output())
      if (match) {
        server.child.stdout?.off('data', check)
        resolve(match[1]!)
      }
    }
    server.child.stdout?.on('data', check)
    server.exited.then(({ code, signal }) => reject(new Error(`server exited (${code ?? signal}) before listening:\n${server.output()}`)))
    check()
  })
}

/** Spawns the server (see `spawnServer`) and waits, up to 60 s, until it listens. */
export async function startServer (t: Test, env: Record<string, string>, options: SpawnOptions = {}): Promise<ServerProcess> {
  const server = spawnServer(t, env, options)
  const url = await waitFor(listeningAddress(server), 60_000, () => `the server to listen:\n${server.output()}`)
  return {
    ...server,
    url,
    stop: async () => {
      server.child.kill('SIGTERM')
      return (await server.exited).code
    }
  }
}

/** A TCP port free on 127.0.0.1 just now. */
export async function freePort (): Promise<number> {
  const server = createServer()
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  await new Promise(resolve => server.close(resolve))
  return port
}

/** Whether a process with this pid exists (a zombie counts as existing). */
export function alive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false
    throw err
  }
}

/** Polls `find` every 50 ms until it returns (or resolves with) something other than undefined; throws after `ms`. */
export async function until<T> (find: () => T | undefined | Promise<T | undefined>, ms: number, what: () => string): Promise<T> {
  const deadline = Date.now() + ms
  for (;;) {
    const found = await find()
    if (found !== undefined) return found
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what()}`)
    await sleep(50)
  }
}

/** Each process's command line and environment, NUL-separated (Linux /proc); gone or unreadable ones are skipped. */
function processTexts (): Map<number, string> {
  const texts = new Map<number, string>()
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue
    try {
      texts.set(Number(entry), `${readFileSync(`/proc/${entry}/cmdline`, 'latin1')}\0${readFileSync(`/proc/${entry}/environ`, 'latin1')}`)
    } catch {
      // gone meanwhile
    }
  }
  return texts
}

/**
 * The processes whose command line or environment contains `text`: a temporary data folder
 * finds a postmaster and initdb, a marker variable given to a server finds it and every
 * process it started (each inherits the environment). Zombies are left out.
 */
export function processesWith (text: string): number[] {
  const found: number[] = []
  for (const [pid, content] of processTexts()) {
    if (!content.includes(text)) continue
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
      if (stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) continue
    } catch {
      continue
    }
    found.push(pid)
  }
  return found
}
