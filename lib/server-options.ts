import type { FastifyServerOptions } from 'fastify'
import { parseTrustProxy, type Config } from '../plugins/config.js'
import { RequestLog } from './request-log.js'

/** Fastify's own options, shared by the server process and the tests so both run the same app. */
export function serverOptions (config: Config): FastifyServerOptions {
  return {
    bodyLimit: config.BODY_LIMIT,
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 200 },
    requestIdHeader: 'x-request-id',
    logController: new RequestLog(),
    connectionTimeout: 30_000,
    keepAliveTimeout: 72_000,
    requestTimeout: 60_000,
    pluginTimeout: 120_000,
    forceCloseConnections: 'idle',
    return503OnClosing: true,
    // Fastify reads a number as a hop count, though its types leave numbers out.
    trustProxy: parseTrustProxy(config.TRUST_PROXY) as FastifyServerOptions['trustProxy']
  }
}
