import { defineEntity, p } from '@mikro-orm/core'
import { Post } from './post.js'
import { User } from './user.js'

export const Vote = defineEntity({
  name: 'Vote',
  tableName: 'votes',
  indexes: [{ name: 'votes_post_id_index', properties: ['post'] }],
  properties: {
    user: () => p.manyToOne(User).primary().fieldName('user_id').deleteRule('cascade'),
    post: () => p.manyToOne(Post).primary().fieldName('post_id').deleteRule('cascade')
  }
})
