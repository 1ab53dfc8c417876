import helmet from '@fastify/helmet'
import fp from 'fastify-plugin'

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

export default fp(async function securityHeaders (fastify) {
  await fastify.register(helmet, {
    contentSecurityPolicy: { useDefaults: false, directives: CONTENT_SECURITY_POLICY },
    // The API is called from other origins (CORS_ORIGINS): its answers may be read cross-origin.
    crossOriginResourcePolicy: { policy: 'cross-origin' }
  })
}, { name: 'security-headers' })
