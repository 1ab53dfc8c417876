import { fastifySSE } from '@fastify/sse'
import type { FastifyReply } from 'fastify'
import fp from 'fastify-plugin'
import type { Caller } from '../../db/queries/caller.js'
import { startChangeFeed } from '../../db/change-feed.js'
import { endedCallers, eventKnown, eventsBetween, pruneFeed, type ChangeEvent } from '../../db/queries/stream.js'
import { deliver, dropIfStalled, frame, mergeVotes, type Subscriber } from './subscribers.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** The live update streams of this process (`GET /stream`). */
    stream: {
      /** Whether another stream may open (STREAM_MAX_CONNECTIONS). */
      hasRoom: () => boolean
      /** Streams the change feed to the reply until the client leaves, its token expires or its session ends. */
      subscribe: (reply: FastifyReply, options: SubscribeOptions) => Promise<void>
    }
  }
}

export interface SubscribeOptions {
  caller: Caller
  tokenExpiresAt: number
  postIds: number[] | undefined
  /** The client's `Last-Event-ID`, as sent. */
  lastEventId: string | undefined
}

const READ_INTERVAL_MS = 50
const PING_MS = 10_000
/** How often the streams' tokens and sessions are checked (an ended one closes within this). */
const CHECK_MS = 2_000
const PRUNE_MS = 30_000
const REPLAY_WINDOW = { minutes: 5, events: 10_000 }
const EVENT_ID = /^[1-9][0-9]{0,15}$/

/**
 * Live updates: one reader of the change feed per process, started with the first stream,
 * fanned out to every open stream of the process, with replay from the feed's table.
 */
export default fp(async function stream (fastify) {
  const { config, log } = fastify
  // The SSE side of `GET /stream`: Accept negotiation, headers, framing and close handling.
  // Its own heartbeat is off: ours is `: ping`, and waits while a socket drains.
  await fastify.register(fastifySSE, { heartbeatInterval: 0, serializer: (data: string) => data })
  const subscribers = new Set<Subscriber>()
  let feed: Awaited<ReturnType<typeof startChangeFeed>> | undefined
  let starting: Promise<NonNullable<typeof feed>> | undefined
  const timers: NodeJS.Timeout[] = []

  const publish = (events: ChangeEvent[]) => {
    const merged = mergeVotes(events)
    const framed = frame(merged)
    for (const subscriber of subscribers) {
      if (subscriber.pending) subscriber.pending.push(...merged)
      else deliver(subscriber, merged, framed)
    }
  }
  const resetAll = () => {
    for (const subscriber of subscribers) subscriber.reply.sse.send({ event: 'reset', data: '{}' }).catch(() => {})
  }

  async function checkCallers () {
    const now = Date.now() / 1000
    const open = [...subscribers]
    for (const subscriber of open) {
      if (subscriber.tokenExpiresAt <= now) subscriber.reply.sse.close()
      else dropIfStalled(subscriber)
    }
    try {
      const live = open.filter(subscriber => subscriber.tokenExpiresAt > now)
      for (const i of await endedCallers(fastify.pg, live.map(subscriber => subscriber.caller))) live[i]!.reply.sse.close()
    } catch (err) {
      log.warn({ err: { message: (err as Error).message } }, 'stream: the sessions could not be checked')
    }
  }

  function startFeed () {
    starting ??= startChangeFeed({
      url: fastify.pg.pool.options.connectionString!,
      log,
      intervalMs: READ_INTERVAL_MS,
      publish,
      reset: resetAll
    }).then(started => {
      feed = started
      const every = (ms: number, work: () => unknown) => { const timer = setInterval(work, ms); timer.unref(); timers.push(timer) }
      every(PING_MS, () => { for (const subscriber of subscribers) if (!subscriber.reply.raw.writableNeedDrain) subscriber.reply.raw.write(': ping\n\n') })
      every(CHECK_MS, checkCallers)
      every(PRUNE_MS, () => pruneFeed(fastify.pg, REPLAY_WINDOW).catch(err => log.warn({ err: { message: err.message } }, 'stream: the feed could not be pruned')))
      return started
    }, err => {
      starting = undefined
      throw err
    })
    return starting
  }

  async function subscribe (reply: FastifyReply, { caller, tokenExpiresAt, postIds, lastEventId }: SubscribeOptions) {
    const started = await startFeed()
    const subscriber: Subscriber = {
      reply,
      caller,
      tokenExpiresAt,
      postIds: postIds ? new Set(postIds) : null,
      after: started.horizon,
      pending: [],
      written: 0,
      progressAt: Date.now()
    }
    subscribers.add(subscriber)
    reply.sse.onClose(() => subscribers.delete(subscriber))
    reply.sse.keepAlive()
    // A stream outlives any idle timeout of the server's (light-my-request's socket has none).
    const socket = reply.raw.socket
    if (typeof socket?.setTimeout === 'function') socket.setTimeout(0)
    reply.sse.sendHeaders()
    reply.raw.write(': ping\n\n')
    try {
      if (lastEventId !== undefined) {
        const id = EVENT_ID.test(lastEventId) ? Number(lastEventId) : 0
        if (id > 0 && await eventKnown(fastify.pg, id)) {
          subscriber.after = id
          deliver(subscriber, await eventsBetween(fastify.pg, id, started.horizon))
        } else {
          await reply.sse.send({ event: 'reset', data: '{}' })
        }
      }
    } finally {
      const pending = subscriber.pending!
      subscriber.pending = null
      deliver(subscriber, pending)
    }
  }

  fastify.decorate('stream', {
    hasRoom: () => subscribers.size < config.STREAM_MAX_CONNECTIONS,
    subscribe
  })

  // Streams end as the server starts to drain, so they never hold its close up.
  fastify.addHook('preClose', async function endStreams () {
    for (const subscriber of subscribers) subscriber.reply.sse.close()
    subscribers.clear()
  })
  fastify.addHook('onClose', async function stopFeed () {
    for (const timer of timers) clearInterval(timer)
    await feed?.stop()
  })
}, { name: 'stream', dependencies: ['config', 'db'] })
