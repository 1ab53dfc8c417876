import type { Static } from 'typebox'
import { InvalidTokenError } from '../../lib/http-errors.js'
import type { LogoutScope, SessionSchema } from '../../schemas/sessions.js'
import { toRfc3339 } from '../timestamps.js'
import { CALLER_ME, CALLER_STANDS, callerValues, type Caller } from './caller.js'
import { run, type Queryable } from './queryable.js'

/** A live session as the API lists it. */
export type SessionOut = Static<typeof SessionSchema>

export interface NewSession {
  userId: number
  days: number
  userAgent: string | null
  ip: string | null
  /** The SHA-256 of the session's first refresh token; none for a `/login` session. */
  refreshHash: Buffer | null
}

/**
 * Starts a session (dropping the user's expired ones); its id, or undefined when the user
 * was deleted meanwhile. The user's row is locked (key share) until the session is in, so a
 * deletion racing it waits, and its trigger then removes the new session too.
 */
export async function startSession (db: Queryable, session: NewSession): Promise<string | undefined> {
  const [row] = await run<{ id: string }>(db, 'start-session', `
    with expired as (delete from sessions where user_id = $1 and expires_at <= now()),
         session as (insert into sessions (user_id, expires_at, user_agent, ip)
                     select id, now() + make_interval(days => $2::int), $3, $4 from users where id = $1 for key share
                     returning id),
         token as (insert into refresh_tokens (hash, session_id) select $5::bytea, id from session where $5::bytea is not null)
    select id from session`, [session.userId, session.days, session.userAgent, session.ip, session.refreshHash])
  return row?.id
}

export type RefreshOutcome =
  | { granted: true, userId: number, sessionId: string }
  | { granted: false, reason: 'unknown' | 'reused' | 'stolen' }

/** How long a retired refresh token may come back (a client's racing retry) before it counts as stolen. */
const RETRY_GRACE = '10 seconds'

/**
 * Retires the refresh token (by hash) and gives its live session `nextHash` instead. A token
 * already retired is refused; retired longer than RETRY_GRACE ago, it ends its session too.
 * The update's `used_at is null` makes concurrent refreshes with one token grant it once.
 */
export async function rotateRefreshToken (db: Queryable, hash: Buffer, nextHash: Buffer): Promise<RefreshOutcome> {
  // The session's row is locked before the token's, in the order an account's deletion takes
  // them (the session, then its tokens by cascade): the other order deadlocked with it.
  const [row] = await run<{ session_id: string, user_id: number }>(db, 'rotate-refresh-token', `
    with session as (select s.id, s.user_id
                       from refresh_tokens t join sessions s on s.id = t.session_id join users u on u.id = s.user_id
                      where t.hash = $1 and t.used_at is null and s.expires_at > now()
                        for no key update of s),
         token as (update refresh_tokens t set used_at = now() from session
                     where t.hash = $1 and t.used_at is null and t.session_id = session.id
                    returning t.session_id, session.user_id),
         fresh as (insert into refresh_tokens (hash, session_id) select $2, session_id from token),
         touched as (update sessions s set last_used_at = now() from token where s.id = token.session_id)
    select session_id, user_id from token`, [hash, nextHash])
  if (row) return { granted: true, userId: row.user_id, sessionId: row.session_id }
  const [refused] = await run<{ stolen: boolean }>(db, 'refuse-refresh-token', `
    with token as (select session_id, used_at < now() - interval '${RETRY_GRACE}' as stolen from refresh_tokens where hash = $1 and used_at is not null),
         ended as (delete from sessions s using token where s.id = token.session_id and token.stolen)
    select stolen from token`, [hash])
  if (!refused) return { granted: false, reason: 'unknown' }
  return { granted: false, reason: refused.stolen ? 'stolen' : 'reused' }
}

/** The caller's live sessions, newest first; the 401 when the token no longer stands. */
export async function listSessions (db: Queryable, caller: Caller): Promise<SessionOut[]> {
  const rows = await run<SessionOut & { id: string | null }>(db, 'list-sessions', `
    select s.id, s.created_at, s.last_used_at, s.user_agent, s.ip, s.id is not distinct from $2::uuid as current
      from users me
      left join sessions s on s.user_id = me.id and s.expires_at > now()
     where me.id = $1 and ${CALLER_STANDS}
     order by s.created_at desc, s.id desc`, callerValues(caller))
  if (rows.length === 0) throw new InvalidTokenError()
  return rows.filter(row => row.id !== null).map(row => ({
    ...row,
    created_at: toRfc3339(row.created_at),
    last_used_at: toRfc3339(row.last_used_at)
  }))
}

// Tokens without a session (`sid`) are ended together, by a reset that refuses every one issued
// before now: one such token cannot be told from the others (nor, when it is the caller's, kept
// while they end). A caller with a session ends them with its "others", and keeps its own.
const ENDED_SESSIONS: Record<LogoutScope, { sessions: string, reset: string }> = {
  local: { sessions: 's.id = $2::uuid', reset: 'case when $2::uuid is null then now() end' },
  others: { sessions: 's.id is distinct from $2::uuid', reset: 'now()' },
  global: { sessions: 'true', reset: 'now()' }
}

/** `with` entries that end the sessions of `me` that `scope` names, and refuse tokens without a session issued before the reset. */
const endSessionsOf = (scope: LogoutScope) => `
         ended as (delete from sessions s using me where s.user_id = me.id and ${ENDED_SESSIONS[scope].sessions}),
         reset as (insert into session_resets (user_id, reset_at)
                   select me.id, ${ENDED_SESSIONS[scope].reset} from me where ${ENDED_SESSIONS[scope].reset} is not null
                   on conflict (user_id) do update set reset_at = greatest(session_resets.reset_at, excluded.reset_at))`

/** Ends the caller's session (`local`), the user's other sessions or all of them; the 401 when the token no longer stands. */
export async function endSessions (db: Queryable, caller: Caller, scope: LogoutScope): Promise<void> {
  const rows = await run(db, `end-sessions-${scope}`, `with me as (${CALLER_ME}),${endSessionsOf(scope)} select from me`, callerValues(caller))
  if (rows.length === 0) throw new InvalidTokenError()
}

/** Ends one of the caller's user's live sessions; false when it is not one; the 401 when the token no longer stands. */
export async function endSession (db: Queryable, caller: Caller, sessionId: string | null): Promise<boolean> {
  const [row] = await run<{ ended: boolean }>(db, 'end-session', `
    with me as (${CALLER_ME}),
         ended as (delete from sessions s using me where s.id = $4::uuid and s.user_id = me.id and s.expires_at > now() returning 1)
    select exists (select from ended) as ended from me`, [...callerValues(caller), sessionId])
  if (!row) throw new InvalidTokenError()
  return row.ended
}

/** The caller's password hash; the 401 when the token no longer stands. */
export async function findCallerPassword (db: Queryable, caller: Caller): Promise<string> {
  const [row] = await run<{ password: string }>(db, 'caller-password',
    `select me.password from users me where me.id = $1 and ${CALLER_STANDS}`, callerValues(caller))
  if (!row) throw new InvalidTokenError()
  return row.password
}

/**
 * Replaces the caller's password hash `current` with `next` and ends the user's other
 * sessions, in one statement; false when the hash was no longer `current` (changed meanwhile).
 */
export async function changePassword (db: Queryable, caller: Caller, current: string, next: string): Promise<boolean> {
  const rows = await run(db, 'change-password', `
    with me as (update users me set password = $5 where me.id = $1 and me.password = $4 and ${CALLER_STANDS} returning me.id),${endSessionsOf('others')}
    select from me`, [...callerValues(caller), current, next])
  return rows.length > 0
}

/**
 * Deletes the caller's user, whose password hash is `current`: its posts and votes by the
 * foreign keys' cascade, its sessions by trigger, all in one statement; false when the hash
 * was no longer `current`.
 */
export async function deleteAccount (db: Queryable, caller: Caller, current: string): Promise<boolean> {
  const rows = await run(db, 'delete-account',
    `delete from users me where me.id = $1 and me.password = $4 and ${CALLER_STANDS} returning 1`, [...callerValues(caller), current])
  return rows.length > 0
}
