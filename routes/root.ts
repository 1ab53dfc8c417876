import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { messageSchema } from '../schemas/common.js'

const root: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.get('/', {
    schema: {
      summary: 'Say hello',
      description: 'A liveness greeting, as the course\'s API answers it.',
      tags: ['Root'],
      response: { 200: messageSchema('A greeting', 'Hello World') }
    }
  }, async function hello () {
    return { message: 'Hello World' }
  })
}

export default root
