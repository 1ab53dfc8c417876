import { defineEntity, p } from '@mikro-orm/core'

/**
 * A login: every access token issued for it carries its id (`sid`), and every protected
 * statement checks that its row still exists, so deleting the row ends the session at once
 * on every process. It lasts until `expires_at` (REFRESH_TOKEN_EXPIRE_DAYS after the login).
 */
export const Session = defineEntity({
  name: 'Session',
  tableName: 'sessions',
  indexes: [
    // A user's sessions, newest first.
    { name: 'sessions_user_id_created_at_index', expression: 'create index "sessions_user_id_created_at_index" on "sessions" ("user_id", "created_at" desc)' }
  ],
  properties: {
    id: p.uuid().primary().defaultRaw('gen_random_uuid()'),
    userId: p.integer().fieldName('user_id'),
    createdAt: p.datetime().columnType('timestamptz').defaultRaw('now()'),
    lastUsedAt: p.datetime().columnType('timestamptz').defaultRaw('now()').fieldName('last_used_at'),
    expiresAt: p.datetime().columnType('timestamptz').fieldName('expires_at'),
    userAgent: p.string().columnType('varchar').nullable().fieldName('user_agent'),
    ip: p.string().columnType('varchar').nullable()
  }
})
