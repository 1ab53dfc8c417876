import fp from 'fastify-plugin'
import secureJson from 'secure-json-parse'
import { UnprocessableError } from '../lib/http-errors.js'
import { invalidJson, missingBody } from '../lib/validation-detail.js'

/**
 * Request bodies as FastAPI reads them: an empty JSON body is no body (a DELETE sent with
 * `Content-Type: application/json` still works), and a route that needs a body and got
 * none answers 422 "Field required" for `body`. `__proto__` and `constructor` keys are dropped
 * like any other unknown field.
 */
export default fp(async function body (fastify) {
  fastify.addContentTypeParser('application/json', { parseAs: 'string' }, function parseJson (_request, text, done) {
    if (text === '') return done(null, undefined)
    let parsed: unknown
    try {
      parsed = secureJson.parse(text as string, undefined, { protoAction: 'remove', constructorAction: 'remove' })
    } catch {
      return done(new UnprocessableError(invalidJson), undefined)
    }
    done(null, parsed)
  })

  // Form routes (those that declare `consumes`) read a missing form as missing fields instead.
  fastify.addHook('preValidation', async function requireBody (request) {
    const schema = request.routeOptions.schema
    if (request.body === undefined && schema?.body && !schema.consumes) throw new UnprocessableError(missingBody)
  })
}, { name: 'body' })
