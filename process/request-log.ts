import { LogController, type FastifyReply, type FastifyRequest } from 'fastify'

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
      url: request.url,
      route: request.routeOptions.url,
      statusCode: reply.statusCode,
      responseTime: Math.round(reply.elapsedTime * 100) / 100
    }
    if (error) reply.log.error({ ...line, err: error }, 'request errored')
    else reply.log.info(line, 'request completed')
  }
}
