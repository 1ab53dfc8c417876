import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import pg from 'pg'
import { serverProgram, startStreamingPair, streamingReplicaMissing, type Cluster } from '../test/helpers/streaming-replica.js'
import { mean, measureScenario, type Measure } from './load.js'
import type { Check } from './report.js'
import { SCENARIOS } from './scenarios.js'
import { processesCpu, startServer, type BenchServer } from './servers.js'
import type { OwnRunOptions } from './stream.js'

// The `replica` scenario: the bench's data copied to a primary of its own with a streaming
// replica; one Postline on the primary alone, one with DATABASE_READ_URLS naming the replica;
// every read scenario on each, in rounds alternating which goes first, with the CPU each
// cluster spent during the measured runs: how the reads' load splits between the two.

const PRIMARY_ONLY_PORT = 18_088
const WITH_REPLICA_PORT = 18_089
const READS = ['feed', 'feed-search', 'feed-hot', 'feed-top', 'user-posts', 'post-by-id']
/** With the replica, the primary's CPU per read at most this share of what it was alone. */
const PRIMARY_SHARE_TARGET = 0.2
const run = promisify(execFile)

/** CPU seconds of a cluster's postmaster and its processes (running ones and those it reaped). */
function clusterCpuSeconds (cluster: Cluster): number {
  const postmaster = Number(readFileSync(join(cluster.dataDir, 'postmaster.pid'), 'utf8').split('\n')[0])
  return processesCpu().reduce((sum, process) =>
    process.pid === postmaster ? sum + process.seconds + process.reapedSeconds : process.ppid === postmaster ? sum + process.seconds : sum, 0)
}

interface Split { measure: Measure, primaryCpu: number, replicaCpu: number }

/** CPU milliseconds per read. */
const perRead = (cpuSeconds: number, measure: Measure, seconds: number) => cpuSeconds * 1000 / Math.max(1, measure.rps * seconds)

export async function runReplicaBench ({ data, env, seconds, warmup, rounds, connections, log }: OwnRunOptions) {
  const missing = streamingReplicaMissing()
  if (missing) throw new Error(`replica: ${missing}`)
  const cleanups: Array<() => Promise<void>> = []
  const servers: BenchServer[] = []
  try {
    const { primary, replica } = await startStreamingPair({ teardown: clean => cleanups.push(clean) })
    log('replica: copying the bench database (its sessions included) to a primary of its own')
    await run('sh', ['-c', `"${serverProgram('pg_dump')}" -Fc --no-owner "$1" | "${serverProgram('pg_restore')}" --no-owner -d "$2"`, 'copy', env.DATABASE_URL!, primary.url], { maxBuffer: 1 << 26 })
    const onPrimary = new pg.Client({ connectionString: primary.url })
    await onPrimary.connect()
    await onPrimary.query('analyze')
    const { rows: [lsn] } = await onPrimary.query<{ at: string }>('select pg_current_wal_lsn()::text as at')
    await onPrimary.end()
    const onReplica = new pg.Client({ connectionString: replica.url })
    await onReplica.connect()
    while (!(await onReplica.query<{ caught: boolean }>('select pg_last_wal_replay_lsn() >= $1::pg_lsn as caught', [lsn!.at])).rows[0]!.caught) await new Promise(resolve => setTimeout(resolve, 200))
    await onReplica.end()

    servers.push(await startServer('postline', PRIMARY_ONLY_PORT, { ...env, DATABASE_URL: primary.url }))
    servers.push(await startServer('postline', WITH_REPLICA_PORT, { ...env, DATABASE_URL: primary.url, DATABASE_READ_URLS: replica.url }))
    const [alone, withReplica] = servers as [BenchServer, BenchServer]
    const checks: Check[] = []
    const figures: Record<string, unknown> = {}
    for (const scenario of SCENARIOS.filter(s => READS.includes(s.name))) {
      const runs = new Map<BenchServer, Split[]>([[alone, []], [withReplica, []]])
      for (let round = 0; round < rounds; round++) {
        for (const server of round % 2 === 0 ? [alone, withReplica] : [withReplica, alone]) {
          let start = { primary: 0, replica: 0 }
          let end = { primary: 0, replica: 0 }
          const read = () => ({ primary: clusterCpuSeconds(primary), replica: clusterCpuSeconds(replica) })
          const measure = await measureScenario(server.url, scenario, data, { warmup, seconds, connections, log, around: { before: () => { start = read() }, after: () => { end = read() } } })
          runs.get(server)!.push({ measure, primaryCpu: end.primary - start.primary, replicaCpu: end.replica - start.replica })
          log(`${scenario.name} ${server === alone ? 'primary alone' : 'with the replica'}, round ${round + 1}: ${measure.rps.toFixed(0)} req/s; CPU s primary ${(end.primary - start.primary).toFixed(1)}, replica ${(end.replica - start.replica).toFixed(1)}`)
        }
      }
      const summary = (splits: Split[]) => {
        const measure = mean(splits.map(split => split.measure))
        const primaryCpu = splits.reduce((sum, split) => sum + split.primaryCpu, 0) / splits.length
        const replicaCpu = splits.reduce((sum, split) => sum + split.replicaCpu, 0) / splits.length
        return { measure, primaryCpu, replicaCpu, primaryMsPerRead: perRead(primaryCpu, measure, seconds), replicaMsPerRead: perRead(replicaCpu, measure, seconds) }
      }
      const [before, after] = [summary(runs.get(alone)!), summary(runs.get(withReplica)!)]
      figures[scenario.name] = { alone: before, withReplica: after }
      const share = after.primaryMsPerRead / before.primaryMsPerRead
      const failures = before.measure.non2xx + before.measure.errors + after.measure.non2xx + after.measure.errors
      const replicaShare = after.replicaCpu / Math.max(1e-9, after.primaryCpu + after.replicaCpu)
      checks.push([`${scenario.name}: with the replica, the primary's CPU per read ≤ ${PRIMARY_SHARE_TARGET}× alone, every answer 2xx`, share <= PRIMARY_SHARE_TARGET && failures === 0,
        `${share.toFixed(2)}× (primary ${after.primaryMsPerRead.toFixed(3)} vs ${before.primaryMsPerRead.toFixed(3)} CPU ms per read; the replica did ${(100 * replicaShare).toFixed(0)}% of the databases' CPU); ${after.measure.rps.toFixed(0)} vs ${before.measure.rps.toFixed(0)} req/s${failures ? `; ${failures} non-2xx or errors` : ''}`])
    }
    return { checks, figures }
  } finally {
    for (const server of servers) await server.stop()
    for (const clean of cleanups.reverse()) await clean()
  }
}
