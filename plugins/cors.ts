import cors from '@fastify/cors'
import type { HTTPMethods } from 'fastify'
import fp from 'fastify-plugin'

/**
 * CORS for the origins in CORS_ORIGINS (comma-separated); `*` allows any origin, but then
 * without credentials. Every route also answers OPTIONS with 204 and the path's methods in
 * `Allow` (RFC 9110), CORS or not; a preflight from an allowed origin gets CORS's headers too.
 * The same methods make the `Allow` of a 405 (see the errors plugin).
 */
declare module 'fastify' {
  interface FastifyInstance {
    /** The methods a path (without its query) answers, as `Allow` lists them; undefined for a path no route has. */
    allowedMethods: (path: string) => string | undefined
  }
}

const allowHeader = (methods: Set<string>) => [...methods].sort().join(', ')

/** A route's URL (`/posts/:id`) as a pattern of request paths. */
const pathPattern = (url: string) => new RegExp(`^${url.split('/').map(part => part.startsWith(':') ? '[^/]+' : part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('/')}/?$`)

export default fp(async function corsPlugin (fastify) {
  const origins = fastify.config.CORS_ORIGINS.split(',').map(origin => origin.trim()).filter(Boolean)
  const anyOrigin = origins.includes('*')
  const methodsByUrl = new Map<string, { pattern: RegExp, allowed: Set<string> }>()
  fastify.decorate('allowedMethods', (path: string) => {
    for (const { pattern, allowed } of methodsByUrl.values()) if (pattern.test(path)) return allowHeader(allowed)
    return undefined
  })
  // Registered before CORS, so that it sees CORS's own catch-all route.
  fastify.addHook('onRoute', function answerOptions (route) {
    const methods = ([] as HTTPMethods[]).concat(route.method)
    // @fastify/cors's catch-all OPTIONS route would answer paths that do not exist.
    if (route.url === '*' && methods.includes('OPTIONS')) route.handler = async (_request, reply) => reply.callNotFound()
    if (methods.includes('OPTIONS') || route.url.includes('*')) return
    const known = methodsByUrl.get(route.url)
    if (known) {
      for (const method of methods) known.allowed.add(method)
      return
    }
    const allowed = new Set<string>([...methods, 'OPTIONS'])
    methodsByUrl.set(route.url, { pattern: pathPattern(route.url), allowed })
    fastify.route({
      method: 'OPTIONS',
      url: route.url,
      schema: { hide: true },
      handler: async function options (_request, reply) {
        return reply.code(204).header('allow', allowHeader(allowed)).send()
      }
    })
  })

  await fastify.register(cors, {
    origin: anyOrigin ? '*' : origins.length ? origins : false,
    credentials: !anyOrigin && origins.length > 0,
    methods: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'],
    // A browser app on another origin walks the feeds by their `Link` header.
    exposedHeaders: ['Link'],
    // CORS adds its headers and the OPTIONS routes above answer, preflight or plain OPTIONS alike.
    preflightContinue: true,
    strictPreflight: false
  })
}, { name: 'cors', dependencies: ['config'] })
