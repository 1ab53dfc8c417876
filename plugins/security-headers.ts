import type { IncomingMessage, ServerResponse } from 'node:http'
import type { FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify'
import fp from 'fastify-plugin'
import helmet from 'helmet'

/**
 * The docs pages' CSP: every asset is served from here; Swagger UI and ReDoc style elements
 * inline, ReDoc runs a worker from a blob and both draw data: images.
 */
const CONTENT_SECURITY_POLICY = {
  defaultSrc: ["'self'"],
  baseUri: ["'self'"],
  objectSrc: ["'none'"],
  frameAncestors: ["'none'"],
  formAction: ["'self'"],
  scriptSrc: ["'self'"],
  scriptSrcAttr: ["'none'"],
  styleSrc: ["'self'", "'unsafe-inline'"],
  imgSrc: ["'self'", 'data:'],
  fontSrc: ["'self'", 'data:'],
  workerSrc: ["'self'", 'blob:'],
  connectSrc: ["'self'"],
  upgradeInsecureRequests: null
}

/**
 * The headers helmet's middleware sets, taken once: they are the same for every answer.
 * (@fastify/helmet builds the middleware again for each request, parsing the CSP each time:
 * it cut `GET /` to a third of its rate.)
 */
function helmetHeaders (): Record<string, string> {
  const headers: Record<string, string> = {}
  const response = {
    setHeader: (name: string, value: unknown) => { headers[name.toLowerCase()] = String(value) },
    removeHeader: (name: string) => { delete headers[name.toLowerCase()] }
  }
  helmet({
    contentSecurityPolicy: { useDefaults: false, directives: CONTENT_SECURITY_POLICY },
    // The API is called from other origins (CORS_ORIGINS): its answers may be read cross-origin.
    crossOriginResourcePolicy: { policy: 'cross-origin' }
  })({} as IncomingMessage, response as unknown as ServerResponse, () => {})
  return headers
}

/** helmet's whole set, for the documentation pages (their scripts and styles are files, which a CSP does not restrict). */
const PAGE_HEADERS = helmetHeaders()

/**
 * What a JSON answer needs (OWASP's headers for REST APIs): a CSP that allows nothing and no
 * framing, HSTS and nosniff. helmet's other headers only act on documents a browser renders,
 * and each costs a few per cent of the fastest routes' rate.
 */
const API_HEADERS: Record<string, string> = {
  'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
  'strict-transport-security': PAGE_HEADERS['strict-transport-security']!,
  'x-content-type-options': PAGE_HEADERS['x-content-type-options']!,
  'x-frame-options': PAGE_HEADERS['x-frame-options']!
}

function addPageHeaders (_request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) {
  reply.headers(PAGE_HEADERS)
  done()
}

declare module 'fastify' {
  interface FastifyInstance {
    /** An `onRequest` hook for the routes that serve pages (the docs): helmet's set in place of the API's. */
    addPageHeaders: typeof addPageHeaders
  }
}

export default fp(async function securityHeaders (fastify) {
  fastify.decorate('addPageHeaders', addPageHeaders)
  fastify.addHook('onRequest', function addSecurityHeaders (_request, reply, done) {
    reply.headers(API_HEADERS)
    done()
  })
}, { name: 'security-headers' })
