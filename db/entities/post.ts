import { defineEntity, p } from '@mikro-orm/core'
import { User } from './user.js'

export const Post = defineEntity({
  name: 'Post',
  tableName: 'posts',
  indexes: [
    { name: 'posts_created_at_id_index', expression: 'create index "posts_created_at_id_index" on "posts" ("created_at" desc, "id" desc)' },
    // A user's posts, newest first (and the owner's side of the foreign key).
    { name: 'posts_owner_id_created_at_id_index', expression: 'create index "posts_owner_id_created_at_id_index" on "posts" ("owner_id", "created_at" desc, "id" desc)' },
    // Trigram index for `search` (ILIKE '%word%'); pg_trgm ships with PostgreSQL's contrib modules.
    { name: 'posts_title_trgm_index', expression: 'create index "posts_title_trgm_index" on "posts" using gin ("title" gin_trgm_ops)' }
  ],
  properties: {
    id: p.integer().primary().autoincrement(),
    title: p.string().columnType('varchar'),
    content: p.string().columnType('varchar'),
    published: p.boolean().default(true),
    createdAt: p.datetime().columnType('timestamptz').defaultRaw('now()'),
    owner: () => p.manyToOne(User).fieldName('owner_id').deleteRule('cascade')
  }
})
