import type { FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { createHash, randomBytes } from 'node:crypto'
import type { Caller } from '../../db/queries/caller.js'
import { findCallerPassword, rotateRefreshToken, startSession, type RefreshOutcome } from '../../db/queries/sessions.js'
import { findCredentialsByEmail } from '../../db/queries/users.js'
import { InvalidCredentialsError } from '../../lib/http-errors.js'
import { PASSWORD_MAX_BYTES } from '../../schemas/common.js'
import { readOAuthForms } from './oauth-form.js'

export interface Grant {
  accessToken: string
  /** Given only when asked for (the token endpoint), never by `/login`. */
  refreshToken?: string
}

export interface Sessions {
  /** The user with that email and password, or undefined: as long either way (no user enumeration). */
  checkCredentials: (email: string, password: string) => Promise<number | undefined>
  /** Starts a session for the user: its access token and, when asked, its first refresh token; undefined when the user was deleted meanwhile. */
  start: (request: FastifyRequest, userId: number, withRefreshToken: boolean) => Promise<Grant | undefined>
  /** Trades a refresh token for a new access token and the next refresh token, or says why not. */
  refresh: (refreshToken: string) => Promise<Grant | Extract<RefreshOutcome, { granted: false }>>
  /** The 403 unless `password` is the caller's; the 401 when the token no longer stands. Returns the hash it matched. */
  confirmPassword: (caller: Caller, password: string) => Promise<string>
}

declare module 'fastify' {
  interface FastifyInstance {
    sessions: Sessions
    /** Makes a route folder's context read OAuth2 forms (`/login`, `/auth/token`). */
    readOAuthForms: typeof readOAuthForms
  }
}

// Opaque refresh tokens: 256 random bits, base64url. Only their SHA-256 is stored: a token
// this random needs no slow hash, and the lookup is one primary-key probe.
const REFRESH_TOKEN_BYTES = 32
const REFRESH_TOKEN = /^[A-Za-z0-9_-]{43}$/
const newRefreshToken = () => randomBytes(REFRESH_TOKEN_BYTES).toString('base64url')
const hashOf = (token: string) => createHash('sha256').update(token).digest()

const USER_AGENT_MAX = 512

/** Sessions: logging in (`/login`, `/auth/token`), refresh-token rotation, and password checks. */
export default fp(async function sessions (fastify) {
  const { config, passwords } = fastify
  // Unknown emails are checked against a hash of the same cost, so both failures take as long.
  const dummyHash = passwords.unmatchableHash(config.BCRYPT_ROUNDS)

  /** Whether `password` is the one hashed; a password over bcrypt's 72 bytes never is (registration refuses them), refused after the compare to take as long. */
  async function matches (password: string, hash: string): Promise<boolean> {
    const same = await passwords.compare(password, hash)
    return same && Buffer.byteLength(password) <= PASSWORD_MAX_BYTES
  }

  fastify.decorate('sessions', {
    async checkCredentials (email, password) {
      const user = await findCredentialsByEmail(fastify.pg, email)
      const right = await matches(password, user?.password ?? dummyHash)
      return user && right ? user.id : undefined
    },

    async start (request, userId, withRefreshToken) {
      const refreshToken = withRefreshToken ? newRefreshToken() : undefined
      const sessionId = await startSession(fastify.pg, {
        userId,
        days: config.REFRESH_TOKEN_EXPIRE_DAYS,
        userAgent: request.headers['user-agent']?.slice(0, USER_AGENT_MAX) ?? null,
        ip: request.ip ?? null,
        refreshHash: refreshToken === undefined ? null : hashOf(refreshToken)
      })
      if (sessionId === undefined) return undefined
      const accessToken = fastify.signAccessToken(userId, sessionId)
      return refreshToken === undefined ? { accessToken } : { accessToken, refreshToken }
    },

    async refresh (refreshToken) {
      if (!REFRESH_TOKEN.test(refreshToken)) return { granted: false, reason: 'unknown' }
      const next = newRefreshToken()
      const outcome = await rotateRefreshToken(fastify.pg, hashOf(refreshToken), hashOf(next))
      if (!outcome.granted) return outcome
      return { accessToken: fastify.signAccessToken(outcome.userId, outcome.sessionId), refreshToken: next }
    },

    async confirmPassword (caller, password) {
      const hash = await findCallerPassword(fastify.pg, caller)
      if (!await matches(password, hash)) throw new InvalidCredentialsError()
      return hash
    }
  } satisfies Sessions)
  fastify.decorate('readOAuthForms', readOAuthForms)
}, { name: 'sessions', dependencies: ['config', 'db', 'auth', 'passwords'] })
