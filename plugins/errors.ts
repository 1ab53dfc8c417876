import type { FastifyError, FastifyReply } from 'fastify'
import fp from 'fastify-plugin'
import { classifyDatabaseError, loggableDatabaseError, violatedTable } from '../db/errors.js'
import { callerStands } from '../db/queries/caller.js'
import { InvalidTokenError, RETRY_AFTER_SECONDS, UnprocessableError } from '../lib/http-errors.js'
import { toValidationDetail, type ValidationDetail } from '../lib/validation-detail.js'

const CONFLICTS: Record<string, string> = {
  users: 'Email already registered',
  votes: 'You have already voted on this post'
}

function sendValidation (reply: FastifyReply, detail: ValidationDetail[]) {
  return reply.code(422).send({ detail })
}

/** Refusals of the request itself (its body or parameters), made before its statement, which checks the token, could run. */
const refusesTheRequest = (error: FastifyError) =>
  error.validation !== undefined || error instanceof UnprocessableError || [400, 413, 415].includes(error.statusCode ?? 0)

/** FastAPI-shaped errors: `{"detail": ...}`, 422 for validation, database constraint errors as 409/404, 5xx logged and never explained. */
export default fp(async function errors (fastify) {
  fastify.setErrorHandler(async function handleError (error: FastifyError, request, reply) {
    // Authentication comes before validation: a token whose session has ended (or whose user is
    // gone) gets its 401 even when the request is invalid too. Only refused requests pay this query.
    if (request.caller !== null && refusesTheRequest(error)) {
      const stands = await callerStands(fastify.pg, request.caller).catch(() => true)
      if (!stands) {
        const invalid = new InvalidTokenError()
        return reply.code(invalid.statusCode).header('www-authenticate', 'Bearer').send({ detail: invalid.message })
      }
    }
    if (error.validation) {
      return sendValidation(reply, toValidationDetail(error.validation, error.validationContext ?? 'body'))
    }
    if (error instanceof UnprocessableError) return sendValidation(reply, error.detail)
    if (error.code === 'FST_UNDER_PRESSURE') return reply.code(503).send({ detail: 'Service unavailable' })
    switch (classifyDatabaseError(error)) {
      case 'unique-violation':
        return reply.code(409).send({ detail: CONFLICTS[violatedTable(error) ?? ''] ?? 'Already exists' })
      case 'foreign-key-violation':
        return reply.code(404).send({ detail: 'A referenced resource does not exist' })
      case 'unavailable':
        request.log.error({ err: loggableDatabaseError(error) }, 'database unavailable')
        return reply.code(503).header('retry-after', RETRY_AFTER_SECONDS).send({ detail: 'Service unavailable' })
      case 'database-error':
        request.log.error({ err: loggableDatabaseError(error) }, 'database error')
        return reply.code(500).send({ detail: 'Internal Server Error' })
    }
    const status = error.statusCode ?? 500
    if (status >= 400 && status < 500) {
      if (status === 401) reply.header('www-authenticate', 'Bearer')
      return reply.code(status).send({ detail: error.message })
    }
    request.log.error({ err: error }, 'request failed')
    return reply.code(status >= 500 && status < 600 ? status : 500).send({ detail: 'Internal Server Error' })
  })

  // A path that exists with another method: 405 with its methods, as FastAPI answers.
  fastify.setNotFoundHandler(function notFound (request, reply) {
    const allowed = fastify.hasDecorator('allowedMethods') ? fastify.allowedMethods(request.url.split('?', 1)[0]!) : undefined
    if (allowed) return reply.code(405).header('allow', allowed).send({ detail: 'Method Not Allowed' })
    return reply.code(404).send({ detail: 'Not Found' })
  })
}, { name: 'errors' })
