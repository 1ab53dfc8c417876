import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js'
import addFormats from 'ajv-formats'
import type { FastifyInstance, onSendHookHandler } from 'fastify'
import type { Test } from 'tap'

interface DocumentedResponse {
  content?: Record<string, { schema?: object }>
  headers?: Record<string, { required?: boolean }>
}
interface Document { paths: Record<string, Record<string, { responses?: Record<string, DocumentedResponse> }>> }

/** The document's path for a route's URL: `/posts/:id` → `/posts/{id}`, `/posts/` → `/posts`. */
const documentPath = (url: string) => (url.length > 1 ? url.replace(/\/$/, '') : url).replace(/:(\w+)/g, '{$1}')
const pointer = (...segments: string[]) => '#/' + segments.map(segment => segment.replace(/~/g, '~0').replace(/\//g, '~1')).join('/')

/** Validators for one document's response bodies, compiled once per run: every app of a test file serves the same document. */
class ResponseValidators {
  readonly #ajv = new Ajv2020({ strict: false, allErrors: true })
  readonly #compiled = new Map<string, ValidateFunction>()

  constructor (document: Document) {
    addFormats.default(this.#ajv)
    this.#ajv.addSchema(document as object, 'openapi.json')
  }

  for (path: string, method: string, status: string): ValidateFunction {
    const ref = `openapi.json${pointer('paths', path, method, 'responses', status, 'content', 'application/json', 'schema')}`
    let validate = this.#compiled.get(ref)
    if (!validate) this.#compiled.set(ref, validate = this.#ajv.compile({ $ref: ref }))
    return validate
  }
}
const validatorsByDocument = new Map<string, ResponseValidators>()

function bodyText (payload: unknown): string | undefined {
  if (typeof payload === 'string') return payload
  if (Buffer.isBuffer(payload)) return payload.toString()
  return payload == null ? '' : undefined // a stream: not read here
}

/** What is wrong with an answer by the document, or nothing. */
function violation (document: Document, validators: ResponseValidators, path: string, method: string, status: string, headers: Record<string, unknown>, payload: unknown, head: boolean): string | object | undefined {
  const responses = document.paths[path]?.[method]?.responses ?? {}
  const response = responses[status]
  if (!response) return `the document lists only ${Object.keys(responses).join(', ')} for ${method.toUpperCase()} ${path}`
  // A header the document marks required is always sent (Retry-After, WWW-Authenticate); others (Link) only sometimes.
  const missing = Object.entries(response.headers ?? {}).filter(([name, header]) => header.required === true && headers[name.toLowerCase()] === undefined).map(([name]) => name)
  if (missing.length > 0) return `the documented header ${missing.join(', ')} is missing`
  // HEAD, 204 and 304 answers have no body, whatever the serialiser made of `null`.
  if (head || status === '204' || status === '304') return undefined
  const text = bodyText(payload)
  if (text === undefined) return undefined
  if (!response.content?.['application/json']?.schema) return text === '' ? undefined : `a body, where the document describes none: ${text.slice(0, 200)}`
  let body: unknown
  try {
    body = JSON.parse(text)
  } catch {
    return `a body that is not JSON: ${text.slice(0, 200)}`
  }
  const validate = validators.for(path, method, status)
  return validate(body) ? undefined : { body, errors: validate.errors }
}

/**
 * Checks every answer the app sends against its OpenAPI document: the status must be listed
 * for the operation, its headers present, and a JSON body must match the schema.
 * A violation fails `t`. Exempt, as the document does not describe them: requests that
 * matched no route (the not-found handler's 404s, router errors) and the routes hidden from
 * the document (/docs and its assets, /openapi.json, /redoc). A HEAD request is checked
 * against its GET operation's statuses and headers (it has no body).
 */
export function checkAnswersAgainstDocument (t: Test, fastify: FastifyInstance) {
  let document: Document | undefined
  let validators: ResponseValidators | undefined
  const conformsToDocument: onSendHookHandler = async function (request, reply, payload) {
    const url = request.routeOptions.url
    if (url === undefined) return payload
    try {
      if (!document) {
        document = fastify.swagger() as unknown as Document
        const text = JSON.stringify(document)
        validators = validatorsByDocument.get(text)
        if (!validators) validatorsByDocument.set(text, validators = new ResponseValidators(JSON.parse(text)))
      }
      const path = documentPath(url)
      const head = request.method === 'HEAD'
      const method = head ? 'get' : request.method.toLowerCase()
      if (!document.paths[path]?.[method]) return payload
      const status = String(reply.statusCode)
      const problem = violation(document, validators!, path, method, status, reply.getHeaders(), payload, head)
      if (problem) t.fail(`${request.method} ${request.url} answered ${status} against the OpenAPI document`, { problem })
    } catch (err) {
      t.fail(`${request.method} ${request.url}: the answer could not be checked against the OpenAPI document`, { error: (err as Error).message })
    }
    return payload
  } as onSendHookHandler
  // Each route's last onSend hook, after its own (an ETag is set by one): the answer as it leaves.
  fastify.addHook('onRoute', route => {
    route.onSend = [...route.onSend === undefined ? [] : Array.isArray(route.onSend) ? route.onSend : [route.onSend], conformsToDocument]
  })
}
