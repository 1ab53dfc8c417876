import { spawn, type ChildProcess } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'

const ROOT = join(import.meta.dirname, '..')

export interface BenchServer {
  name: string
  url: string
  child: ChildProcess
  /** Resident memory of the server process (the primary's, for a cluster), in MB. */
  rssMb: () => number
  /** CPU seconds used so far by the server's whole process group (primary and workers). */
  cpuSeconds: () => number
  stop: () => Promise<void>
}

const TICKS_PER_SECOND = 100

/** One process's ids and CPU seconds, from /proc (Linux): its own, and its children's that it has reaped. */
export interface ProcessCpu { pid: number, ppid: number, group: number, seconds: number, reapedSeconds: number }

/** Every running process's ids and CPU seconds (those gone meanwhile are skipped). */
export function processesCpu (): ProcessCpu[] {
  const found: ProcessCpu[] = []
  for (const pid of readdirSync('/proc').filter(name => /^\d+$/.test(name))) {
    try {
      // Fields after the command's closing parenthesis: ppid is the 2nd, pgrp the 3rd, utime, stime, cutime and cstime the 12th to 15th.
      const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ').map(Number)
      found.push({ pid: Number(pid), ppid: fields[1]!, group: fields[2]!, seconds: (fields[11]! + fields[12]!) / TICKS_PER_SECOND, reapedSeconds: (fields[13]! + fields[14]!) / TICKS_PER_SECOND })
    } catch {}
  }
  return found
}

/** CPU seconds of every process in the group. */
const groupCpuSeconds = (group: number): number =>
  processesCpu().filter(process => process.group === group).reduce((sum, process) => sum + process.seconds, 0)

/** Busy and total CPU seconds of the whole machine so far, from /proc/stat. */
export function machineCpuSeconds (): { busy: number, total: number } {
  const [, ...values] = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/)
  const [user, nice, system, idle, iowait, irq, softirq, steal] = values.map(Number) as number[]
  const busy = user! + nice! + system! + irq! + softirq! + steal!
  return { busy: busy / TICKS_PER_SECOND, total: (busy + idle! + iowait!) / TICKS_PER_SECOND }
}

/** Postline as production runs it, compiled (`npm run bench` builds first); the baseline from its source. */
const COMMANDS = {
  postline: [join(ROOT, 'dist', 'server.js')],
  baseline: ['--import', 'tsx', join(ROOT, 'bench', 'baseline.ts')]
}

/**
 * Starts Postline or the bare baseline as its own process group on a loopback port and
 * waits until `GET /` answers. Logs go where a production server's would (not a terminal):
 * here to /dev/null, after being formatted; stderr is passed through for crashes.
 */
export async function startServer (kind: keyof typeof COMMANDS, port: number, env: Record<string, string>): Promise<BenchServer> {
  const url = `http://127.0.0.1:${port}`
  if (await fetch(url).then(() => true, () => false)) throw new Error(`port ${port} is taken: is an earlier bench's server still running?`)
  // BENCH_CPU_PROF=<dir> writes a V8 CPU profile of each server into <dir> when it stops.
  const profile = process.env.BENCH_CPU_PROF ? ['--cpu-prof', '--cpu-prof-dir', process.env.BENCH_CPU_PROF] : []
  const child = spawn(process.execPath, [...profile, ...COMMANDS[kind]], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', HOST: '127.0.0.1', PORT: String(port), ...env },
    stdio: ['ignore', 'ignore', 'inherit'],
    detached: true
  })
  const exited = new Promise<void>(resolve => child.once('exit', () => resolve()))
  for (let attempt = 0; ; attempt++) {
    if (child.exitCode !== null) throw new Error(`${kind} exited with code ${child.exitCode} while starting`)
    try {
      if ((await fetch(`${url}/`)).ok) break
    } catch {}
    if (attempt > 300) throw new Error(`${kind} did not answer on ${url} within 30 s`)
    await sleep(100)
  }
  await sleep(200)
  if (child.exitCode !== null) throw new Error(`${kind} exited with code ${child.exitCode} after starting`)
  return {
    name: kind,
    url,
    child,
    cpuSeconds: () => groupCpuSeconds(child.pid!),
    rssMb: () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1] ?? 0) / 1024,
    async stop () {
      if (child.exitCode !== null || child.signalCode !== null) return
      process.kill(-child.pid!, 'SIGTERM')
      await Promise.race([exited, sleep(10_000).then(() => process.kill(-child.pid!, 'SIGKILL'))])
    }
  }
}
