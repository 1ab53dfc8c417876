import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { ServiceUnavailableSchema, faultResponses } from '../../schemas/common.js'

/** Readiness for a load balancer or orchestrator: 200 only while the database answers. */
const ready: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.get('/', {
    config: { rateLimit: false },
    schema: {
      operationId: 'checkReady',
      summary: 'Is the server ready to serve?',
      description: 'Runs `select 1` on the database pool: 200 when it answers, 503 when the database cannot be reached.',
      tags: ['Health'],
      response: {
        200: Type.Object({ status: Type.Literal('ready') }, { title: 'ReadyStatus', description: 'The database answers' }),
        503: ServiceUnavailableSchema,
        ...faultResponses
      }
    }
  }, async function checkReady () {
    // A database error here is a connection failure: the error handler makes it the 503.
    await fastify.pg.query('select 1')
    return { status: 'ready' as const }
  })
}

export default ready
