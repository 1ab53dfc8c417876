import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { createHash, randomBytes } from 'node:crypto'
import { Type } from 'typebox'
import { callerStands } from '../../db/queries/caller.js'
import { TICKET_SECONDS, issueTicket, redeemTicket, ticketStands } from '../../db/queries/stream.js'
import { InvalidTicketError, InvalidTokenError, RETRY_AFTER_SECONDS } from '../../lib/http-errors.js'
import { StreamsUnavailableSchema, UnauthorizedSchema, ValidationErrorSchema, bearerSecurity, bodyResponses, faultResponses, limitedResponses } from '../../schemas/common.js'

const hashTicket = (ticket: string) => createHash('sha256').update(ticket).digest()

const StreamQuerySchema = Type.Object({
  ticket: Type.Optional(Type.String({ description: 'A ticket from `POST /stream/tickets`, for clients that cannot send a header (EventSource); taken once' })),
  post_id: Type.Optional(Type.Array(Type.Integer({ minimum: 1, maximum: 2147483647, description: 'A post id' }), { maxItems: 100, description: 'Only events about these posts (up to 100): `?post_id=1&post_id=2`' }))
})

const TicketSchema = Type.Object({
  ticket: Type.String({ description: 'Single use, for `GET /stream?ticket=`', examples: ['kq3v0Jw2mQ1p8ZB7cX5nYt4uRs6aL9eD'] }),
  expires_in: Type.Integer({ description: 'Seconds it may wait before use', examples: [TICKET_SECONDS] })
}, { title: 'StreamTicket', description: 'A single-use ticket that opens the event stream without an Authorization header' })

const STREAM_DESCRIPTION = `Server-Sent Events (\`text/event-stream\`): \`post.created\` (a PostOut), \`post.updated\` (a Post), \`post.deleted\` (\`{"id"}\`) and \`post.votes\` (\`{"id", "votes"}\`), each with an \`id\` that is the same on every process. A \`: ping\` comment goes out at least every 15 s.
Reconnecting with \`Last-Event-ID\` replays what followed that event (from the last 5 minutes, or at least the last 10,000 events); an id older than that or unknown gets \`event: reset\` (\`data: {}\`: reload your state) first.
Authenticate with the bearer token, or (EventSource) with \`?ticket=\` from \`POST /stream/tickets\`. The stream ends when the token expires or its session ends, and when the server shuts down.`

const STREAM_EXAMPLE = `: ping

id: 41
event: post.created
data: {"Post":{"id":7,"title":"Hello","content":"First post","published":true,"created_at":"2026-11-21T10:23:00.123456+00:00","owner_id":1,"owner":{"id":1,"email":"ada@example.com","created_at":"2026-11-21T10:20:00+00:00"}},"votes":0}

id: 42
event: post.votes
data: {"id":7,"votes":1}

`

/** Live updates: the event stream and the tickets that open it from a browser. */
const stream: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.post('/tickets', {
    preParsing: fastify.authenticate,
    schema: {
      tags: ['Live updates'],
      security: bearerSecurity,
      operationId: 'createStreamTicket',
      summary: 'A ticket to open the stream from a browser',
      description: `EventSource cannot send an Authorization header: open \`GET /stream?ticket=...\` with this ticket instead, once, within ${TICKET_SECONDS} s. The stream speaks for the token the ticket was made with.`,
      response: { 201: TicketSchema, 401: UnauthorizedSchema, ...bodyResponses(), 422: ValidationErrorSchema, ...limitedResponses, ...faultResponses }
    }
  }, async function createTicket (request, reply) {
    const ticket = randomBytes(24).toString('base64url')
    if (!await issueTicket(fastify.pg, request.caller, hashTicket(ticket), request.tokenExpiresAt)) throw new InvalidTokenError()
    return reply.code(201).header('cache-control', 'no-store').send({ ticket, expires_in: TICKET_SECONDS })
  })

  fastify.get('/', {
    // A ticket stands in for the bearer token (always the token for a HEAD, which spends no
    // ticket). Either is checked before validation; the ticket is taken only once the request
    // has passed it and found a place.
    preParsing: async function authenticate (request) {
      const { ticket } = request.query as { ticket?: unknown }
      if (request.method === 'HEAD' || ticket === undefined) await fastify.authenticate(request)
      else if (!await ticketStands(fastify.pg, hashTicket(String(ticket)))) throw new InvalidTicketError()
    },
    sse: { kind: 'manual' },
    schema: {
      tags: ['Live updates'],
      security: bearerSecurity,
      operationId: 'openStream',
      summary: 'Live updates of posts and votes',
      description: STREAM_DESCRIPTION,
      querystring: StreamQuerySchema,
      headers: Type.Object({ 'last-event-id': Type.Optional(Type.String({ description: 'The last event id received, to replay what followed' })) }),
      response: {
        200: {
          description: 'The event stream, until the client leaves, its token expires, its session ends or the server shuts down',
          content: { 'text/event-stream': { schema: Type.String({ examples: [STREAM_EXAMPLE] }) } }
        },
        401: UnauthorizedSchema,
        422: ValidationErrorSchema,
        429: limitedResponses[429],
        503: StreamsUnavailableSchema,
        ...faultResponses
      }
    }
  }, async function openStream (request, reply) {
    const { ticket, post_id: postIds } = request.query
    let { caller, tokenExpiresAt } = request
    if (request.method === 'HEAD') {
      // What a GET would get, without the stream.
      if (!await callerStands(fastify.pg, caller)) throw new InvalidTokenError()
      return reply.code(200).type('text/event-stream').header('cache-control', 'no-cache').send('')
    }
    // The place first, so that a full process spends no ticket.
    if (!fastify.stream.reserve()) {
      return reply.code(503).header('retry-after', RETRY_AFTER_SECONDS).send({ detail: 'Too many open streams: retry later' })
    }
    try {
      if (ticket !== undefined) {
        const redeemed = await redeemTicket(fastify.pg, hashTicket(ticket))
        if (!redeemed) throw new InvalidTicketError()
        caller = redeemed.caller
        tokenExpiresAt = redeemed.tokenExpiresAt
      } else if (!await callerStands(fastify.pg, caller)) {
        throw new InvalidTokenError()
      }
    } catch (err) {
      fastify.stream.release()
      throw err
    }
    await fastify.stream.subscribe(reply, { caller, tokenExpiresAt, postIds, lastEventId: request.headers['last-event-id'] })
  })
}

export default stream
