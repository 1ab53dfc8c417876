import { CALLER_STANDS, callerValues, standsSql, type Caller } from './caller.js'
import { run, type Queryable } from './queryable.js'

/** A change as `GET /stream` sends it: `data` is the event's JSON, on one line. */
export interface ChangeEvent {
  id: number
  postId: number
  type: 'post.created' | 'post.updated' | 'post.deleted' | 'post.votes'
  /** post.votes: the count after the change. */
  votes?: number
  readonly data: string
}

// The advisory lock (two int4 keys) that every transaction holds, shared, from numbering an
// event until it ends: the stream triggers of migration 20261206153605 take it.
const WRITER_LOCK_HOLDERS = `select virtualtransaction from pg_locks
  where locktype = 'advisory' and database = (select oid from pg_database where datname = current_database())
    and classid = 1886352244 and objid = 1 and objsubid = 2 and granted`

interface EventRow {
  id: string
  post_id: number
  type: ChangeEvent['type']
  title: string | null
  content: string | null
  published: boolean | null
  post_created_at: string | null
  owner_id: number | null
  owner_email: string | null
  owner_created_at: string | null
  votes: number | null
}

/** A timestamp as every process writes it into an event: in UTC, RFC 3339 (infinities as PostgreSQL names them). */
const utcText = (column: string) => `case when isfinite(${column}) then (to_json(${column} at time zone 'UTC') #>> '{}') || '+00:00' else ${column}::text end`
const EVENT_COLUMNS = `id, post_id, type, title, content, published, ${utcText('post_created_at')} as post_created_at, owner_id, owner_email, ${utcText('owner_created_at')} as owner_created_at, votes`

/** The post an event of post.created or post.updated shows (the API's `Post`). */
const eventPost = (row: EventRow) => ({
  id: row.post_id,
  title: row.title,
  content: row.content,
  published: row.published,
  created_at: row.post_created_at,
  owner_id: row.owner_id,
  owner: { id: row.owner_id, email: row.owner_email, created_at: row.owner_created_at }
})

/** An event's JSON, written from its row's values (the triggers store values, not JSON, so that a write pays for none). */
function eventData (row: EventRow): string {
  switch (row.type) {
    case 'post.created': return JSON.stringify({ Post: eventPost(row), votes: 0 })
    case 'post.updated': return JSON.stringify(eventPost(row))
    case 'post.deleted': return JSON.stringify({ id: row.post_id })
    case 'post.votes': return JSON.stringify({ id: row.post_id, votes: row.votes })
  }
}

/** An event read from its row; its JSON is written when first asked for (a process with no stream open never needs it). */
class FeedEvent implements ChangeEvent {
  readonly id: number
  readonly postId: number
  readonly type: ChangeEvent['type']
  readonly votes?: number
  #row: EventRow | undefined
  #data: string | undefined

  constructor (row: EventRow) {
    this.id = Number(row.id)
    this.postId = row.post_id
    this.type = row.type
    if (row.votes !== null) this.votes = row.votes
    this.#row = row
  }

  get data (): string {
    if (this.#data === undefined) {
      this.#data = eventData(this.#row!)
      this.#row = undefined
    }
    return this.#data
  }
}

const toEvent = (row: EventRow): ChangeEvent => new FeedEvent(row)

/**
 * Reads the change feed in order, never past a number that a transaction still running may
 * yet fill. Events are numbered as their transactions commit, so a gap (a number not yet
 * visible below one that is) is a transaction in its commit, or one that rolled back. The
 * reader notes which transactions hold the writers' lock when it first sees a gap; once they
 * have all ended, whatever is still missing below the numbers it had seen never will be.
 * Unrelated transactions, however long, do not hold it up.
 */
export function createEventReader (after: number) {
  let horizon = after
  /** The writers that may still fill a gap below `covers`. */
  let watch: { holders: string[], covers: number } | undefined

  async function read (db: Queryable, limit = 500): Promise<ChangeEvent[]> {
    let settledBelow = 0
    if (watch) {
      const [still] = await run<{ running: boolean }>(db, 'stream-writers-running', `select exists (${WRITER_LOCK_HOLDERS} and virtualtransaction = any($1::text[])) as running`, [watch.holders])
      if (!still!.running) {
        settledBelow = watch.covers
        watch = undefined
      }
    }
    const rows = await run<EventRow>(db, 'stream-events-after', `select ${EVENT_COLUMNS} from stream_events where id > $1 order by id limit $2`, [horizon, limit])
    const events: ChangeEvent[] = []
    for (const row of rows) {
      const id = Number(row.id)
      if (id !== horizon + 1 && id > settledBelow) {
        // Noted after the rows were read: every writer that may fill the gap is among them.
        const holders = await run<{ virtualtransaction: string }>(db, 'stream-writers', WRITER_LOCK_HOLDERS, [])
        watch = { holders: holders.map(holder => holder.virtualtransaction), covers: Number(rows[rows.length - 1]!.id) }
        break
      }
      events.push(toEvent(row))
      horizon = id
    }
    return events
  }

  return {
    read,
    /** The last event read. */
    get horizon () { return horizon },
    /** Whether events wait behind a number that a transaction still committing may fill. */
    get held () { return watch !== undefined }
  }
}

/** The newest event's id (0 when there is none): where a reader starts that wants only what comes next. */
export async function latestEventId (db: Queryable): Promise<number> {
  const { rows } = await db.query<{ id: string | null }>('select max(id) as id from stream_events')
  return Number(rows[0]!.id ?? 0)
}

/** Whether the feed still holds event `id`: a `Last-Event-ID` that can be replayed from. */
export async function eventKnown (db: Queryable, id: number): Promise<boolean> {
  if (!Number.isSafeInteger(id) || id < 1) return false
  const rows = await run(db, 'stream-event-known', 'select from stream_events where id = $1', [id])
  return rows.length > 0
}

/** The events after `after` up to `through`, in order: a reconnecting client's replay. */
export async function eventsBetween (db: Queryable, after: number, through: number): Promise<ChangeEvent[]> {
  const rows = await run<EventRow>(db, 'stream-events-between', `select ${EVENT_COLUMNS} from stream_events where id > $1 and id <= $2 order by id`, [after, through])
  return rows.map(toEvent)
}

export interface ReplayWindow {
  /** Events at least this recent are kept… */
  minutes: number
  /** …and at least this many of the newest, whatever their age. */
  events: number
}

/**
 * Drops the events outside the replay window, and expired tickets. Only a run of the oldest ids
 * goes: an event is dated when its transaction began but numbered at its commit, so a long
 * transaction's event can be older than events numbered before it, and dropping it alone would
 * leave a hole that a replay across it could not see.
 */
export async function pruneFeed (db: Queryable, window: ReplayWindow): Promise<void> {
  await db.query(`delete from stream_events
    where id < coalesce((select min(id) from stream_events where created_at >= now() - make_interval(mins => $1::int)), 9223372036854775807)
      and id < (select id from stream_events order by id desc offset greatest($2::int - 1, 0) limit 1)`, [window.minutes, window.events])
  await db.query('delete from stream_tickets where expires_at < now()')
}

/** A ticket's lifetime, in seconds. */
export const TICKET_SECONDS = 30

/** A token's expiry as a timestamp can hold it: a later one (a signed token may claim any) is the end of year 9999. */
const LATEST_EXPIRY = 253_402_300_799

/** Stores a ticket (by hash) for the caller, when its token still stands. */
export async function issueTicket (db: Queryable, caller: Caller, hash: Buffer, tokenExpiresAt: number): Promise<boolean> {
  const rows = await run(db, 'issue-stream-ticket', `
    insert into stream_tickets (hash, user_id, session_id, issued_at, token_expires_at, expires_at)
    select $4, me.id, $2::uuid, $3::float8, to_timestamp(least($5::float8, ${LATEST_EXPIRY})), now() + make_interval(secs => ${TICKET_SECONDS})
      from users me where me.id = $1 and ${CALLER_STANDS}
    returning 1`, [...callerValues(caller), hash, tokenExpiresAt])
  return rows.length > 0
}

export interface RedeemedTicket {
  caller: Caller
  /** When the token the ticket was issued to expires, in seconds since the epoch. */
  tokenExpiresAt: number
}

/** The conditions on a stored ticket `t` (its user `me`) under which it speaks for its caller. */
const TICKET_STANDS = `t.expires_at > now() and t.token_expires_at > now() and ${standsSql('t.user_id', 't.session_id', 't.issued_at')}`

/** Whether a ticket (by hash) would open a stream now, without taking it: a refused one is a 401 before the request's other problems. */
export async function ticketStands (db: Queryable, hash: Buffer): Promise<boolean> {
  const rows = await run(db, 'stream-ticket-stands', `select from stream_tickets t join users me on me.id = t.user_id where t.hash = $1 and ${TICKET_STANDS}`, [hash])
  return rows.length > 0
}

/**
 * Takes a ticket (by hash), once: it is deleted whatever its state. It speaks for its caller
 * only while unexpired and while the caller's token would still stand.
 */
export async function redeemTicket (db: Queryable, hash: Buffer): Promise<RedeemedTicket | undefined> {
  const rows = await run<{ user_id: number, session_id: string | null, issued_at: number, token_expires_at: number }>(db, 'redeem-stream-ticket', `
    with ticket as (delete from stream_tickets where hash = $1 returning *)
    select t.user_id, t.session_id, t.issued_at, extract(epoch from t.token_expires_at)::float8 as token_expires_at
      from ticket t join users me on me.id = t.user_id
     where ${TICKET_STANDS}`, [hash])
  const row = rows[0]
  if (!row) return undefined
  return { caller: { userId: row.user_id, sessionId: row.session_id, issuedAt: row.issued_at }, tokenExpiresAt: row.token_expires_at }
}
