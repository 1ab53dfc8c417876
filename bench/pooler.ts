import { pgBouncerMissing, startPgBouncer } from '../test/helpers/pgbouncer.js'
import { readEach, readPosts } from './cache.js'
import { mean, measureScenario, type Measure } from './load.js'
import type { Check } from './report.js'
import { SCENARIOS } from './scenarios.js'
import { startServer, type BenchServer } from './servers.js'
import type { OwnRunOptions } from './stream.js'

// The `pooler` scenario: one Postline straight to PostgreSQL with named statements (the
// default), one through Debian's PgBouncer in transaction mode with every statement unnamed
// (DATABASE_PREPARED_STATEMENTS=false, DATABASE_DIRECT_URL for the rest), on the same
// database; every scenario with a ratio target, in rounds alternating which goes first.

const DIRECT_PORT = 18_086
const POOLED_PORT = 18_087
const TARGET = 0.8

export async function runPoolerBench ({ data, env, seconds, warmup, rounds, connections, log }: OwnRunOptions) {
  const missing = pgBouncerMissing()
  if (missing) throw new Error(`pooler: ${missing}`)
  const direct = env.DATABASE_URL!
  // As many server connections as a Postline pool has clients: the pooler adds its hop and the
  // unnamed statements' parsing, not a shortage of connections.
  const pgBouncer = await startPgBouncer(direct, Number(env.DATABASE_POOL_SIZE ?? 10))
  const servers: BenchServer[] = []
  try {
    servers.push(await startServer('postline', DIRECT_PORT, env))
    servers.push(await startServer('postline', POOLED_PORT, { ...env, DATABASE_URL: pgBouncer.url, DATABASE_DIRECT_URL: direct, DATABASE_PREPARED_STATEMENTS: 'false' }))
    const [directServer, pooledServer] = servers as [BenchServer, BenchServer]
    const checks: Check[] = []
    const figures: Record<string, { direct: Measure, pooled: Measure }> = {}
    for (const scenario of SCENARIOS.filter(s => s.ratioTarget)) {
      // Both measured warm, as the cache's run measures it: every post read once first (else the
      // slower server spends its run filling its cache).
      if (scenario.name === 'post-by-id') for (const server of servers) await readEach(data, server, await readPosts(data, scenario.name))
      const measured = new Map<BenchServer, Measure[]>([[directServer, []], [pooledServer, []]])
      for (let round = 0; round < rounds; round++) {
        for (const server of round % 2 === 0 ? [directServer, pooledServer] : [pooledServer, directServer]) {
          const measure = await measureScenario(server.url, scenario, data, { warmup, seconds, connections, log })
          measured.get(server)!.push(measure)
          log(`${scenario.name} ${server === directServer ? 'direct' : 'through PgBouncer'}, round ${round + 1}: ${measure.rps.toFixed(0)} req/s, p99 ${measure.p99} ms`)
        }
      }
      const [straight, pooled] = [mean(measured.get(directServer)!), mean(measured.get(pooledServer)!)]
      figures[scenario.name] = { direct: straight, pooled }
      const ratio = pooled.rps / straight.rps
      const failures = pooled.non2xx + pooled.errors + straight.non2xx + straight.errors
      checks.push([`${scenario.name}: through PgBouncer ≥ ${TARGET}× direct, every answer 2xx`, ratio >= TARGET && failures === 0,
        `${ratio.toFixed(2)}× (${pooled.rps.toFixed(0)} vs ${straight.rps.toFixed(0)} req/s; p99 ${pooled.p99} vs ${straight.p99} ms)${failures ? `; ${failures} non-2xx or errors` : ''}`])
    }
    return { checks, figures }
  } finally {
    for (const server of servers) await server.stop()
    pgBouncer.stop()
  }
}
