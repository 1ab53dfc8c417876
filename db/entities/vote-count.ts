import { defineEntity, p } from '@mikro-orm/core'

/**
 * A post's number of votes, kept exact by triggers on `votes` (see the vote_counts
 * migrations) so that the feed reads one row per post instead of counting votes.
 * It has no foreign key to `posts`: one would make `truncate posts, votes` (a course
 * database's usual reset) fail, so triggers on `posts` remove a deleted post's counter.
 */
export const VoteCount = defineEntity({
  name: 'VoteCount',
  tableName: 'vote_counts',
  properties: {
    postId: p.integer().primary().autoincrement(false).fieldName('post_id'),
    votes: p.integer()
  }
})
