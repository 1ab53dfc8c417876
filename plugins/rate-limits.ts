import rateLimit from '@fastify/rate-limit'
import type { FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { TooManyRequestsError } from '../lib/http-errors.js'

declare module 'fastify' {
  interface FastifyInstance {
    /**
     * A `preHandler` for the routes that take a password (login, token, registration, password
     * change, account deletion): at most LOGIN_RATE_LIMIT attempts a minute
     * per client IP and, counted apart, per account (the body's `username` or `email`).
     */
    limitAttempts: (request: FastifyRequest, reply: FastifyReply) => Promise<void>
  }
}

const MINUTE = 60_000

/** The account a login (`username`) or a registration (`email`) is for, in one letter case. */
function accountOf (request: FastifyRequest): string | undefined {
  const body = request.body as { username?: unknown, email?: unknown } | undefined
  const account = body?.username ?? body?.email
  return typeof account === 'string' ? account.trim().toLowerCase() : undefined
}

const seconds = (count: number) => `${count} second${count === 1 ? '' : 's'}`

/**
 * Rate limits (429 with `Retry-After`): RATE_LIMIT requests a minute per client IP on every
 * route, and the stricter attempt limits for login and registration. Counts live in Redis
 * when REDIS_URL is set, so that every process sees the same ones, else in memory. A Redis
 * outage lets requests through (and is logged) rather than failing them.
 */
export default fp(async function rateLimits (fastify) {
  const { config, redis } = fastify
  await fastify.register(rateLimit, {
    global: config.RATE_LIMIT > 0,
    max: config.RATE_LIMIT || 1,
    timeWindow: MINUTE,
    ...(redis ? { redis } : {}),
    nameSpace: 'postline-rate-limit:',
    skipOnError: true,
    errorResponseBuilder: (_request, context) => new TooManyRequestsError(seconds(Math.ceil(context.ttl / 1000)))
  })

  const attempts = config.LOGIN_RATE_LIMIT
  const perAddress = fastify.createRateLimit({ max: attempts, timeWindow: MINUTE, keyGenerator: request => `attempts-ip:${request.ip}` })
  const perAccount = fastify.createRateLimit({ max: attempts, timeWindow: MINUTE, keyGenerator: request => `attempts-account:${accountOf(request)}` })

  fastify.decorate('limitAttempts', async function limitAttempts (request: FastifyRequest, reply: FastifyReply) {
    if (attempts === 0) return
    const limits = await Promise.all(accountOf(request) ? [perAddress(request), perAccount(request)] : [perAddress(request)])
    for (const limit of limits) {
      if (!limit.isAllowed && limit.isExceeded) {
        reply.header('retry-after', limit.ttlInSeconds)
        throw new TooManyRequestsError(seconds(limit.ttlInSeconds))
      }
    }
  })
}, { name: 'rate-limits', dependencies: ['config', 'redis'] })
