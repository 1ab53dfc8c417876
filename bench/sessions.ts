import type pg from 'pg'

// The sessions the bench's access tokens belong to, and those its logins start: each is marked
// by its user agent, so that the bench removes exactly what it made (and what an earlier,
// interrupted run left behind), never a session of anyone else.

/** The user agent of the sessions the bench's tokens belong to; every session the bench starts has one that begins with it. */
export const BENCH_USER_AGENT = 'postline-bench'

/** The user agent of the sessions the `refresh` scenario starts (removed after each of its runs). */
export const REFRESH_USER_AGENT = `${BENCH_USER_AGENT} refresh`

/** The user agent of the sessions the `login` scenario's logins start. */
export const LOGIN_USER_AGENT = `${BENCH_USER_AGENT} login`

/** How long the bench's own sessions last: longer than any run. */
const LIFETIME = '1 day'

/**
 * A live session for each of the users 1..`users` (those the bench signs tokens for): their
 * ids by user id. Any session an earlier bench left is removed first, so starting again is
 * idempotent. Its refresh tokens (none here) go with a session by the foreign key's cascade.
 */
export async function startBenchSessions (db: pg.Client, users: number): Promise<Map<number, string>> {
  await endBenchSessions(db)
  const { rows } = await db.query<{ id: string, user_id: number }>(`
    insert into sessions (user_id, expires_at, user_agent)
    select id, now() + interval '${LIFETIME}', $2 from users where id <= $1 order by id
    returning id, user_id`, [users, BENCH_USER_AGENT])
  // Planned on statistics (Postline probes it by primary key on every protected request).
  await db.query('analyze sessions')
  return new Map(rows.map(row => [row.user_id, row.id]))
}

/** Removes the sessions the bench started (and, by cascade, their refresh tokens): all of them, or those of one user agent. */
export async function endBenchSessions (db: pg.Client, userAgent?: string): Promise<void> {
  if (userAgent === undefined) await db.query('delete from sessions where starts_with(user_agent, $1)', [BENCH_USER_AGENT])
  else await db.query('delete from sessions where user_agent = $1', [userAgent])
}
