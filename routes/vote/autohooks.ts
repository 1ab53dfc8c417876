import type { FastifyInstance } from 'fastify'

/** Voting needs a logged-in user, checked before the body is even read. */
export default async function voteHooks (fastify: FastifyInstance) {
  fastify.addHook('onRequest', fastify.authenticate)
}
