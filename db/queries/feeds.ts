import { CursorError } from '../../lib/cursor.js'
import type { Sort, Window } from '../../schemas/posts.js'
import { isDataException } from '../errors.js'
import { CALLER_STANDS, callerValues, type Caller } from './caller.js'
import { POST_OUT_COLUMNS, VOTED_COLUMN, likePattern, ofExistingUser, toPostOutMaybeVoted, type PostOut, type PostOutRow } from './posts.js'
import { run, storedIdOrNone, type Queryable } from './queryable.js'

/** A page's last position: its sort key's values and its id. */
export interface FeedPosition {
  key: (string | number)[]
  id: number
}

/** What a feed statement is built for; each shape is one prepared statement. */
export interface FeedShape {
  sort: Sort
  t: Window
  /** Continues after a position (a cursor). */
  after: boolean
  search: boolean
  /** One user's posts. */
  owner: boolean
  voted: boolean
  /**
   * A first or cursor page (no skip) of this size, written into the text: a prepared
   * statement whose limit is a parameter gets a generic plan that expects a tenth of the
   * table, so PostgreSQL plans it anew on each run (longer than running it takes).
   */
  pageSize?: number
}

export interface FeedRequest {
  sort: Sort
  t: Window
  limit: number
  skip: number
  search: string
  after?: FeedPosition
  ownerId?: number
  voted: boolean
}

export interface FeedPage {
  posts: PostOut[]
  /** The last post's position when the page is full (another may follow). */
  last?: FeedPosition
}

const HOUR_MS = 3_600_000
/**
 * How many hours each window reaches back (`all`: no limit). The statements subtract them as
 * hours: PostgreSQL adds days in the session's time zone, where a day across a change of the
 * clocks is 23 or 25 hours, and the read cache expires a page's posts by the window's length.
 */
const WINDOW_HOURS: Record<Window, number | undefined> = { hour: 1, day: 24, week: 7 * 24, month: 30 * 24, year: 365 * 24, all: undefined }

/** How long the window `t` reaches back, in milliseconds (undefined for `all`). */
export const windowMilliseconds = (t: Window): number | undefined => {
  const hours = WINDOW_HOURS[t]
  return hours === undefined ? undefined : hours * HOUR_MS
}

interface Order {
  /** The table whose index the page walks. */
  from: string
  id: string
  createdAt: string
  /** The sort key's columns (all descending) and their types, before the id. */
  keys: [column: string, type: string][]
}

// `new` walks posts' (created_at desc, id desc) index (or (owner_id, created_at desc, id desc));
// `top` and `hot` walk vote_counts' indexes, which the vote triggers keep exact.
const ORDERS: Record<Sort, Order> = {
  new: { from: 'posts p', id: 'p.id', createdAt: 'p.created_at', keys: [['p.created_at', 'timestamptz']] },
  top: { from: 'vote_counts c', id: 'c.post_id', createdAt: 'c.created_at', keys: [['c.votes', 'int'], ['c.created_at', 'timestamptz']] },
  hot: { from: 'vote_counts c', id: 'c.post_id', createdAt: 'c.created_at', keys: [['c.hot', 'float8']] }
}

// A position's values as the statement casts them: PostgreSQL's timestamptz text, int4, float8.
const TIMESTAMP = /^(\d{4,}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d{1,6})?[+-]\d\d(:\d\d){0,2}( BC)?|-?infinity)$/
const KEY_CHECKS: Record<string, (value: unknown) => boolean> = {
  timestamptz: value => typeof value === 'string' && TIMESTAMP.test(value),
  int: value => Number.isInteger(value) && Math.abs(value as number) <= 2_147_483_647,
  float8: value => (typeof value === 'number' && Number.isFinite(value)) || value === 'Infinity' || value === '-Infinity'
}

// JSON has no infinities (a post dated `infinity` is ranked so): they travel as PostgreSQL's float8 text.
const keyValue = (value: string | number) => typeof value === 'number' && !Number.isFinite(value) ? String(value) : value

/** Whether a position (from a cursor) has the values `sort`'s statement takes. */
export const isFeedPosition = (sort: Sort, { key, id }: FeedPosition): boolean =>
  Number.isInteger(id) && key.length === ORDERS[sort].keys.length && ORDERS[sort].keys.every(([, type], i) => KEY_CHECKS[type]!(key[i]))

/**
 * $1-$3 caller, then $4 limit and $5 skip (unless the shape has a page size), then in this order when the shape has them: the ILIKE pattern,
 * the owner's id, the position's key values and id. The page's ids come from one index walk
 * (the window, the search and the position are its conditions), and only its rows are joined;
 * the window is written into the text, so each window's plan is made for its own size.
 */
export function feedStatement (shape: FeedShape): string {
  const order = ORDERS[shape.sort]
  if (shape.pageSize !== undefined && !(Number.isSafeInteger(shape.pageSize) && shape.pageSize > 0)) throw new RangeError(`a page size must be a positive integer, not ${shape.pageSize}`)
  let next = shape.pageSize === undefined ? 6 : 4
  const where: string[] = []
  const hours = WINDOW_HOURS[shape.t]
  if (hours !== undefined) where.push(`${order.createdAt} between now() - interval '${hours} hours' and now()`)
  if (shape.search) where.push(`p.title ilike $${next++}`)
  const owner = shape.owner ? next++ : undefined
  if (owner) where.push(`p.owner_id = $${owner}`)
  const onPosts = order.from !== 'posts p' && (shape.search || shape.owner)
  if (shape.after) {
    const values = order.keys.map(([, type]) => `$${next++}::${type}`)
    where.push(`(${order.keys.map(([column]) => column).join(', ')}, ${order.id}) < (${values.join(', ')}, $${next++}::int)`)
  }
  const keyColumns = order.keys.map(([column], i) => `${column} as k${i + 1}`).join(', ')
  const descending = (columns: string[]) => columns.map(column => `${column} desc`).join(', ')
  return `
select ${POST_OUT_COLUMNS}, ${order.keys.map((_, i) => `page.k${i + 1}`).join(', ')}${shape.voted ? `, ${VOTED_COLUMN}` : ''}${owner ? `, exists (select from users o where o.id = $${owner}) as owner_found` : ''}
  from users me
  left join (select ${order.id} as id, ${keyColumns}
               from ${order.from}${onPosts ? ' join posts p on p.id = c.post_id' : ''}
              ${where.length ? `where ${where.join(' and ')}` : ''}
              order by ${descending([...order.keys.map(([column]) => column), order.id])}
              ${shape.pageSize === undefined ? 'limit $4 offset $5' : `limit ${shape.pageSize}`}) page on true
  left join posts p on p.id = page.id
  left join users u on u.id = p.owner_id
  left join vote_counts c on c.post_id = p.id
 where me.id = $1 and ${CALLER_STANDS}
 order by ${descending([...order.keys.map((_, i) => `page.k${i + 1}`), 'page.id'])}`
}

const shapeName = ({ sort, t, after, owner, voted, pageSize }: FeedShape) =>
  ['feed', sort, t, after && 'after', owner && 'user', voted && 'voted', pageSize].filter(Boolean).join('-')

const statements = new Map<string, string>()

/** The statement's prepared name (none for a search: it is planned for its pattern) and text. */
export function feedQuery (shape: FeedShape): { name: string | undefined, text: string } {
  const name = shapeName(shape) + (shape.search ? '-search' : '')
  let text = statements.get(name)
  if (text === undefined) statements.set(name, text = feedStatement(shape))
  return { name: shape.search ? undefined : name, text }
}

/** The statement's values, in feedStatement's order. */
export function feedValues (caller: Caller, request: FeedRequest): unknown[] {
  const values = callerValues(caller)
  if (request.skip > 0) values.push(request.limit, request.skip)
  if (request.search) values.push(likePattern(request.search))
  if (request.ownerId !== undefined) values.push(storedIdOrNone(request.ownerId))
  if (request.after) values.push(...request.after.key, storedIdOrNone(request.after.id))
  return values
}

export const feedShape = (request: FeedRequest): FeedShape => ({
  sort: request.sort,
  t: request.t,
  after: request.after !== undefined,
  search: request.search !== '',
  owner: request.ownerId !== undefined,
  voted: request.voted,
  ...(request.skip === 0 ? { pageSize: request.limit } : {})
})

export type FeedRow = PostOutRow & { k1: string | number, k2?: string | number, voted?: boolean, owner_found?: boolean }

/** The page's posts and, when it is full, where the next one starts. */
export function toFeedPage (rows: FeedRow[], limit: number): FeedPage {
  // An empty page still has the user's row, with nulls for the post.
  if (rows[0]!.id === null) return { posts: [] }
  const posts = rows.map(toPostOutMaybeVoted)
  if (rows.length < limit) return { posts }
  const last = rows.at(-1)!
  return { posts, last: { key: (last.k2 === undefined ? [last.k1] : [last.k1, last.k2]).map(keyValue), id: last.id } }
}

/** A page of a feed; the 401 when the token no longer stands, undefined when the feed's owner does not exist, a CursorError for a position the database cannot take. */
export async function listFeed (db: Queryable, caller: Caller, request: FeedRequest): Promise<FeedPage | undefined> {
  const { name, text } = feedQuery(feedShape(request))
  let found: FeedRow[]
  try {
    found = await run<FeedRow>(db, name, text, feedValues(caller, request))
  } catch (err) {
    // A signed position whose values the database refuses (a timestamp past its range).
    if (request.after && isDataException(err)) throw new CursorError('Invalid cursor')
    throw err
  }
  const rows = ofExistingUser(found)
  if (request.ownerId !== undefined && !rows[0]!.owner_found) return undefined
  return toFeedPage(rows, request.limit)
}

/**
 * When the earliest post dated after now comes into the windows (`t` other than `all` ends at
 * now), in ms since the epoch; Infinity when there is none.
 */
export async function nextPostArrival (db: Queryable): Promise<number> {
  const [row] = await run<{ at: number | null }>(db, 'feed-next-arrival', 'select (extract(epoch from min(created_at)) * 1000)::float8 as at from posts where created_at > now()', [])
  return row?.at ?? Infinity
}
