import { InvalidTokenError } from '../../lib/http-errors.js'
import { missingReference } from '../errors.js'
import { run, storedIdOrNone, type Queryable } from './queryable.js'
import { CALLER_ME, callerStands, callerValues, type Caller } from './caller.js'

/** What a vote found and did (the token stands: else the 401 is thrown). */
export interface VoteOutcome {
  post: boolean
  /** The vote was added (dir 1) or removed (dir 0). */
  done: boolean
}

/** A statement's row: also whether the token stands. */
export type VoteOutcomeRow = VoteOutcome & { me: boolean }

// One round trip: the user and post checks and the write. A post deleted between the check
// and the insert makes the insert fail its foreign key, which is answered as a missing post.

/** $1-$3 caller, $4 post. */
export const ADD_VOTE_SQL = `
with me as (${CALLER_ME}),
     post as (select id from posts where id = $4),
     added as (insert into votes (user_id, post_id) select me.id, post.id from me, post on conflict do nothing returning 1)
select exists (select from me) as me, exists (select from post) as post, exists (select from added) as done`

/** $1-$3 caller, $4 post. */
export const REMOVE_VOTE_SQL = `
with me as (${CALLER_ME}),
     post as (select id from posts where id = $4),
     removed as (delete from votes v using me where v.user_id = me.id and v.post_id = $4 returning 1)
select exists (select from me) as me, exists (select from post) as post, exists (select from removed) as done`

/** Adds (dir 1) or removes (dir 0) the token's user's vote; the 401 when the token no longer stands. */
export async function castVote (db: Queryable, caller: Caller, postId: number, dir: 0 | 1): Promise<VoteOutcome> {
  const values = [...callerValues(caller), storedIdOrNone(postId)]
  let row: VoteOutcomeRow
  try {
    [row] = dir === 1
      ? await run<VoteOutcomeRow>(db, 'add-vote', ADD_VOTE_SQL, values) as [VoteOutcomeRow]
      : await run<VoteOutcomeRow>(db, 'remove-vote', REMOVE_VOTE_SQL, values) as [VoteOutcomeRow]
  } catch (err) {
    // The user or the post was deleted (and committed) while the vote was being added.
    const missing = await missingReference(db, err)
    if (missing === 'users') throw new InvalidTokenError()
    if (missing === 'posts') return { post: false, done: false }
    throw err
  }
  // A vote not removed may have gone with its user, deleted while this statement waited for the row.
  const userGone = !row.me || (dir === 0 && !row.done && !await callerStands(db, caller))
  if (userGone) throw new InvalidTokenError()
  return { post: row.post, done: row.done }
}
