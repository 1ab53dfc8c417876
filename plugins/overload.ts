import underPressure from '@fastify/under-pressure'
import fp from 'fastify-plugin'
import { RETRY_AFTER_SECONDS } from '../lib/http-errors.js'

declare module 'fastify' {
  interface FastifyContextConfig {
    /** under-pressure's per-route handler: one that returns nothing lets the request through. */
    pressureHandler?: () => undefined
  }
}

/**
 * Load shedding: while the event loop lags more than MAX_EVENT_LOOP_DELAY ms, new requests
 * get a 503 `{"detail": "Service unavailable"}` with `Retry-After` at once, instead of
 * queueing without bound behind the ones already late. `/health` is let through.
 */
export default fp(async function overload (fastify) {
  const { MAX_EVENT_LOOP_DELAY } = fastify.config
  if (MAX_EVENT_LOOP_DELAY === 0) return
  // A shed request's error (FST_UNDER_PRESSURE, with Retry-After set) is answered by the error handler.
  await fastify.register(underPressure, { maxEventLoopDelay: MAX_EVENT_LOOP_DELAY, retryAfter: RETRY_AFTER_SECONDS })
}, { name: 'overload', dependencies: ['config'] })
