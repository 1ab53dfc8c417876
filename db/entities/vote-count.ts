import { defineEntity, p } from '@mikro-orm/core'

/**
 * A post's ranks: its number of votes and its `hot` rank, with a copy of its `created_at`,
 * one row per post, kept exact by triggers on `votes` and `posts` (see the vote_counts
 * migrations). The feed reads one row per post instead of counting votes, and the ranked
 * feeds walk this table's indexes.
 * It has no foreign key to `posts`: one would make `truncate posts, votes` (a course
 * database's usual reset) fail, so triggers on `posts` remove a deleted post's row.
 */
export const VoteCount = defineEntity({
  name: 'VoteCount',
  tableName: 'vote_counts',
  indexes: [
    { name: 'vote_counts_hot_index', expression: 'create index "vote_counts_hot_index" on "vote_counts" ("hot" desc, "post_id" desc)' },
    { name: 'vote_counts_top_index', expression: 'create index "vote_counts_top_index" on "vote_counts" ("votes" desc, "created_at" desc, "post_id" desc)' }
  ],
  properties: {
    postId: p.integer().primary().autoincrement(false).fieldName('post_id'),
    votes: p.integer(),
    createdAt: p.datetime().columnType('timestamptz').fieldName('created_at'),
    hot: p.double().columnType('double precision')
  }
})
