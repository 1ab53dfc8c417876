import cors from '@fastify/cors'
import fp from 'fastify-plugin'

/** CORS for the origins in CORS_ORIGINS (comma-separated); `*` allows any origin, but then without credentials. */
export default fp(async function corsPlugin (fastify) {
  const origins = fastify.config.CORS_ORIGINS.split(',').map(origin => origin.trim()).filter(Boolean)
  const anyOrigin = origins.includes('*')
  await fastify.register(cors, {
    origin: anyOrigin ? '*' : origins.length ? origins : false,
    credentials: !anyOrigin && origins.length > 0,
    methods: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']
  })
}, { name: 'cors', dependencies: ['config'] })
