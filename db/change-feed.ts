import type pg from 'pg'
import { connectClient } from './client.js'
import { createEventReader, eventKnown, latestEventId, type ChangeEvent } from './queries/stream.js'

/** What the feed says about its connection (a pino logger will do). */
export interface ChangeFeedLog {
  info: (message: string) => void
  warn: (details: object | string, message?: string) => void
}

export interface ChangeFeedOptions {
  url: string
  log: ChangeFeedLog
  /** How often the feed is read. */
  intervalMs: number
  /** New events, in order. */
  publish: (events: ChangeEvent[]) => void
  /** Events were lost to this process (its connection was down past the replay window). */
  reset: () => void
}

const BATCH = 500
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
export async function startChangeFeed ({ url, log, intervalMs, publish, reset }: ChangeFeedOptions) {
  let client: pg.Client | undefined
  let reader: ReturnType<typeof createEventReader> | undefined
  let timer: NodeJS.Timeout | undefined
  let stopped = false
  let down = false

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
    const fresh = await connectClient(url, { connectionTimeoutMillis: 2000, application_name: CHANGE_FEED_APPLICATION })
    if (!reader) {
      reader = await settledReader(fresh)
    } else if (reader.horizon > 0 && !await eventKnown(fresh, reader.horizon)) {
      reader = await settledReader(fresh)
      log.warn('change feed: events were missed while its connection was down; subscribers are told to reload')
      reset()
    }
    if (down) log.info('change feed: connected again')
    down = false
    return fresh
  }

  async function tick () {
    try {
      client ??= await connect()
      for (;;) {
        const events = await reader!.read(client, BATCH)
        if (events.length > 0) publish(events)
        if (events.length < BATCH || stopped) break
      }
    } catch (err) {
      if (!down) log.warn({ err: { message: (err as Error).message } }, 'change feed: connection lost, connecting again')
      down = true
      client?.end().catch(() => {})
      client = undefined
    }
    if (!stopped) timer = setTimeout(tick, intervalMs)
  }

  // The first connection is made at once, so a subscriber knows where the live events start.
  client = await connect()
  timer = setTimeout(tick, intervalMs)
  return {
    /** The last event this process has read (0 before the first read). */
    get horizon () { return reader?.horizon ?? 0 },
    async stop () {
      stopped = true
      clearTimeout(timer)
      await client?.end().catch(() => {})
    }
  }
}
