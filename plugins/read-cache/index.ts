import { setTimeout as sleep } from 'node:timers/promises'
import type { FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import type { ChangeFeed } from '../../db/change-feed.js'
import { endedCallers, type Caller } from '../../db/queries/caller.js'
import { nextPostArrival, windowMilliseconds, type FeedPage } from '../../db/queries/feeds.js'
import type { PostOut } from '../../db/queries/posts.js'
import type { Queryable } from '../../db/queries/queryable.js'
import { Batches } from '../../lib/batches.js'
import { InvalidTokenError } from '../../lib/http-errors.js'
import type { SizedLru } from '../../lib/sized-lru.js'
import type { CacheStatus } from '../../schemas/ready.js'
import { RecentCount } from './recent-count.js'
import { RecentWriters } from './recent-writers.js'
import { HeldReads, pageExpiry, pageKey, weigh, type Cached, type FirstPage } from './held.js'

export type { FirstPage }

declare module 'fastify' {
  interface FastifyInstance {
    /**
     * The hottest reads answered from memory: with every change this process made, and every
     * other one within FRESH_MS; the caller's token checked as each statement checks it, within
     * CALLER_MS (checks and reads of the feed are shared by the requests that wait meanwhile).
     * Without the feed (or with CACHE_MAX_MB=0) `query` runs through `fastify.read`.
     */
    readCache: {
      /** `GET /posts/{id}` without `voted`. */
      post: (caller: Caller, id: number, query: (db: Queryable) => Promise<PostOut | undefined>) => Promise<PostOut | undefined>
      /** A first page of `GET /posts`. */
      page: (caller: Caller, page: FirstPage, query: (db: Queryable) => Promise<FeedPage | undefined>) => Promise<FeedPage | undefined>
      /** For /ready: undefined when the cache is off. */
      status: () => CacheStatus | undefined
    }
  }
}

/** What a batch of hits learnt: whether the feed was read to the end, and which callers no longer stand. */
interface Check {
  synced: boolean
  /** Their callerKey. */
  ended: Set<string>
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS'])
/**
 * How long a read's batch (the feed's read with the token check, or a shared fill) may wait
 * for the one before it to end; then the read asks the database itself. A frozen database so
 * costs it no more than it costs a read without the cache (the pool's own timeout): none
 * queues behind a batch that hangs. (A batch that runs is waited for: its queries are the
 * read's own, and time out as the pool's do.)
 */
const QUEUE_MS = 500
/**
 * Under load (BUSY_HITS reads the cache could answer in this BUSY_WINDOW_MS and the one before), a hit that comes
 * while a check (a read of the feed with a token check) is under way would queue behind it. It
 * is answered at once instead when the feed was read to the end in a read begun within FRESH_MS
 * (and after this process's last write) and its token found standing by a check begun within
 * CALLER_MS: another process's change is then in this one's reads within FRESH_MS, and an ended
 * session is refused within CALLER_MS (the contract allows 100 ms and 1 s). Otherwise a hit
 * waits for a check begun after it came, and shows every change committed before it arrived.
 */
const FRESH_MS = 20
const CALLER_MS = 500
const BUSY_WINDOW_MS = 20
const BUSY_HITS = 40
/**
 * With REDIS_URL, a user answered for a write within this is a recent writer on every process:
 * their hits wait for the feed, so they read their own writes on any process at once.
 */
const RECENT_WRITER_MS = 5 * FRESH_MS
/** How many callers' last checks are remembered: past it they are forgotten together (and checked again). */
const CALLERS_KNOWN = 10_000
const RETRY_MS = 1000
const LOG_MS = 10_000
const callerKey = ({ userId, sessionId, issuedAt }: Caller) => `${userId} ${sessionId} ${issuedAt}`

/** Reads answered from memory, kept exact by the change feed and by this process's own writes (CACHE_MAX_MB). */
export default fp(async function readCache (fastify) {
  const { config, log, pg } = fastify
  const maxBytes = config.CACHE_MAX_MB * 1024 * 1024
  if (maxBytes === 0) {
    fastify.decorate('readCache', {
      post: (caller: Caller, _id: number, query: (db: Queryable) => Promise<PostOut | undefined>) => fastify.read(caller, query),
      page: (caller: Caller, _page: FirstPage, query: (db: Queryable) => Promise<FeedPage | undefined>) => fastify.read(caller, query),
      status: () => undefined
    })
    return
  }

  const held = new HeldReads(maxBytes)
  const writers = fastify.redis && new RecentWriters(fastify.redis, RECENT_WRITER_MS, err =>
    log.warn({ err: { message: err.message } }, 'read cache: writes cannot be marked in Redis; their answers wait until every process\'s hits include them'))
  // Workers that share no Redis cannot tell each other who just wrote: each hit waits for its check.
  const answerUnchecked = writers !== undefined || config.WEB_CONCURRENCY === 1
  const reads = new RecentCount(BUSY_WINDOW_MS)
  let feed: ChangeFeed | undefined
  let hits = 0
  /** Of the hits, those answered without a check of their own. */
  let unchecked = 0
  let misses = 0

  /** Whether the feed is connected and has been read to the end since. */
  const following = () => feed !== undefined && feed.caughtUpAt > 0

  /** Each caller whose token a check found standing: when that check began. */
  const standing = new Map<string, number>()
  /** Moves on when this process may have ended sessions: a check begun before says nothing after. */
  let standingEpoch = 0
  const checks = new Batches<Caller, Check>(async batch => {
    // Many requests of one token wait together: it is checked once.
    const keyed = new Map(batch.map(caller => [callerKey(caller), caller]))
    const callers = [...keyed.values()]
    const [began, epoch] = [performance.now(), standingEpoch]
    const [synced, ended] = await Promise.all([feed?.sync() ?? false, endedCallers(pg, callers)])
    const check = { synced, ended: new Set(ended.map(i => callerKey(callers[i]!))) }
    if (standing.size > CALLERS_KNOWN) standing.clear()
    for (const key of keyed.keys()) {
      if (check.ended.has(key)) standing.delete(key)
      else if (epoch === standingEpoch) standing.set(key, began)
    }
    return check
  })

  /** Whether a hit may be answered without a check of its own (see FRESH_MS). */
  function vouched (caller: Caller, now: number): boolean {
    const caughtUpAt = feed!.caughtUpAt
    return now - caughtUpAt < FRESH_MS && caughtUpAt > held.wroteAt && now - (standing.get(callerKey(caller)) ?? -Infinity) < CALLER_MS
  }

  /** Under load, the cached value as the last checks vouch for it (undefined when they cannot). */
  async function answerUnderLoad<K, V, E extends Cached<V>> (store: SizedLru<K, E>, key: K, caller: Caller): Promise<V | undefined> {
    const now = performance.now()
    if (!answerUnchecked || reads.add(now) < BUSY_HITS || !checks.busy || !vouched(caller, now)) return undefined
    // Asked again after Redis answered; the feed's reader may have stopped meanwhile (the process closing).
    if (writers && (await writers.wroteLately(caller.userId) || feed === undefined || !vouched(caller, performance.now()))) return undefined
    const entry = store.get(key)
    return entry !== undefined && entry.expiresAt > Date.now() ? entry.value : undefined
  }

  /** A read waiting for a fill of its key, and the statement that would make it with its own caller. */
  interface Waiter<V> { caller: Caller, query: (db: Queryable) => Promise<V | undefined> }
  /** What a fill read, and the caller whose token its statement checked. */
  interface Filled<V> { value: V | undefined, caller: Caller }
  /** The fills under way, one at a time per key: readers that come meanwhile share the next. */
  const fills = new Map<unknown, Batches<Waiter<unknown>, Filled<unknown> | undefined>>()

  /**
   * A fill from the primary (a replica may not yet have what the feed has told), begun after
   * each of its waiters came; kept unless a change was heard while it ran. The value is the
   * same for every caller: the statement runs with the first whose token stands, and says whom.
   */
  function fill<K, V, E extends Cached<V>> (store: SizedLru<K, E>, key: K, waiter: Waiter<V>, keep: (value: V) => E): Promise<Filled<V> | undefined> {
    let batches = fills.get(key) as Batches<Waiter<V>, Filled<V> | undefined> | undefined
    if (batches === undefined) {
      batches = new Batches<Waiter<V>, Filled<V> | undefined>(async waiters => {
        const began = held.generation
        for (const [i, { caller, query }] of waiters.entries()) {
          try {
            const value = await query(pg)
            if (value !== undefined && began === held.generation && following()) store.set(key, keep(value), weigh(value))
            return { value, caller }
          } catch (err) {
            if (!(err instanceof InvalidTokenError) || i === waiters.length - 1) throw err
          }
        }
        // Every reader left it while it queued.
        return undefined
      })
      fills.set(key, batches as Batches<Waiter<unknown>, Filled<unknown> | undefined>)
    }
    const filled = batches.add(waiter, QUEUE_MS)
    const done = () => { if (!batches.busy && fills.get(key) === batches) fills.delete(key) }
    filled.then(done, done)
    return filled
  }

  /** The cached value once the feed and the caller are checked, else a shared fill. */
  async function cached<K, V, E extends Cached<V>> (store: SizedLru<K, E>, key: K, caller: Caller, query: (db: Queryable) => Promise<V | undefined>, keep: (value: V) => E): Promise<V | undefined> {
    if (!following()) {
      if (!starting) startFeed()
      return fastify.read(caller, query)
    }
    if (store.peek(key) !== undefined) {
      const value = await answerUnderLoad<K, V, E>(store, key, caller)
      if (value !== undefined) {
        hits++
        unchecked++
        return value
      }
      const check = await checks.add(caller, QUEUE_MS)
      if (check === undefined || !check.synced) return fastify.read(caller, query)
      if (check.ended.has(callerKey(caller))) throw new InvalidTokenError()
      const entry = store.get(key)
      if (entry !== undefined && entry.expiresAt > Date.now()) {
        hits++
        return entry.value
      }
    }
    misses++
    const filled = await fill(store, key, { caller, query }, keep)
    if (filled === undefined) return fastify.read(caller, query)
    // Its statement checked another reader's token: this one's is checked now.
    if (filled.caller !== caller) {
      const check = await checks.add(caller, QUEUE_MS)
      if (check === undefined) return fastify.read(caller, query)
      if (check.ended.has(callerKey(caller))) throw new InvalidTokenError()
    }
    return filled.value
  }

  /** This process's own write, before its answer leaves: the writer's next read includes it. */
  function wrote (request: FastifyRequest) {
    const route = request.routeOptions.url ?? ''
    if (route.startsWith('/posts')) {
      held.wrote((request.params as { id?: number }).id)
    } else if (route.startsWith('/vote')) {
      const { post_id: postId } = (request.body ?? {}) as { post_id?: unknown }
      held.wrote(typeof postId === 'number' ? postId : undefined)
    } else if (route.startsWith('/auth') || route.startsWith('/users')) {
      // It may have ended sessions (a logout, a password change, a refresh token's reuse): their
      // tokens are refused here at once.
      standing.clear()
      standingEpoch++
      // A deleted account takes its posts and votes.
      if (route.startsWith('/users') && request.method === 'DELETE') held.dropAll()
    }
  }

  const dropAll = () => held.dropAll()
  fastify.changeFeed.listen({ events: events => held.heard(events), reset: dropAll, lost: dropAll })

  fastify.addHook('onSend', async function ownWrite (request, reply, payload) {
    if (SAFE_METHODS.has(request.method)) return payload
    wrote(request)
    if (writers && request.caller !== null && reply.statusCode < 400) {
      try {
        await writers.wrote(request.caller.userId)
      } catch {
        await sleep(FRESH_MS)
      }
    }
    return payload
  })

  // The feed starts with the first read the cache could answer (a process that serves none
  // keeps no connection for it); until it is connected, reads go to the database.
  let closed = false
  let starting = false
  let retry: NodeJS.Timeout | undefined
  function startFeed () {
    starting = true
    fastify.changeFeed.start().then(started => { if (!closed) feed = started }, err => {
      if (closed) return
      log.warn({ err: { message: (err as Error).message } }, 'read cache: the change feed could not start; reads go to the database meanwhile')
      retry = setTimeout(startFeed, RETRY_MS)
      retry.unref()
    })
  }

  let logged = 0
  const counts = setInterval(() => {
    if (hits + misses === logged) return
    logged = hits + misses
    log.debug({ cache: status() }, 'read cache')
  }, LOG_MS)
  counts.unref()

  fastify.addHook('onClose', async function stopCache () {
    closed = true
    clearTimeout(retry)
    clearInterval(counts)
    feed = undefined
  })

  function status (): CacheStatus {
    return { serving: following(), hits, unchecked, misses, entries: held.entries, bytes: held.bytes, max_bytes: maxBytes }
  }

  fastify.decorate('readCache', {
    post: (caller: Caller, id: number, query: (db: Queryable) => Promise<PostOut | undefined>) =>
      cached(held.posts, id, caller, query, value => ({ value, expiresAt: Infinity })),
    page: (caller: Caller, page: FirstPage, query: (db: Queryable) => Promise<FeedPage | undefined>) => {
      if (windowMilliseconds(page.t) === undefined) return cached(held.pages, pageKey(page), caller, query, value => ({ value, expiresAt: Infinity, page }))
      // A window ends at now: a post dated later comes into it when its time comes.
      const arrivals = new WeakMap<FeedPage, number>()
      const withArrival = async (db: Queryable) => {
        const [value, arrival] = await Promise.all([query(db), nextPostArrival(db)])
        if (value !== undefined) arrivals.set(value, arrival)
        return value
      }
      return cached(held.pages, pageKey(page), caller, withArrival, value => ({ value, expiresAt: pageExpiry(page, value, arrivals.get(value) ?? 0), page }))
    },
    status
  })
}, { name: 'read-cache', dependencies: ['config', 'db', 'redis', 'replicas', 'change-feed'] })
