import type pg from 'pg'
import { setTimeout as sleep } from 'node:timers/promises'
import { connectClient } from './client.js'
import { createEventReader, eventKnown, latestEventId, type ChangeEvent } from './queries/stream.js'

/** What the feed says about its connection (a pino logger will do). */
export interface ChangeFeedLog {
  info: (message: string) => void
  warn: (details: object | string, message?: string) => void
}

export interface ChangeFeedOptions {
  url: string
  /** The URL is a transaction-mode pooler's: no statement may keep a name. */
  unnamedStatements?: boolean
  log: ChangeFeedLog
  /** How long the feed waits between reads: asked again after each. */
  intervalMs: () => number
  /** New events, in order. */
  publish: (events: ChangeEvent[]) => void
  /** Events were lost to this process (its connection was down past the replay window). */
  reset: () => void
  /** The connection was lost: until it is back and read to the end, nothing newer is heard. */
  lost?: () => void
}

const BATCH = 500
/** Reads (a millisecond apart) that a pass waits for a committing transaction's numbers. */
const SETTLE_TRIES = 20
/** How far behind the newest number a fresh reader starts (numbers are taken at commit: only a few can be out of order, for a moment). */
const SETTLE_MARGIN = 1000
/** The feed's connection, as pg_stat_activity shows it. */
export const CHANGE_FEED_APPLICATION = 'postline change feed'

/**
 * This process's reader of the change feed, on a connection of its own: it reads what is new
 * every `intervalMs` and hands it on in order. When the connection drops it connects again and
 * carries on from the last event it read; if that event has left the replay window meanwhile,
 * it starts again from the newest and says so (`reset`).
 */
export async function startChangeFeed ({ url, unnamedStatements, log, intervalMs, publish, reset, lost }: ChangeFeedOptions) {
  let client: pg.Client | undefined
  let reader: ReturnType<typeof createEventReader> | undefined
  let timer: NodeJS.Timeout | undefined
  let stopped = false
  let down = false
  /** When the last read that reached the newest event began, on the monotonic clock (performance.now()); 0 while the connection is down. */
  let caughtUpAt = 0

  function goneDown (err: Error) {
    caughtUpAt = 0
    if (down) return
    down = true
    log.warn({ err: { message: err.message } }, 'change feed: connection lost, connecting again')
    lost?.()
  }

  /**
   * A reader at the newest event below which every number is settled: it starts a little
   * behind the newest number and reads (dropping) up to where no transaction still
   * committing may fill a gap, so no event of one is passed over.
   */
  async function settledReader (client: pg.Client) {
    const settled = createEventReader(Math.max(0, await latestEventId(client) - SETTLE_MARGIN))
    while ((await settled.read(client, BATCH)).length === BATCH);
    return settled
  }

  async function connect (): Promise<pg.Client> {
    const began = performance.now()
    // A database that stops answering fails a read within the timeout: the feed counts as lost.
    const fresh = await connectClient(url, { connectionTimeoutMillis: 2000, query_timeout: 2000, application_name: CHANGE_FEED_APPLICATION, unnamedStatements })
    const first = !reader
    // Heard at once, not at the next read: a connection ended under the feed stops what it vouches for.
    const ended = (err?: Error) => { if (client === fresh && !stopped) goneDown(err ?? new Error('the connection ended')) }
    fresh.on('error', ended)
    fresh.on('end', () => ended())
    if (!reader) {
      reader = await settledReader(fresh)
    } else if (reader.horizon > 0 && !await eventKnown(fresh, reader.horizon)) {
      reader = await settledReader(fresh)
      log.warn('change feed: events were missed while its connection was down; subscribers are told to reload')
      reset()
    }
    if (down) log.info('change feed: connected again')
    down = false
    // A first reader starts at the newest event; one that carries on is caught up by its next read.
    if (first) caughtUpAt = began
    return fresh
  }

  /** One read to the newest event; false when the connection failed or it could not get there. */
  async function pass (): Promise<boolean> {
    try {
      client ??= await connect()
      const began = performance.now()
      // Events held behind a transaction still committing wait for it, briefly: a read that
      // vouches for what was committed before it began must not stop short of them.
      for (let settling = 0; ;) {
        const events = await reader!.read(client, BATCH)
        if (events.length > 0) publish(events)
        if (stopped) break
        if (events.length === BATCH) continue
        if (!reader!.held || ++settling > SETTLE_TRIES) break
        await sleep(1)
      }
      // Still held behind a transaction in its commit: what came after it was not read, so this
      // read does not vouch for what was committed before it began.
      const settled = !reader!.held
      if (!down && settled) caughtUpAt = began
      return !down && settled
    } catch (err) {
      const failed = client
      client = undefined
      goneDown(err as Error)
      failed?.end().catch(() => {})
      return false
    }
  }

  /** The read under way, and the one asked for while it runs: one at a time, in order. */
  let running: Promise<boolean> | undefined
  let next: Promise<boolean> | undefined
  function startPass (): Promise<boolean> {
    const started = pass()
    running = started
    next = undefined
    started.finally(() => { if (running === started) running = undefined })
    return started
  }
  function sync (): Promise<boolean> {
    if (stopped) return Promise.resolve(false)
    if (next) return next
    // The read under way may have begun before the change the caller must see: the next one has not.
    if (running) return (next = running.then(startPass))
    return startPass()
  }

  function tick () {
    timer = undefined
    sync().finally(() => { if (!stopped && timer === undefined) timer = setTimeout(tick, intervalMs()) })
  }

  // The first connection is made at once, so a subscriber knows where the live events start.
  client = await connect()
  timer = setTimeout(tick, intervalMs())
  return {
    /** The last event this process has read (0 before the first read). */
    get horizon () { return reader?.horizon ?? 0 },
    /**
     * When the last read that reached the newest event began, on the monotonic clock
     * (performance.now()): every change committed before then has been published. 0 while the
     * connection is down.
     */
    get caughtUpAt () { return caughtUpAt },
    /**
     * Reads to the newest event in a read that begins after this call, so that every change
     * committed before it has been published once it resolves (true); false when the connection
     * failed, or events wait behind a transaction still committing. Calls that come while a
     * read runs share the next one.
     */
    sync,
    /** Reads now, and from then on at the interval it now says (a stream has come). */
    wake () {
      if (stopped) return
      clearTimeout(timer)
      tick()
    },
    async stop () {
      stopped = true
      clearTimeout(timer)
      await client?.end().catch(() => {})
    }
  }
}

export type ChangeFeed = Awaited<ReturnType<typeof startChangeFeed>>
