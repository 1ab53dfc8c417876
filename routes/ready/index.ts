import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { ServiceUnavailableSchema, faultResponses } from '../../schemas/common.js'
import { ReadySchema } from '../../schemas/ready.js'

/** Readiness for a load balancer or orchestrator: 200 only while the primary database answers. */
const ready: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.get('/', {
    config: { rateLimit: false },
    schema: {
      operationId: 'checkReady',
      summary: 'Is the server ready to serve?',
      description: 'Runs `select 1` on the primary database: 200 when it answers, 503 when it cannot be reached. With read replicas, also says which serve reads; a replica that is down or lagging does not make the server unready (reads go to the primary). With the read cache on, its counts.',
      tags: ['Health'],
      response: {
        200: ReadySchema,
        503: ServiceUnavailableSchema,
        ...faultResponses
      }
    }
  }, async function checkReady () {
    // A database error here is a connection failure: the error handler makes it the 503.
    await fastify.pg.query('select 1')
    const replicas = fastify.replicaStatuses()
    const cache = fastify.readCache.status()
    return {
      status: 'ready' as const,
      ...(replicas.length === 0 ? {} : { databases: { primary: 'up' as const, replicas } }),
      ...(cache === undefined ? {} : { cache })
    }
  })
}

export default ready
