import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { promisify } from 'node:util'
import type { Teardowns } from './streaming-replica.js'
import { freePort, until } from './server-process.js'

const run = promisify(execFile)
const IP = '/usr/sbin/ip'
const REDIS_SERVER = '/usr/bin/redis-server'

/** Why hosts of their own (network namespaces) cannot be made here, or false. */
export const networkHostsMissing = (): string | false =>
  !existsSync(IP)
    ? `${IP} is not installed (on Debian or Ubuntu: apt-get install -y iproute2)`
    : process.getuid?.() !== 0
      ? 'network namespaces need root'
      : false

export interface NetworkHost {
  /** The host's own address, where what it serves is reached. */
  address: string
  /** This machine's address on the host's link: where the host reaches what runs here. */
  gateway: string
  /** Runs a command on the host: `ip netns exec <name>`. */
  within: string[]
}

/**
 * A host of its own on this machine: a network namespace joined to this one by a veth pair,
 * with a /30 of 10.201.0.0/16 (a random one, so that parallel runs do not meet). What listens
 * on all of this machine's addresses is reachable from it at `gateway`. Removed (with its link)
 * when the teardowns run.
 */
export async function addNetworkHost (t: Teardowns): Promise<NetworkHost> {
  const id = randomBytes(3).toString('hex')
  const name = `postline-${id}`
  const subnet = 4 * Math.floor(Math.random() * 16_000)
  const [a, b] = [10, 201]
  const octets = (offset: number) => `${a}.${b}.${(subnet + offset) >> 8}.${(subnet + offset) & 255}`
  const [gateway, address] = [octets(1), octets(2)]
  const [outside, inside] = [`plo${id}`, `pli${id}`]
  await run(IP, ['netns', 'add', name])
  t.teardown(async () => { await run(IP, ['netns', 'del', name]).catch(() => {}) })
  await run(IP, ['link', 'add', outside, 'type', 'veth', 'peer', 'name', inside])
  t.teardown(async () => { await run(IP, ['link', 'del', outside]).catch(() => {}) })
  await run(IP, ['link', 'set', inside, 'netns', name])
  await run(IP, ['addr', 'add', `${gateway}/30`, 'dev', outside])
  await run(IP, ['link', 'set', outside, 'up'])
  const within = [IP, 'netns', 'exec', name]
  for (const args of [['addr', 'add', `${address}/30`, 'dev', inside], ['link', 'set', inside, 'up'], ['link', 'set', 'lo', 'up']]) {
    await run(within[0]!, [...within.slice(1), IP, ...args])
  }
  return { address, gateway, within }
}

/** Why a Redis of this test's own cannot run here, or false. */
export const redisServerMissing = (): string | false =>
  existsSync(REDIS_SERVER) ? false : `${REDIS_SERVER} is not installed (on Debian or Ubuntu: apt-get install -y redis-server)`

/** A Redis of its own, on every address of this machine, keeping nothing on disk: its port and process. Stopped when the teardowns run. */
export async function startRedis (t: Teardowns): Promise<{ port: number, child: ChildProcess }> {
  const port = await freePort()
  const child = spawn(REDIS_SERVER, ['--port', String(port), '--bind', '0.0.0.0', '--protected-mode', 'no', '--save', '', '--appendonly', 'no'], { stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  child.stdout.on('data', chunk => { output += chunk })
  child.stderr.on('data', chunk => { output += chunk })
  t.teardown(async () => { child.kill('SIGKILL') })
  await until(() => {
    if (/Ready to accept connections/.test(output)) return true
    if (child.exitCode !== null) throw new Error(`redis-server exited:\n${output}`)
  }, 10_000, () => `redis-server to start:\n${output}`)
  return { port, child }
}
