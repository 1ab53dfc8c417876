import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { faultResponses, limitedResponses } from '../schemas/common.js'

const MessageSchema = Type.Object({ message: Type.String({ examples: ['Hello World'] }) }, { title: 'Message', description: 'A greeting' })

const root: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.get('/', {
    schema: {
      operationId: 'getRoot',
      summary: 'Say hello',
      description: 'A liveness greeting, as the course\'s API answers it.',
      tags: ['Root'],
      response: { 200: MessageSchema, ...limitedResponses, ...faultResponses }
    }
  }, async function hello () {
    return { message: 'Hello World' }
  })
}

export default root
