import { defineEntity, p } from '@mikro-orm/core'

/**
 * A single-use ticket for `GET /stream?ticket=` (browsers' EventSource cannot send a header),
 * by the SHA-256 of the ticket. It speaks for the access token it was issued to: the same
 * user, session and issue time, and the stream it opens ends when that token expires.
 */
export const StreamTicket = defineEntity({
  name: 'StreamTicket',
  tableName: 'stream_tickets',
  properties: {
    hash: p.type('Buffer').columnType('bytea').primary(),
    userId: p.integer().fieldName('user_id'),
    sessionId: p.uuid().nullable().fieldName('session_id'),
    issuedAt: p.double().fieldName('issued_at'),
    tokenExpiresAt: p.datetime().columnType('timestamptz').fieldName('token_expires_at'),
    expiresAt: p.datetime().columnType('timestamptz').fieldName('expires_at')
  }
})
