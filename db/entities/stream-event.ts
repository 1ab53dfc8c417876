import { defineEntity, p } from '@mikro-orm/core'

/**
 * The change feed: one row per committed change to a post or its vote count, written by
 * triggers (whoever made the change) as the transaction commits, numbered in that order as
 * near as PostgreSQL allows (the stream's reader closes the gaps; see plugins/stream/).
 * Each row holds the values its event shows, as columns: the readers write the JSON
 * (db/queries/stream.ts), so that a write pays for none. Kept for the replay window only.
 */
export const StreamEvent = defineEntity({
  name: 'StreamEvent',
  tableName: 'stream_events',
  properties: {
    id: p.bigint('number').primary().autoincrement(),
    createdAt: p.datetime().columnType('timestamptz').defaultRaw('now()').fieldName('created_at'),
    postId: p.integer().fieldName('post_id'),
    type: p.string().columnType('varchar'),
    // post.created and post.updated: the post as committed, and its owner.
    title: p.string().columnType('varchar').nullable(),
    content: p.string().columnType('varchar').nullable(),
    published: p.boolean().nullable(),
    postCreatedAt: p.datetime().columnType('timestamptz').nullable().fieldName('post_created_at'),
    ownerId: p.integer().nullable().fieldName('owner_id'),
    ownerEmail: p.string().columnType('varchar').nullable().fieldName('owner_email'),
    ownerCreatedAt: p.datetime().columnType('timestamptz').nullable().fieldName('owner_created_at'),
    // post.votes: the count after the change.
    votes: p.integer().nullable()
  }
})
