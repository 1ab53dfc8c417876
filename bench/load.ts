import autocannon from 'autocannon'
import { setTimeout as sleep } from 'node:timers/promises'
import type { BenchData, BenchRequest, Scenario } from './scenarios.js'

/** One run's rate (2xx answers a second), latencies in ms, and its failures. */
export interface Measure { rps: number, p50: number, p99: number, non2xx: number, errors: number }

/** Rounds of one server on one scenario: mean rate and latencies, all failures. */
export function mean (measures: Measure[]): Measure {
  const average = (pick: (m: Measure) => number) => measures.reduce((sum, m) => sum + pick(m), 0) / measures.length
  const total = (pick: (m: Measure) => number) => measures.reduce((sum, m) => sum + pick(m), 0)
  return { rps: average(m => m.rps), p50: average(m => m.p50), p99: average(m => m.p99), non2xx: total(m => m.non2xx), errors: total(m => m.errors) }
}

/** Loads `url` with autocannon for `seconds`; the first non-2xx answers are logged. */
export async function load (url: string, request: BenchRequest, seconds: number, connections: number, log: (message: string) => void): Promise<Measure> {
  const failures: string[] = []
  // The request's own onResponse still sees every answer.
  const checked = (one: autocannon.Request): autocannon.Request => ({
    ...one,
    onResponse (status, body, context, headers) {
      if ((status < 200 || status > 299) && failures.length < 3) failures.push(`${status} ${one.path ?? ''} ${body.slice(0, 200)}`)
      if (typeof one.onResponse === 'function') one.onResponse(status, body, context, headers)
    }
  })
  let opened = 0
  const result = await autocannon({
    url,
    connections,
    duration: seconds,
    ...('perConnection' in request
      // Each connection's own request, set before its first one is sent (the placeholder is never sent).
      ? { requests: [{ method: 'GET', path: '/' }], setupClient: client => client.setRequests([checked(request.perConnection(opened++))]) }
      : { requests: [checked(request)] })
  })
  for (const failure of failures) log(`non-2xx answer from ${url}: ${failure}`)
  return { rps: result['2xx'] / result.duration, p50: result.latency.p50, p99: result.latency.p99, non2xx: result.non2xx, errors: result.errors }
}

export interface RunTiming {
  warmup: number
  seconds: number
  connections: number
  log: (message: string) => void
  /** Called right before and right after the measured run (not the warm-up): to read CPU counters, say. */
  around?: { before: () => void, after: () => void }
}

/**
 * One measured run of `scenario` on `url`: a warm-up, then the run, each with a fresh request
 * (made after the last one's requests have landed), then the scenario's clean-up.
 */
export async function measureScenario (url: string, scenario: Scenario, data: BenchData, { warmup, seconds, connections, log, around }: RunTiming): Promise<Measure> {
  const target = { url, connections }
  await load(url, await scenario.request(data, target), warmup, connections, log)
  await sleep(500)
  const request = await scenario.request(data, target)
  around?.before()
  const measure = await load(url, request, seconds, connections, log)
  around?.after()
  await sleep(500)
  await scenario.cleanup?.(data)
  return measure
}
