import { defineEntity, p } from '@mikro-orm/core'
import { Post } from './post.js'

/**
 * A post's number of votes, kept exact by triggers on `votes` (see the vote_counts
 * migration) so that the feed reads one row per post instead of counting votes.
 */
export const VoteCount = defineEntity({
  name: 'VoteCount',
  tableName: 'vote_counts',
  properties: {
    post: () => p.oneToOne(Post).primary().owner().fieldName('post_id').deleteRule('cascade'),
    votes: p.integer()
  }
})
