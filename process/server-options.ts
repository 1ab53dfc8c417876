import { STATUS_CODES } from 'node:http'
import type { Socket } from 'node:net'
import type { FastifyError, FastifyReply, FastifyRequest, FastifyServerOptions } from 'fastify'
import { pino } from 'pino'
import { parseTrustProxy, type Config } from '../lib/config.js'
import { lenientUrl } from './lenient-url.js'
import { RequestLog } from './request-log.js'

/** What Node's HTTP parser rejects before Fastify sees a request, answered in the API's error shape. */
function answerClientError (error: NodeJS.ErrnoException, socket: Socket) {
  if (error.code === 'ECONNRESET' || !socket.writable) return socket.destroy(error)
  const status = error.code === 'HPE_HEADER_OVERFLOW' ? 431 : error.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400
  const body = JSON.stringify({ detail: STATUS_CODES[status] })
  socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`)
}

/**
 * Errors the router raises before any hook runs, in the API's shape too. A path whose escapes
 * are not UTF-8 (`/posts/%FF`) is routed again as FastAPI would read it (the bytes as U+FFFD),
 * so it gets the answer any other bad value there gets (a 422 for an id, a 404 elsewhere).
 */
function answerFrameworkError (error: FastifyError, request: FastifyRequest, reply: FastifyReply) {
  if (error.code === 'FST_ERR_BAD_URL' && request.raw.url !== undefined) {
    const repaired = lenientUrl(request.raw.url)
    if (repaired !== request.raw.url) {
      request.raw.url = repaired
      return request.server.routing(request.raw, reply.raw)
    }
  }
  const status = error.statusCode ?? 400
  reply.code(status).send({ detail: STATUS_CODES[status] ?? 'Bad Request' })
}

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
    // plugins/shutdown.ts answers requests that arrive while draining, in the API's error shape.
    return503OnClosing: false,
    clientErrorHandler: answerClientError,
    frameworkErrors: answerFrameworkError,
    // Fastify reads a number as a hop count, though its types leave numbers out.
    trustProxy: parseTrustProxy(config.TRUST_PROXY) as FastifyServerOptions['trustProxy']
  }
}

/** Where a secret could sit in what we log: a request, its headers or body, a user row. */
const REDACTED_PATHS = ['req.headers.authorization', 'headers.authorization', 'req.body.password', 'body.password', 'user.password', 'password']

/** pino's JSON lines in production and wherever they are read by a program; coloured lines for a person at a terminal. */
export function loggerOptions (config: Config, terminal = process.stdout.isTTY === true): FastifyServerOptions['logger'] {
  const pretty = terminal && config.NODE_ENV !== 'production'
  return {
    level: config.LOG_LEVEL,
    // Named paths only: a `*.password` wildcard made every log line ~50% dearer to write.
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    ...(pretty ? { transport: { target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' } } } : {})
  }
}

/**
 * The server's logger: `loggerOptions`, with JSON lines written to stdout asynchronously. Lines
 * logged while a write is under way go out together in the next one, so a busy server makes one
 * write per batch of requests instead of one per request. pino writes what is still held when
 * the process exits (a crash included); only a SIGKILL can lose the last lines.
 */
export function serverLoggerOptions (config: Config): FastifyServerOptions['logger'] {
  const options = loggerOptions(config) as Record<string, unknown>
  return options.transport ? options : { ...options, stream: pino.destination({ dest: 1, sync: false }) }
}
