import { defineEntity, p } from '@mikro-orm/core'
import { Session } from './session.js'

/**
 * Every refresh token a session was given, by the SHA-256 of the token (the token itself is
 * never stored). `used_at` marks a token retired by a refresh: presenting it again is reuse.
 */
export const RefreshToken = defineEntity({
  name: 'RefreshToken',
  tableName: 'refresh_tokens',
  indexes: [{ name: 'refresh_tokens_session_id_index', properties: ['session'] }],
  properties: {
    hash: p.type('Buffer').columnType('bytea').primary(),
    session: () => p.manyToOne(Session).fieldName('session_id').deleteRule('cascade'),
    usedAt: p.datetime().columnType('timestamptz').nullable().fieldName('used_at')
  }
})
