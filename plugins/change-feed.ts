import fp from 'fastify-plugin'
import { startChangeFeed, type ChangeFeed } from '../db/change-feed.js'
import { pruneFeed, type ChangeEvent } from '../db/queries/stream.js'

/** What a part of the process does with the change feed. */
export interface ChangeListener {
  /** New events, in order. */
  events: (events: ChangeEvent[]) => void
  /** Events were missed (the connection was down past the replay window). */
  reset?: () => void
  /** The connection was lost: nothing newer is heard until it is back and read to the end. */
  lost?: () => void
  /** Whether it wants events as they come (open streams), not only when it asks (`sync`). */
  live?: () => boolean
}

declare module 'fastify' {
  interface FastifyInstance {
    /** This process's one reader of the change feed (`stream_events`), shared by the stream and the read cache. */
    changeFeed: {
      /** Starts the reader, once; resolves when it is connected (and rejects, to be asked again, when it cannot connect). */
      start: () => Promise<ChangeFeed>
      /** Hears every batch the reader reads, from its start. */
      listen: (listener: ChangeListener) => void
    }
  }
}

/** How often the feed is read while a listener wants events live, and otherwise. */
const LIVE_INTERVAL_MS = 50
const IDLE_INTERVAL_MS = 1000
const PRUNE_MS = 30_000
/** What the feed's table keeps for a client's replay (`Last-Event-ID`). */
const REPLAY_WINDOW = { minutes: 5, events: 10_000 }

export default fp(async function changeFeed (fastify) {
  const { log } = fastify
  const listeners: ChangeListener[] = []
  let feed: ChangeFeed | undefined
  let starting: Promise<ChangeFeed> | undefined
  let pruning: NodeJS.Timeout | undefined
  let closing = false

  function start () {
    starting ??= startChangeFeed({
      url: fastify.directDatabaseUrl,
      // No DATABASE_DIRECT_URL beside a pooler: the feed reads through the pooler too.
      unnamedStatements: !fastify.config.DATABASE_PREPARED_STATEMENTS && !fastify.config.DATABASE_DIRECT_URL,
      log,
      intervalMs: () => listeners.some(listener => listener.live?.()) ? LIVE_INTERVAL_MS : IDLE_INTERVAL_MS,
      publish: events => { for (const listener of listeners) listener.events(events) },
      reset: () => { for (const listener of listeners) listener.reset?.() },
      lost: () => { for (const listener of listeners) listener.lost?.() }
    }).then(async started => {
      // Closed while it connected: it stops at once.
      if (closing) {
        await started.stop()
        return started
      }
      feed = started
      pruning = setInterval(() => {
        pruneFeed(fastify.pg, REPLAY_WINDOW).catch(err => log.warn({ err: { message: err.message } }, 'change feed: its table could not be pruned'))
      }, PRUNE_MS)
      pruning.unref()
      return started
    }, err => {
      starting = undefined
      throw err
    })
    return starting
  }

  fastify.decorate('changeFeed', {
    start,
    listen: (listener: ChangeListener) => { listeners.push(listener) }
  })

  fastify.addHook('onClose', async function stopFeed () {
    closing = true
    clearInterval(pruning)
    await feed?.stop()
  })
}, { name: 'change-feed', dependencies: ['config', 'db'] })
