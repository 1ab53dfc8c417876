import { readFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import fp from 'fastify-plugin'
import { hoistTitledSchemas } from './openapi-components.js'
import { addExamples } from './openapi-examples.js'
import { liftHeaderRequired } from './openapi-headers.js'

const require = createRequire(import.meta.url)

const redocPage = `<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>Postline API - ReDoc</title>
  <style>body { margin: 0; padding: 0; }</style>
</head>
<body>
  <redoc spec-url="/openapi.json"></redoc>
  <script src="/redoc/redoc.standalone.js"></script>
</body>
</html>
`

// Every asset comes from this server: ReDoc would otherwise draw its logo from a CDN.
const REDOC_CSP = "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; worker-src 'self' blob:; font-src 'self' data:; connect-src 'self'"

/** The OpenAPI document from the route schemas, at /openapi.json, with Swagger UI at /docs and ReDoc at /redoc, all offline. */
export default fp(async function docs (fastify) {
  await fastify.register(swagger, {
    // A copy: the document must share no object with the route schemas, which serialise the answers.
    transformObject: document => liftHeaderRequired(hoistTitledSchemas(addExamples(structuredClone('openapiObject' in document ? document.openapiObject : document.swaggerObject)))),
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Postline',
        description: 'A social-posts API: register, log in for a JWT, write, search and vote on posts.',
        version: '0.1.0'
      },
      // Relative: the host and scheme the document was fetched from, whatever proxy is in front.
      servers: [{ url: '/', description: 'This server' }],
      tags: [
        { name: 'Root', description: 'A greeting that shows the server is up' },
        { name: 'Users', description: 'Registration and user profiles' },
        { name: 'Authentication', description: 'Logging in for a bearer token (OAuth2 password flow, at `/login` as the course does, or at `/auth/token`, which also gives a refresh token); refreshing it (`POST /auth/token` with `grant_type=refresh_token` and the last refresh token: each is single use); listing and ending sessions' },
        { name: 'Posts', description: 'Writing, reading, searching and paging through posts' },
        { name: 'Vote', description: 'Voting for posts' },
        { name: 'Live updates', description: 'New posts, edits, deletions and vote counts as they are committed, over Server-Sent Events, with replay after a reconnect' },
        { name: 'Health', description: 'Liveness and readiness for load balancers and orchestrators' }
      ],
      components: {
        securitySchemes: {
          OAuth2PasswordBearer: { type: 'oauth2', flows: { password: { tokenUrl: '/login', scopes: {} } } },
          // The same login at the token endpoint, which also gives a refresh token (refreshUrl).
          OAuth2TokenEndpoint: {
            type: 'oauth2',
            description: 'The password grant at `/auth/token`. To refresh, post `grant_type=refresh_token` and the last refresh token there: the answer carries a new access token and the next refresh token.',
            flows: { password: { tokenUrl: '/auth/token', refreshUrl: '/auth/token', scopes: {} } }
          }
        }
      }
    }
  })
  await fastify.register(swaggerUi, { routePrefix: '/docs', uiConfig: { persistAuthorization: false }, uiHooks: { onRequest: fastify.addPageHeaders } })

  fastify.get('/openapi.json', { schema: { hide: true } }, async () => fastify.swagger())

  const redocScript = await readFile(require.resolve('redoc/bundles/redoc.standalone.js'))
  fastify.get('/redoc', { schema: { hide: true }, onRequest: fastify.addPageHeaders }, async (_request, reply) =>
    reply.type('text/html; charset=utf-8').header('content-security-policy', REDOC_CSP).send(redocPage))
  fastify.get('/redoc/redoc.standalone.js', { schema: { hide: true } }, async (_request, reply) =>
    reply.type('application/javascript; charset=utf-8').header('cache-control', 'public, max-age=86400').send(redocScript))
}, { name: 'docs', dependencies: ['rate-limits', 'security-headers'] /* registered first: its routes are limited, its pages get their headers */ })
