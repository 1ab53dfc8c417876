import { createHmac, timingSafeEqual } from 'node:crypto'

// HS256 JWTs with node:crypto alone: the bench signs its users' tokens with this, and the
// bare baseline server verifies them with it (the same checks Postline makes).

const HEADER = Buffer.from(JSON.stringify({ alg: 'HS256', typ: 'JWT' })).toString('base64url')

const signature = (secret: string, signingInput: string) =>
  createHmac('sha256', secret).update(signingInput).digest()

export function signToken (secret: string, userId: number, expiresInSeconds = 3600): string {
  const exp = Math.floor(Date.now() / 1000) + expiresInSeconds
  const payload = Buffer.from(JSON.stringify({ user_id: userId, sub: String(userId), exp })).toString('base64url')
  return `${HEADER}.${payload}.${signature(secret, `${HEADER}.${payload}`).toString('base64url')}`
}

/** The token's user id, or undefined when the token is malformed, forged, not HS256 or expired. */
export function verifyToken (secret: string, token: string): number | undefined {
  const [header, payload, sent, extra] = token.split('.')
  if (!header || !payload || !sent || extra !== undefined) return undefined
  try {
    if (JSON.parse(Buffer.from(header, 'base64url').toString()).alg !== 'HS256') return undefined
    const expected = signature(secret, `${header}.${payload}`)
    const given = Buffer.from(sent, 'base64url')
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString())
    if (typeof claims.exp !== 'number' || claims.exp <= Date.now() / 1000) return undefined
    return Number.isInteger(claims.user_id) ? claims.user_id : undefined
  } catch {
    return undefined
  }
}
