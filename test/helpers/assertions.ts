import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import type { Test } from 'tap'
import { sql, type TestUser } from './app.js'

type Loc = (string | number)[]

/** A 422 in FastAPI's shape whose problems are at exactly `expected` (in any order), each with a msg and a type. */
export function assertValidationError (t: Test, response: LightMyRequestResponse, expected: Loc[], message = 'validation error') {
  t.equal(response.statusCode, 422, message)
  const { detail } = response.json() as { detail: { loc: Loc, msg: string, type: string }[] }
  const byText = (a: Loc, b: Loc) => JSON.stringify(a).localeCompare(JSON.stringify(b))
  t.strictSame(detail.map(entry => entry.loc).sort(byText), [...expected].sort(byText), message)
  for (const entry of detail) t.match(entry, { msg: String, type: String }, message)
}

/** POST /vote with any body. */
export const postVote = (app: FastifyInstance, user: TestUser, payload: unknown) =>
  app.inject({ method: 'POST', url: '/vote', headers: user.headers, payload: payload as object })

/** POST /vote for `postId` in direction `dir`. */
export const castVote = (app: FastifyInstance, user: TestUser, postId: number, dir: number) =>
  postVote(app, user, { post_id: postId, dir })

/** `select count(*) from <query>`. */
export async function countRows (app: FastifyInstance, query: string, params: unknown[] = []): Promise<number> {
  const [row] = await sql<{ n: number }>(app, `select count(*)::int as n from ${query}`, params)
  return row!.n
}

/** Every row a request could write (vote_counts' zero rows aside), in a stable order, to compare before and after. */
export async function snapshot (app: FastifyInstance) {
  return {
    users: await sql(app, 'select id, email, password, created_at::text from users order by id'),
    posts: await sql(app, 'select id, title, content, published, created_at::text, owner_id from posts order by id'),
    votes: await sql(app, 'select user_id, post_id from votes order by user_id, post_id'),
    voteCounts: await sql(app, 'select post_id, votes from vote_counts where votes <> 0 order by post_id'),
    sessions: await sql(app, 'select id, user_id, created_at::text, last_used_at::text, expires_at::text from sessions order by id'),
    refreshTokens: await sql(app, 'select hash, session_id, used_at::text from refresh_tokens order by hash'),
    sessionResets: await sql(app, 'select user_id, reset_at::text from session_resets order by user_id')
  }
}
