import fp from 'fastify-plugin'
import secureJson from 'secure-json-parse'
import { UnprocessableError } from '../lib/http-errors.js'
import { invalidJson, missingBody } from '../lib/validation-detail.js'

const utf8 = new TextDecoder('utf-8', { fatal: true })

/**
 * Request bodies as FastAPI reads them: an empty JSON body is no body (a DELETE sent with
 * `Content-Type: application/json` still works), and a route that needs a body and got
 * none answers 422 "Field required" for `body`. `__proto__` and `constructor` keys are dropped
 * like any other unknown field.
 */
export default fp(async function body (fastify) {
  const parseJson = function parseJson (_request: unknown, bytes: string | Buffer, done: (err: Error | null, body?: unknown) => void) {
    if (bytes.length === 0) return done(null, undefined)
    let parsed: unknown
    try {
      // Bytes that are not UTF-8 are malformed JSON, not text to be patched with U+FFFD.
      parsed = secureJson.parse(utf8.decode(bytes as Buffer), undefined, { protoAction: 'remove', constructorAction: 'remove' })
    } catch {
      return done(new UnprocessableError(invalidJson), undefined)
    }
    done(null, parsed)
  }
  fastify.addContentTypeParser('application/json', { parseAs: 'buffer' }, parseJson)
  // As FastAPI, any JSON-based type (`application/merge-patch+json`, `application/vnd.api+json`).
  fastify.addContentTypeParser(/^application\/[^\s;]+\+json\s*(;|$)/i, { parseAs: 'buffer' }, parseJson)

  // Text is no JSON: a JSON route sent text/plain answers 415, not a 422 about its shape.
  fastify.removeContentTypeParser('text/plain')

  // FastAPI reads a body that comes without a content type as JSON (a declared type that is
  // not JSON stays a 415).
  fastify.addHook('onRequest', function untypedBodyIsJson (request, _reply, done) {
    const { headers } = request
    if (!headers['content-type'] && (headers['transfer-encoding'] !== undefined || Number(headers['content-length']) > 0)) {
      headers['content-type'] = 'application/json'
    }
    done()
  })

  // Form routes (those that declare `consumes`) read a missing form as missing fields instead.
  fastify.addHook('preValidation', async function requireBody (request) {
    const schema = request.routeOptions.schema
    if (request.body === undefined && schema?.body && !schema.consumes) throw new UnprocessableError(missingBody)
  })
}, { name: 'body' })
