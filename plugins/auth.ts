import fastifyJwt from '@fastify/jwt'
import type { FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import type { Caller } from '../db/queries/caller.js'
import { InvalidTokenError, NotAuthenticatedError } from '../lib/http-errors.js'
import { isStoredId } from '../schemas/common.js'
import { isSessionId } from '../schemas/sessions.js'
import { VerifiedTokens } from '../lib/verified-tokens.js'

interface TokenPayload {
  user_id: number
  sub?: string
  /** The session the token belongs to; none in a token issued before sessions existed. */
  sid?: string
  iat?: number
  /** Always there once verified (a required claim). */
  exp?: number
}

declare module '@fastify/jwt' {
  interface FastifyJWT {
    payload: TokenPayload
    user: TokenPayload
  }
}

declare module 'fastify' {
  interface FastifyInstance {
    /**
     * A hook: sets `request.caller` from a valid bearer token or answers 401. It does not
     * read the database: each protected route's statement checks that the user still exists
     * and the token's session is live (the queries in db/queries/ answer the 401), so an
     * ended session's token costs no extra query.
     */
    authenticate: (request: FastifyRequest) => Promise<void>
    /** An access token for the user's session. */
    signAccessToken: (userId: number, sessionId: string) => string
  }
  interface FastifyRequest {
    caller: Caller
    /** When the bearer token expires, in seconds since the epoch (set with `caller`). */
    tokenExpiresAt: number
  }
}

const BEARER = /^bearer$/i
/** A far-future issue time (year 33658) that PostgreSQL's timestamps still hold. */
const LATEST_ISSUE_SECONDS = 1e12
/** How many verified tokens are remembered (a few MB at most). */
const VERIFIED_TOKENS = 10_000

/** JWT (HS256) sign and verify, and the `authenticate` hook that protected routes add. */
export default fp(async function auth (fastify) {
  const { config } = fastify
  await fastify.register(fastifyJwt, {
    secret: config.SECRET_KEY,
    sign: { algorithm: config.ALGORITHM, expiresIn: config.ACCESS_TOKEN_EXPIRE_MINUTES * 60 },
    verify: { algorithms: [config.ALGORITHM], requiredClaims: ['exp'] }
  })

  fastify.decorate('signAccessToken', (userId: number, sessionId: string) =>
    fastify.jwt.sign({ user_id: userId, sub: String(userId), sid: sessionId }))

  // A token without `iat` (the course's) was issued one lifetime before it expires.
  const lifetime = config.ACCESS_TOKEN_EXPIRE_MINUTES * 60
  fastify.decorateRequest('caller', null as unknown as Caller)
  fastify.decorateRequest('tokenExpiresAt', 0)
  // Verified tokens are remembered until they expire; the user and the session are still
  // checked by SQL on every request.
  const verified = new VerifiedTokens<TokenPayload>(VERIFIED_TOKENS)
  fastify.decorate('authenticate', async function authenticate (request: FastifyRequest) {
    const header = request.headers.authorization
    if (!header) throw new NotAuthenticatedError()
    const space = header.indexOf(' ')
    const scheme = space === -1 ? header : header.slice(0, space)
    // As FastAPI's OAuth2PasswordBearer: another scheme is "not authenticated" at all.
    if (!BEARER.test(scheme)) throw new NotAuthenticatedError()
    const token = space === -1 ? '' : header.slice(space + 1).trim()
    let payload = verified.get(token)
    if (payload === undefined) {
      try {
        payload = fastify.jwt.verify<TokenPayload>(token)
      } catch {
        throw new InvalidTokenError()
      }
      verified.set(token, payload)
    }
    const { user_id: userId, sid, iat, exp } = payload
    if (typeof userId !== 'number' || !isStoredId(userId)) throw new InvalidTokenError()
    if (sid !== undefined && (typeof sid !== 'string' || !isSessionId(sid))) throw new InvalidTokenError()
    // Held within what a PostgreSQL timestamp can hold (to_timestamp), whatever the claims say.
    const claimed = typeof iat === 'number' && Number.isFinite(iat) ? iat : exp! - lifetime
    const issuedAt = Math.min(Math.max(claimed, 0), LATEST_ISSUE_SECONDS)
    request.caller = { userId, sessionId: sid ?? null, issuedAt }
    request.tokenExpiresAt = exp!
  })
}, { name: 'auth', dependencies: ['config'] })
