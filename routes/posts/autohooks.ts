import type { FastifyInstance } from 'fastify'

/** Every posts route needs a logged-in user: checked once the rate limit has counted the request (onRequest), before the body is read. */
export default async function postsHooks (fastify: FastifyInstance) {
  fastify.addHook('preParsing', fastify.authenticate)
}
