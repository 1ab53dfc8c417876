import { run, type Queryable } from './queryable.js'

/** Who a request's access token speaks for. */
export interface Caller {
  userId: number
  /** The token's session (`sid`); null for a token issued before sessions existed. */
  sessionId: string | null
  /** When the token was issued, in seconds since the epoch (what a token without a session is judged by). */
  issuedAt: number
}

/** $1, $2 and $3 of every statement that checks its caller (CALLER_STANDS); the statement's own values follow. */
export const callerValues = ({ userId, sessionId, issuedAt }: Caller): unknown[] => [userId, sessionId, issuedAt]

/**
 * Whether the token still stands for the user row `me` (`me.id = $1`; $2 session, $3 issued at):
 * its session is live, or (a token without one) the user has not ended every session or
 * changed the password since it was issued. Every protected statement has it beside
 * `me.id = $1`, so an ended session is refused on every process by the next statement, at
 * the cost of one primary-key probe in the same round trip. The probes are uncorrelated (the
 * user is $1, not `me.id`), so each is an InitPlan run once, where a correlated one would be a
 * subplan hashed anew on each run; and the session is found by its id alone, then its user
 * compared, so no plan can walk a user's sessions by `user_id` instead.
 */
export const CALLER_STANDS = standsSql('$1', '$2::uuid', '$3::float8')

/** CALLER_STANDS for a caller held in other expressions (a stored ticket's columns). */
export function standsSql (user: string, session: string, issuedAt: string): string {
  return `case when ${session} is null
    then not exists (select from session_resets r where r.user_id = ${user} and r.reset_at > to_timestamp(${issuedAt}))
    else coalesce((select s.user_id from sessions s where s.id = ${session} and s.expires_at > now()) = ${user}, false) end`
}

/** The token's user row as `me`, when the token still stands. */
export const CALLER_ME = `select me.id from users me where me.id = $1 and ${CALLER_STANDS}`

/** Whether the token still stands (its user exists and its session is live). */
export async function callerStands (db: Queryable, caller: Caller): Promise<boolean> {
  const rows = await run(db, 'caller-stands', CALLER_ME, callerValues(caller))
  return rows.length > 0
}

/** Which of the callers no longer stand (user deleted, session ended): their positions in `callers`. */
export async function endedCallers (db: Queryable, callers: Caller[]): Promise<number[]> {
  if (callers.length === 0) return []
  const { rows } = await db.query<{ i: string }>(`
    select c.i from unnest($1::int[], $2::uuid[], $3::float8[]) with ordinality as c(user_id, session_id, issued_at, i)
     where not (exists (select from users me where me.id = c.user_id) and ${standsSql('c.user_id', 'c.session_id', 'c.issued_at')})`,
  [callers.map(c => c.userId), callers.map(c => c.sessionId), callers.map(c => c.issuedAt)])
  return rows.map(row => Number(row.i) - 1)
}
