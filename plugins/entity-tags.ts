import type { FastifyReply, onSendAsyncHookHandler } from 'fastify'
import fp from 'fastify-plugin'
import { entityTag, namesTag } from '../lib/entity-tags.js'

declare module 'fastify' {
  interface FastifyInstance {
    /**
     * An `onSend` hook for the reads of posts: each 200 gets a strong `ETag` (of its bytes), and
     * becomes a 304 with no body when `If-None-Match` names it.
     */
    tagRepresentation: onSendAsyncHookHandler<unknown>
    /**
     * Has the reply send `value` (a 200 answer, as `schema` serializes it) with its ETag: both
     * made once per value object, so a value the read cache hands out again costs neither again.
     * Returns `value`, for the handler to return.
     */
    representation: <T extends object>(reply: FastifyReply, value: T, schema: Record<string, unknown>) => T
  }
}

/**
 * Where a value keeps its representation once made: a property of its own that is not enumerable,
 * so no spread copies it (a changed copy is serialized anew). Not a WeakMap: its values outlived
 * the young generation's collections, so under load every page sent was promoted to the old one.
 */
const REPRESENTATION = Symbol('representation')
interface Represented { [REPRESENTATION]?: { body: string, tag: string } }

/** ETags and 304s for the reads of posts (If-Match, for their changes, is routes/posts' own). */
export default fp(async function entityTags (fastify) {
  fastify.decorate('representation', function representation<T extends object> (reply: FastifyReply, value: T, schema: Record<string, unknown>): T {
    let known = (value as Represented)[REPRESENTATION]
    if (known === undefined) {
      const body = reply.serializeInput(value as Record<string, unknown>, schema)
      known = { body, tag: entityTag(body) }
      Object.defineProperty(value, REPRESENTATION, { value: known })
    }
    const { body, tag } = known
    // Anything else sent on this reply (an error raised after this) is serialized as it stands.
    reply.header('etag', tag).type('application/json; charset=utf-8').serializer(payload => payload === value ? body : JSON.stringify(payload))
    return value
  })

  fastify.decorate('tagRepresentation', async function tagRepresentation (request, reply, payload) {
    if (reply.statusCode !== 200 || typeof payload !== 'string') return payload
    // Set already by `representation`, for these very bytes.
    const tag = (reply.getHeader('etag') as string | undefined) ?? entityTag(payload)
    reply.header('etag', tag)
    const held = request.headers['if-none-match']
    if (held === undefined || !namesTag(held, tag, 'weak')) return payload
    reply.code(304).removeHeader('content-type')
    // Not null: Fastify's HEAD route reads the GET's payload as a stream or a string.
    return ''
  } as onSendAsyncHookHandler<unknown>)
}, { name: 'entity-tags' })
