/** Every migration Postline ships, in order, as MikroORM records them: what a migrated database holds. */
export const MIGRATIONS = [
  'Migration20261121112919_initial',
  'Migration20261121112924_indexes',
  'Migration20261121120513_vote_counts_and_search',
  'Migration20261205130602_vote_counts_without_foreign_key',
  'Migration20261206024914_ranked_feeds',
  'Migration20261206054429_sessions',
  'Migration20261206153605_stream',
  'Migration20261207050000_vote_counts_truncate_events',
  'Migration20261207211508_stream_event_columns',
  'Migration20261207232000_post_hot_inlined',
  'Migration20261207234500_stream_votes_lean',
  'Migration20261208001000_stream_owners_and_renumbered_posts',
  'Migration20261208030000_stream_lock_in_insert'
]
