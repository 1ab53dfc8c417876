import { LogController, type FastifyReply, type FastifyRequest } from 'fastify'

// Query parameters whose values are secrets, should a client put them in a URL: logged as `[redacted]`.
const SECRET_PARAMETER = /([?&](?:password|current_password|new_password|refresh_token|access_token|client_secret)=)[^&#]*/gi

/** The URL as it may be logged: the values of secret query parameters replaced. */
export const loggableUrl = (url: string): string => url.includes('?') ? url.replace(SECRET_PARAMETER, '$1[redacted]') : url

/**
 * One log line per request, when it is answered: id, client ip, method, url, route, status and time
 * (Fastify's default writes two, one on arrival). Errors keep the default's error line.
 */
export class RequestLog extends LogController {
  override incomingRequest () {}

  override requestCompleted (error: Error | null, request: FastifyRequest, reply: FastifyReply) {
    const line = {
      ip: request.ip,
      method: request.method,
      url: loggableUrl(request.url),
      route: request.routeOptions.url,
      statusCode: reply.statusCode,
      responseTime: Math.round(reply.elapsedTime * 100) / 100
    }
    if (error) reply.log.error({ ...line, err: error }, 'request errored')
    else reply.log.info(line, 'request completed')
  }
}
