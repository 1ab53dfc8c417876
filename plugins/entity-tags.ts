import type { onSendAsyncHookHandler } from 'fastify'
import fp from 'fastify-plugin'
import { entityTag, namesTag } from '../lib/entity-tags.js'

declare module 'fastify' {
  interface FastifyInstance {
    /**
     * An `onSend` hook for the reads of posts: each 200 gets a strong `ETag` (of its bytes), and
     * becomes a 304 with no body when `If-None-Match` names it.
     */
    tagRepresentation: onSendAsyncHookHandler<unknown>
  }
}

/** ETags and 304s for the reads of posts (If-Match, for their changes, is routes/posts' own). */
export default fp(async function entityTags (fastify) {
  fastify.decorate('tagRepresentation', async function tagRepresentation (request, reply, payload) {
    if (reply.statusCode !== 200 || typeof payload !== 'string') return payload
    const tag = entityTag(payload)
    reply.header('etag', tag)
    const held = request.headers['if-none-match']
    if (held === undefined || !namesTag(held, tag, 'weak')) return payload
    reply.code(304).removeHeader('content-type')
    return null
  } as onSendAsyncHookHandler<unknown>)
}, { name: 'entity-tags' })
