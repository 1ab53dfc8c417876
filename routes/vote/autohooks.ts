import type { FastifyInstance } from 'fastify'

/** Voting needs a logged-in user: checked once the rate limit has counted the request (onRequest), before the body is read. */
export default async function voteHooks (fastify: FastifyInstance) {
  fastify.addHook('preParsing', fastify.authenticate)
}
