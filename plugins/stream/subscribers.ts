import type {} from '@fastify/sse'
import type { FastifyReply } from 'fastify'
import type { Caller } from '../../db/queries/caller.js'
import type { ChangeEvent } from '../../db/queries/stream.js'

/** A client that stops reading is dropped once this much waits for it (and it has taken nothing for STALL_MS). */
export const MAX_QUEUED_BYTES = 1024 * 1024
/** How long a client over MAX_QUEUED_BYTES may go without taking a byte: a burst larger than the limit does not drop a client that reads, even one starved of CPU for a moment. */
const STALL_MS = 1000
/** What no client may hold, reading or not. */
const HARD_LIMIT_BYTES = 8 * MAX_QUEUED_BYTES

export interface Subscriber {
  reply: FastifyReply
  caller: Caller
  /** When its token expires, in seconds since the epoch. */
  tokenExpiresAt: number
  /** Only events about these posts; null for all. */
  postIds: Set<number> | null
  /** The last event it was sent (or replayed): nothing at or below goes out again. */
  after: number
  /** Events that arrived while its replay was read, sent once it is. */
  pending: ChangeEvent[] | null
  /** The bytes its socket had handed to the kernel when last looked at, and when that last grew. */
  taken: number
  progressAt: number
}

/** Events as they go on the wire (`id`, `event`, one line of `data`: the feed's JSON has no newline). */
export const frame = (events: ChangeEvent[]): Buffer =>
  Buffer.from(events.map(event => `id: ${event.id}\nevent: ${event.type}\ndata: ${event.data}\n\n`).join(''))

/** `event: reset` (`data: {}`: reload your state), with the id the stream stands at, so that a reconnect resumes from there. */
export const resetFrame = (horizon: number): string =>
  `${horizon > 0 ? `id: ${horizon}\n` : ''}event: reset\ndata: {}\n\n`

/**
 * Writes the events the subscriber wants and has not had, in one write. `framed` is all of
 * `events` framed: a subscriber that wants them all gets that same buffer, so a batch is
 * framed once and held once in memory however many sockets it waits on.
 */
export function deliver (subscriber: Subscriber, events: ChangeEvent[], framed?: Buffer): void {
  const { reply } = subscriber
  const raw = reply.raw
  if (raw.destroyed || !reply.sse.isConnected) return
  const wanted = events.filter(event => event.id > subscriber.after && (!subscriber.postIds || subscriber.postIds.has(event.postId)))
  if (wanted.length === 0) return
  subscriber.after = wanted[wanted.length - 1]!.id
  raw.write(framed && wanted.length === events.length ? framed : frame(wanted))
  if (raw.writableNeedDrain) dropIfStalled(subscriber)
}

/**
 * Drops the client (destroys its socket) when more than MAX_QUEUED_BYTES wait for it and its
 * socket has taken nothing for STALL_MS, or when more than HARD_LIMIT_BYTES wait; says whether it did.
 */
export function dropIfStalled (subscriber: Subscriber, now = Date.now()): boolean {
  const raw = subscriber.reply.raw
  if (raw.destroyed) return true
  // A socket's bytesWritten counts what still waits in its buffer too: it grows with every
  // write, read or not. What the kernel has taken is that less what still waits.
  const socket = raw.socket
  const taken = socket ? (socket.bytesWritten ?? 0) - socket.writableLength : 0
  if (taken !== subscriber.taken) {
    subscriber.taken = taken
    subscriber.progressAt = now
  }
  const waiting = raw.writableLength
  if (waiting > HARD_LIMIT_BYTES || (waiting > MAX_QUEUED_BYTES && now - subscriber.progressAt >= STALL_MS)) {
    subscriber.reply.log.info({ queued: waiting }, 'stream: a client that stopped reading is dropped')
    raw.destroy()
    return true
  }
  return false
}

/** Votes on one post within one read are merged into the last, which carries the latest count. */
export function mergeVotes (events: ChangeEvent[]): ChangeEvent[] {
  const lastVotes = new Map<number, number>()
  for (const event of events) if (event.type === 'post.votes') lastVotes.set(event.postId, event.id)
  return events.filter(event => event.type !== 'post.votes' || lastVotes.get(event.postId) === event.id)
}
