import { isMissingReference, run, type Queryable } from './queryable.js'

export interface VoteOutcome {
  /** False when the token's user no longer exists. */
  me: boolean
  post: boolean
  /** The vote was added (dir 1) or removed (dir 0). */
  done: boolean
}

// One round trip: the user and post checks and the write. A post deleted between the check
// and the insert makes the insert fail its foreign key, which is answered as a missing post.

/** $1 user, $2 post. */
export const ADD_VOTE_SQL = `
with me as (select id from users where id = $1),
     post as (select id from posts where id = $2),
     added as (insert into votes (user_id, post_id) select me.id, post.id from me, post on conflict do nothing returning 1)
select exists (select from me) as me, exists (select from post) as post, exists (select from added) as done`

/** $1 user, $2 post. */
export const REMOVE_VOTE_SQL = `
with me as (select id from users where id = $1),
     post as (select id from posts where id = $2),
     removed as (delete from votes v using me where v.user_id = me.id and v.post_id = $2 returning 1)
select exists (select from me) as me, exists (select from post) as post, exists (select from removed) as done`

export async function castVote (db: Queryable, userId: number, postId: number, dir: 0 | 1): Promise<VoteOutcome> {
  let outcome: VoteOutcome
  try {
    [outcome] = dir === 1
      ? await run<VoteOutcome>(db, 'add-vote', ADD_VOTE_SQL, [userId, postId]) as [VoteOutcome]
      : await run<VoteOutcome>(db, 'remove-vote', REMOVE_VOTE_SQL, [userId, postId]) as [VoteOutcome]
  } catch (err) {
    // The user or the post was deleted (and committed) while the vote was being added.
    if (isMissingReference(err, 'users')) return { me: false, post: true, done: false }
    if (isMissingReference(err, 'posts')) return { me: true, post: false, done: false }
    throw err
  }
  if (dir === 0 && outcome.me && !outcome.done) {
    // The vote may have gone with its user, deleted while this statement waited for the row.
    outcome.me = (await run(db, 'user-exists', 'select 1 from users where id = $1', [userId])).length > 0
  }
  return outcome
}
