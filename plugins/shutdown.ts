import fp from 'fastify-plugin'
import { RETRY_AFTER_SECONDS } from '../lib/http-errors.js'

/**
 * While the server drains on its way down, a request that still arrives on an open
 * connection is answered 503 `{"detail": "Service unavailable"}` with `Retry-After` (and
 * `Connection: close`), so a load balancer sends it elsewhere. Fastify's own answer for this
 * (`return503OnClosing`, off in the server options) has no `detail` and no `Retry-After`.
 */
export default fp(async function shutdown (fastify) {
  let draining = false
  fastify.addHook('preClose', async function stopTakingRequests () {
    draining = true
  })
  fastify.addHook('onRequest', function refuseWhileDraining (_request, reply, done) {
    if (!draining) return done()
    reply.code(503).header('retry-after', RETRY_AFTER_SECONDS).send({ detail: 'Service unavailable' })
  })
}, { name: 'shutdown' })
