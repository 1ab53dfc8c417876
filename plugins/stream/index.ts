import { fastifySSE } from '@fastify/sse'
import type { FastifyReply } from 'fastify'
import fp from 'fastify-plugin'
import type { Caller } from '../../db/queries/caller.js'
import type { ChangeFeed } from '../../db/change-feed.js'
import { endedCallers } from '../../db/queries/caller.js'
import { eventKnown, eventsBetween, type ChangeEvent } from '../../db/queries/stream.js'
import { deliver, dropIfStalled, frame, mergeVotes, resetFrame, type Subscriber } from './subscribers.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** The live update streams of this process (`GET /stream`). */
    stream: {
      /** Holds a place for a stream, if STREAM_MAX_CONNECTIONS allows; `subscribe` takes it, `release` gives it back. */
      reserve: () => boolean
      release: () => void
      /** Streams the change feed to the reply until the client leaves, its token expires or its session ends (with a place reserved). */
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

const PING_MS = 10_000
/** How often the streams' tokens and sessions are checked (an ended one closes within this). */
const CHECK_MS = 2_000
const EVENT_ID = /^[1-9][0-9]{0,15}$/
/** A replay goes out this many events at a time, each after the socket has taken the last. */
const REPLAY_CHUNK = 500

/** Resolves once the socket has taken what waits for it, or has closed. */
function drained (raw: FastifyReply['raw']): Promise<void> {
  if (!raw.writableNeedDrain || raw.destroyed) return Promise.resolve()
  return new Promise(resolve => {
    const done = () => { raw.off('drain', done); raw.off('close', done); resolve() }
    raw.once('drain', done)
    raw.once('close', done)
  })
}

/**
 * Live updates: the process's reader of the change feed (started with the first stream, if
 * the read cache has not started it) fanned out to every open stream of the process, with
 * replay from the feed's table.
 */
export default fp(async function stream (fastify) {
  const { config, log } = fastify
  // The SSE side of `GET /stream`: Accept negotiation, headers, framing and close handling.
  // Its own heartbeat is off: ours is `: ping`, and waits while a socket drains.
  await fastify.register(fastifySSE, { heartbeatInterval: 0, serializer: (data: string) => data })
  const subscribers = new Set<Subscriber>()
  /** Places reserved by requests still checking their ticket or token. */
  let reserved = 0
  let feed: ChangeFeed | undefined
  let starting: Promise<ChangeFeed> | undefined
  const timers: NodeJS.Timeout[] = []
  /** The server has begun to drain: no stream opens any more. */
  let closing = false

  const publish = (events: ChangeEvent[]) => {
    // The feed reads on once the last stream has gone: nothing to frame then.
    if (subscribers.size === 0) return
    const merged = mergeVotes(events)
    const framed = frame(merged)
    for (const subscriber of subscribers) {
      if (subscriber.pending) subscriber.pending.push(...merged)
      else deliver(subscriber, merged, framed)
    }
  }
  const resetAll = () => {
    const reset = resetFrame(feed?.horizon ?? 0)
    for (const subscriber of subscribers) if (!subscriber.pending && !subscriber.reply.raw.destroyed) subscriber.reply.raw.write(reset)
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

  fastify.changeFeed.listen({ events: publish, reset: resetAll, live: () => subscribers.size > 0 })

  function startFeed () {
    starting ??= fastify.changeFeed.start().then(started => {
      feed = started
      const every = (ms: number, work: () => unknown) => { const timer = setInterval(work, ms); timer.unref(); timers.push(timer) }
      every(PING_MS, () => { for (const subscriber of subscribers) if (!subscriber.reply.raw.writableNeedDrain) subscriber.reply.raw.write(': ping\n\n') })
      every(CHECK_MS, checkCallers)
      return started
    }, err => {
      starting = undefined
      throw err
    })
    return starting
  }

  async function subscribe (reply: FastifyReply, { caller, tokenExpiresAt, postIds, lastEventId }: SubscribeOptions) {
    // Counted, and heard from, before anything is awaited: a client that leaves while the feed
    // starts or its replay is read frees its place at once.
    reserved--
    // Opened while the server drains (its ticket or token was being checked): it ends at once.
    if (closing) {
      reply.sse.close()
      return
    }
    const subscriber: Subscriber = {
      reply,
      caller,
      tokenExpiresAt,
      postIds: postIds ? new Set(postIds) : null,
      after: 0,
      pending: [],
      taken: 0,
      progressAt: Date.now()
    }
    subscribers.add(subscriber)
    // The plugin's close, ours or the client's (it hears the socket's); one that came before this
    // (even before the plugin listened, while the token was checked) is seen at once.
    const leave = () => { subscribers.delete(subscriber) }
    reply.sse.onClose(leave)
    if (!reply.sse.isConnected || reply.raw.destroyed) leave()
    let started
    try {
      started = await startFeed()
    } catch (err) {
      leave()
      throw err
    }
    if (!subscribers.has(subscriber)) return
    subscriber.after = started.horizon
    // Read at the live pace from now on, not at the idle one.
    started.wake()
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
          const replay = await eventsBetween(fastify.pg, id, started.horizon)
          for (let i = 0; i < replay.length && !reply.raw.destroyed; i += REPLAY_CHUNK) {
            deliver(subscriber, replay.slice(i, i + REPLAY_CHUNK))
            await drained(reply.raw)
          }
        } else {
          // With the id it stands at, so that the client's next reconnect resumes from there:
          // the feed's position when it began, below every event that waits meanwhile.
          reply.raw.write(resetFrame(subscriber.after))
        }
      }
    } finally {
      const pending = subscriber.pending!
      subscriber.pending = null
      deliver(subscriber, pending)
    }
  }

  fastify.decorate('stream', {
    reserve: () => {
      if (closing || subscribers.size + reserved >= config.STREAM_MAX_CONNECTIONS) return false
      reserved++
      return true
    },
    release: () => { reserved-- },
    subscribe
  })

  // Streams end as the server starts to drain, so they never hold its close up.
  fastify.addHook('preClose', async function endStreams () {
    closing = true
    for (const subscriber of subscribers) subscriber.reply.sse.close()
    subscribers.clear()
  })
  fastify.addHook('onClose', async function stopTimers () {
    for (const timer of timers) clearInterval(timer)
  })
}, { name: 'stream', dependencies: ['config', 'db', 'change-feed'] })
