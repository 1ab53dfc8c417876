import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { endSession, endSessions, listSessions } from '../../db/queries/sessions.js'
import { SessionNotFoundError } from '../../lib/http-errors.js'
import { UnauthorizedSchema, ValidationErrorSchema, bearerSecurity, bodyResponses, errorResponse, faultResponses, limitedResponses } from '../../schemas/common.js'
import { LogoutQuerySchema, SessionParamsSchema, SessionSchema, isSessionId } from '../../schemas/sessions.js'

/** Ending sessions and listing them; the token endpoint is in token/. */
const auth: FastifyPluginAsyncTypebox = async (fastify) => {
  const common = { tags: ['Authentication'], security: bearerSecurity }

  fastify.post('/logout', {
    preParsing: fastify.authenticate,
    schema: {
      ...common,
      operationId: 'logout',
      summary: 'Log out: end this session, the others, or all',
      description: 'Ends the token\'s session; `scope=others` ends the user\'s other sessions instead, `scope=global` all of them. An ended session\'s access tokens are refused (401) at once, and its refresh tokens no longer work. A token from before sessions (without `sid`) has none of its own: ending "this session" refuses every such token of the user.',
      querystring: LogoutQuerySchema,
      response: { 204: Type.Null({ description: 'Ended' }), 401: UnauthorizedSchema, ...bodyResponses(), 422: ValidationErrorSchema, ...limitedResponses, ...faultResponses }
    }
  }, async function logOut (request, reply) {
    await endSessions(fastify.pg, request.caller, request.query.scope ?? 'local')
    return reply.code(204).send(null)
  })

  fastify.get('/sessions', {
    preParsing: fastify.authenticate,
    schema: {
      ...common,
      operationId: 'listSessions',
      summary: 'The user\'s live sessions',
      description: 'Every session of the user that has not ended or expired, newest first; `current` marks the token\'s own.',
      response: { 200: Type.Array(SessionSchema, { description: 'The live sessions' }), 401: UnauthorizedSchema, ...limitedResponses, ...faultResponses }
    }
  }, async function sessions (request) {
    return listSessions(fastify.pg, request.caller)
  })

  fastify.delete('/sessions/:id', {
    preParsing: fastify.authenticate,
    schema: {
      ...common,
      operationId: 'endSession',
      summary: 'End one of the user\'s sessions',
      description: 'Its access tokens are refused (401) at once, and its refresh tokens no longer work.',
      params: SessionParamsSchema,
      response: {
        204: Type.Null({ description: 'Ended' }),
        401: UnauthorizedSchema,
        404: errorResponse('It is not one of the user\'s live sessions', 'Session with id: 9b2f6c1e-8a4d-4f7e-9c3b-2d1e0f5a6b7c does not exist'),
        ...bodyResponses(),
        422: ValidationErrorSchema,
        ...limitedResponses,
        ...faultResponses
      }
    }
  }, async function endOne (request, reply) {
    const { id } = request.params
    if (!await endSession(fastify.pg, request.caller, isSessionId(id) ? id : null)) throw new SessionNotFoundError(id)
    return reply.code(204).send(null)
  })
}

export default auth
