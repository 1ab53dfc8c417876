import { createHmac, timingSafeEqual } from 'node:crypto'
import type { Caller } from '../db/queries/caller.js'

// HS256 JWTs with node:crypto alone: the bench signs its users' tokens with this, and the
// bare baseline server verifies them with it (the same checks Postline makes).

const HEADER = Buffer.from(JSON.stringify({ alg: 'HS256', typ: 'JWT' })).toString('base64url')

/** What Postline takes for an access token's lifetime when the token has no `iat` (ACCESS_TOKEN_EXPIRE_MINUTES' default). */
const LIFETIME_SECONDS = 3600

const SESSION_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

const signature = (secret: string, signingInput: string) =>
  createHmac('sha256', secret).update(signingInput).digest()

/** An access token as Postline signs one: the user, its session (`sid`, left out when null) and `iat`. */
export function signToken (secret: string, userId: number, sessionId: string | null, expiresInSeconds = LIFETIME_SECONDS): string {
  const iat = Math.floor(Date.now() / 1000)
  const claims = { user_id: userId, sub: String(userId), ...(sessionId === null ? {} : { sid: sessionId }), iat, exp: iat + expiresInSeconds }
  const payload = Buffer.from(JSON.stringify(claims)).toString('base64url')
  return `${HEADER}.${payload}.${signature(secret, `${HEADER}.${payload}`).toString('base64url')}`
}

/**
 * Who the token speaks for (`issuedAt` is `iat`, or one lifetime before `exp` without it), or
 * undefined when the token is malformed, forged, not HS256, expired, or its `sid` is not a uuid.
 */
export function verifyToken (secret: string, token: string): Caller | undefined {
  const [header, payload, sent, extra] = token.split('.')
  if (!header || !payload || !sent || extra !== undefined) return undefined
  try {
    if (JSON.parse(Buffer.from(header, 'base64url').toString()).alg !== 'HS256') return undefined
    const expected = signature(secret, `${header}.${payload}`)
    const given = Buffer.from(sent, 'base64url')
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString())
    if (typeof claims.exp !== 'number' || claims.exp <= Date.now() / 1000) return undefined
    if (!Number.isInteger(claims.user_id)) return undefined
    if (claims.sid !== undefined && (typeof claims.sid !== 'string' || !SESSION_ID.test(claims.sid))) return undefined
    const issuedAt = typeof claims.iat === 'number' && Number.isFinite(claims.iat) ? claims.iat : claims.exp - LIFETIME_SECONDS
    return { userId: claims.user_id, sessionId: claims.sid ?? null, issuedAt }
  } catch {
    return undefined
  }
}
