import { defineEntity, p } from '@mikro-orm/core'

/**
 * When a user last ended all their sessions or changed their password: a token without a
 * session (`sid`, issued before sessions existed) issued before then is refused.
 * Like `sessions`, it has no foreign key to `users`: the same triggers remove its rows.
 */
export const SessionReset = defineEntity({
  name: 'SessionReset',
  tableName: 'session_resets',
  properties: {
    userId: p.integer().primary().autoincrement(false).fieldName('user_id'),
    resetAt: p.datetime().columnType('timestamptz').fieldName('reset_at')
  }
})
