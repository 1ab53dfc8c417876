import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { ShuttingDownSchema, faultResponses } from '../../schemas/common.js'

/** Liveness: the process answers. It reads nothing, so a database outage does not fail it. */
const health: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.get('/', {
    // Alive even when overloaded or limited: an orchestrator must not restart a busy process.
    config: { rateLimit: false, pressureHandler: () => undefined },
    schema: {
      operationId: 'checkHealth',
      summary: 'Is the process alive?',
      description: 'Always 200 while the process serves (503 once it is shutting down); see `/ready` for the database.',
      tags: ['Health'],
      response: { 200: Type.Object({ status: Type.Literal('ok') }, { title: 'HealthStatus', description: 'The process is alive' }), 503: ShuttingDownSchema, ...faultResponses }
    }
  }, async function alive () {
    return { status: 'ok' as const }
  })
}

export default health
