import type { IncomingMessage, ServerResponse } from 'node:http'
import fp from 'fastify-plugin'
import helmet from 'helmet'

/**
 * Security headers on every answer (helmet). The CSP lets the docs pages work with every asset
 * served from here: Swagger UI and ReDoc style elements inline, ReDoc runs a worker from a
 * blob and both draw data: images. API answers are JSON, which a CSP does not restrict.
 */
export const CONTENT_SECURITY_POLICY = {
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

export default fp(async function securityHeaders (fastify) {
  const headers = helmetHeaders()
  fastify.addHook('onRequest', function addSecurityHeaders (_request, reply, done) {
    reply.headers(headers)
    done()
  })
}, { name: 'security-headers' })
