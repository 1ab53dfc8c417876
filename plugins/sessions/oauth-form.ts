import formbody from '@fastify/formbody'
import multipart from '@fastify/multipart'
import type { FastifyInstance } from 'fastify'
import { MalformedFormError } from '../../lib/http-errors.js'

/**
 * Makes `instance` (a route folder's context) read bodies as an OAuth2 token request does:
 * a form, urlencoded or multipart. A JSON body is not read as one: its fields are missing;
 * so is an empty field, as FastAPI reads a form.
 * `oauthErrors`: a 400, or a body that is no form, is an RFC 6749 `invalid_request` rather than a `{"detail"}`.
 */
export async function readOAuthForms (instance: FastifyInstance, { oauthErrors = false } = {}): Promise<void> {
  await instance.register(formbody)
  await instance.register(multipart, { attachFieldsToBody: 'keyValues', limits: { files: 4, fileSize: 65_536, fields: 20, fieldSize: 4096 } })
  // A form the parser cannot read (no boundary, cut short) is the client's mistake. The token
  // endpoint answers every 400 as RFC 6749 §5.2 does (`oauthErrors`).
  instance.setErrorHandler(function malformedForm (error: Error & { statusCode?: number }, request, reply) {
    const unread = request.body === undefined && !error.statusCode
    // A body of another type (415 elsewhere) is a malformed token request too.
    if (oauthErrors && (unread || error.statusCode === 400 || error.statusCode === 415)) {
      return reply.code(400).send({ error: 'invalid_request', error_description: unread ? new MalformedFormError().message : error.message })
    }
    if (unread) throw new MalformedFormError()
    throw error
  })
  instance.removeContentTypeParser('application/json')
  instance.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, _body, done) => done(null, {}))
  instance.addHook('preValidation', async function readFormAsFastApiDoes (request) {
    const form = request.body !== null && typeof request.body === 'object' ? request.body as Record<string, unknown> : {}
    request.body = Object.fromEntries(Object.entries(form).filter(([, value]) => value !== ''))
  })
}
