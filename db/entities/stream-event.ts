import { defineEntity, p } from '@mikro-orm/core'

/**
 * The change feed: one row per committed change to a post or its vote count, written by
 * triggers (whoever made the change) as the transaction commits, numbered in that order as
 * near as PostgreSQL allows (the stream's reader closes the gaps; see plugins/stream/).
 * `data` is the event's JSON as clients get it. Kept for the replay window only.
 */
export const StreamEvent = defineEntity({
  name: 'StreamEvent',
  tableName: 'stream_events',
  properties: {
    id: p.bigint('number').primary().autoincrement(),
    createdAt: p.datetime().columnType('timestamptz').defaultRaw('now()').fieldName('created_at'),
    postId: p.integer().fieldName('post_id'),
    type: p.string().columnType('varchar'),
    data: p.text()
  }
})
