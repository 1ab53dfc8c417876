import type { FastifyInstance } from 'fastify'

/** Every posts route needs a logged-in user, checked before the body is even read. */
export default async function postsHooks (fastify: FastifyInstance) {
  fastify.addHook('onRequest', fastify.authenticate)
}
