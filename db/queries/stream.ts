import type { Queryable } from './queryable.js'

/** A change as `GET /stream` sends it: `data` is the event's JSON, on one line. */
export interface ChangeEvent {
  id: number
  postId: number
  type: 'post.created' | 'post.updated' | 'post.deleted' | 'post.votes'
  data: string
}

// The advisory lock (two int4 keys) that every transaction holds, shared, from numbering an
// event until it ends: the stream triggers of migration 20261206153605 take it.
const WRITER_LOCK_HOLDERS = `select virtualtransaction from pg_locks
  where locktype = 'advisory' and database = (select oid from pg_database where datname = current_database())
    and classid = 1886352244 and objid = 1 and objsubid = 2 and granted`

interface EventRow { id: string, post_id: number, type: ChangeEvent['type'], data: string }

const toEvent = (row: EventRow): ChangeEvent =>
  // The triggers' JSON has spaces around every colon; clients get it compact.
  ({ id: Number(row.id), postId: row.post_id, type: row.type, data: JSON.stringify(JSON.parse(row.data)) })

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
      const { rows } = await db.query<{ running: boolean }>(`select exists (${WRITER_LOCK_HOLDERS} and virtualtransaction = any($1::text[])) as running`, [watch.holders])
      if (!rows[0]!.running) {
        settledBelow = watch.covers
        watch = undefined
      }
    }
    const { rows } = await db.query<EventRow>('select id, post_id, type, data from stream_events where id > $1 order by id limit $2', [horizon, limit])
    const events: ChangeEvent[] = []
    for (const row of rows) {
      const id = Number(row.id)
      if (id !== horizon + 1 && id > settledBelow) {
        // Noted after the rows were read: every writer that may fill the gap is among them.
        const holders = await db.query<{ virtualtransaction: string }>(WRITER_LOCK_HOLDERS)
        watch = { holders: holders.rows.map(holder => holder.virtualtransaction), covers: Number(rows[rows.length - 1]!.id) }
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
    get horizon () { return horizon }
  }
}

/** The newest event's id (0 when there is none): where a reader starts that wants only what comes next. */
export async function latestEventId (db: Queryable): Promise<number> {
  const { rows } = await db.query<{ id: string | null }>('select max(id) as id from stream_events')
  return Number(rows[0]!.id ?? 0)
}
