import type { Static } from 'typebox'
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { isFeedPosition, listFeed, type FeedPage, type FeedPosition } from '../db/queries/feeds.js'
import type { PostOut } from '../db/queries/posts.js'
import type { Queryable } from '../db/queries/queryable.js'
import { CursorError, assertCursorFor, decodeCursor, encodeCursor, readCursor } from '../lib/cursor.js'
import { UnprocessableError } from '../lib/http-errors.js'
import { toValidationDetail, type ValidationDetail } from '../lib/validation-detail.js'
import { DEFAULT_SORT, DEFAULT_WINDOW, SORTS, WINDOWS, type ListQuerySchema } from '../schemas/posts.js'

/** The feed's query once validated: every parameter with a default has it. */
export type FeedQuery = Static<typeof ListQuerySchema> & Required<Pick<Static<typeof ListQuerySchema>, 'limit' | 'skip' | 'search' | 'sort' | 't'>>

declare module 'fastify' {
  interface FastifyInstance {
    /**
     * A page of the feed the request's query asks for (one user's posts with `ownerId`),
     * with its `Link: <...>; rel="next"` header when it is full; undefined when that user
     * does not exist. The 422 for a bad cursor (and for the route's own validation error, which
     * its routes attach, with the cursor's problem beside it), the 401 when the token's user is gone.
     */
    feedPage: (request: FastifyRequest, reply: FastifyReply, ownerId?: number) => Promise<PostOut[] | undefined>
  }
}

const cursorEntry = (msg: string): ValidationDetail => ({ loc: ['query', 'cursor'], msg, type: 'value_error' })
const cursorProblem = (msg: string) => new UnprocessableError([cursorEntry(msg)])

const SKIP_WITH_CURSOR = 'cursor cannot be combined with skip'

/** The request's own path and parameters, `skip` and `cursor` aside, continued by `cursor` (RFC 8288, a relative reference). */
function nextLink (request: FastifyRequest, cursor: string): string {
  // The query starts at the first `?`, as the router reads it: a later `?` is part of a value.
  const start = request.url.indexOf('?')
  const path = start === -1 ? request.url : request.url.slice(0, start)
  const params = new URLSearchParams(start === -1 ? '' : request.url.slice(start + 1))
  params.delete('skip')
  params.delete('cursor')
  params.append('cursor', cursor)
  return `<${path}?${params.toString()}>; rel="next"`
}

/** Ranked, cursor-paged feeds: `GET /posts` and `GET /users/{id}/posts`. */
export default fp(async function feeds (fastify) {
  const secret = fastify.config.SECRET_KEY

  function positionOf (query: FeedQuery): FeedPosition | undefined {
    if (query.cursor === undefined) return undefined
    if (query.skip > 0) throw new CursorError(SKIP_WITH_CURSOR)
    const { key, id } = decodeCursor(secret, query.cursor, query.sort, query.t)
    if (!isFeedPosition(query.sort, { key, id })) throw new CursorError('Invalid cursor')
    return { key, id }
  }

  async function listPage (request: FastifyRequest, query: FeedQuery, ownerId?: number) {
    try {
      const after = positionOf(query)
      const feed = {
        sort: query.sort,
        t: query.t,
        limit: query.limit,
        skip: query.skip,
        search: query.search,
        voted: query.include === 'voted',
        ...(after ? { after } : {}),
        ...(ownerId === undefined ? {} : { ownerId })
      }
      const { caller } = request
      const read = (db: Queryable) => listFeed(db, caller, feed)
      const firstPage = !after && feed.skip === 0 && feed.search === '' && !feed.voted && ownerId === undefined
      return await (firstPage ? fastify.readCache.page(caller, { sort: feed.sort, t: feed.t, limit: feed.limit }, read) : fastify.read(caller, read))
    } catch (err) {
      if (err instanceof CursorError) throw cursorProblem(err.message)
      throw err
    }
  }

  // A page the read cache hands out again is signed once.
  const cursors = new WeakMap<FeedPage, string>()
  const cursorAfter = (query: FeedQuery, page: FeedPage & { last: FeedPosition }) => {
    let cursor = cursors.get(page)
    if (cursor === undefined) cursors.set(page, cursor = encodeCursor(secret, { sort: query.sort, t: query.t, ...page.last }))
    return cursor
  }

  /**
   * What is wrong with the cursor of a query that failed validation, so that the 422 lists it
   * beside the other problems: its form and signature, and its sort and window or `skip` when
   * those are valid themselves.
   */
  function cursorBeside (query: Record<string, unknown>): ValidationDetail | undefined {
    if (typeof query.cursor !== 'string') return undefined
    try {
      const position = readCursor(secret, query.cursor)
      const sort = SORTS.find(value => value === (query.sort ?? DEFAULT_SORT))
      const t = WINDOWS.find(value => value === (query.t ?? DEFAULT_WINDOW))
      if (sort && t) assertCursorFor(position, sort, t)
      if (Number(query.skip) > 0) return cursorEntry(SKIP_WITH_CURSOR)
      return undefined
    } catch (err) {
      if (err instanceof CursorError) return cursorEntry(err.message)
      throw err
    }
  }

  /** The route's validation error (its routes attach it), with the cursor's own problem added. */
  function invalidQuery (error: FastifyError, query: Record<string, unknown>): UnprocessableError {
    const detail = toValidationDetail(error.validation ?? [], error.validationContext ?? 'querystring')
    const named = detail.some(({ loc }) => loc[0] === 'query' && loc[1] === 'cursor')
    const cursor = named ? undefined : cursorBeside(query)
    return new UnprocessableError(cursor ? [...detail, cursor] : detail)
  }

  fastify.decorate('feedPage', async function feedPage (request: FastifyRequest, reply: FastifyReply, ownerId?: number) {
    if (request.validationError) throw invalidQuery(request.validationError as FastifyError, request.query as Record<string, unknown>)
    const query = request.query as FeedQuery
    const page = await listPage(request, query, ownerId)
    if (!page) return undefined
    if (page.last) reply.header('link', nextLink(request, cursorAfter(query, page as FeedPage & { last: FeedPosition })))
    return page.posts
  })
}, { name: 'feeds', dependencies: ['config', 'db', 'replicas', 'read-cache'] })
