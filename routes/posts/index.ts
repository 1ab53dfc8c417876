import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import type { Caller } from '../../db/queries/caller.js'
import type { FastifyReply } from 'fastify'
import { createPost, deletePost, findPostOut, findPostOwnerId, lockPost, updatePost, type PostChanges } from '../../db/queries/posts.js'
import type { Queryable } from '../../db/queries/queryable.js'
import { entityTag, namesTag } from '../../lib/entity-tags.js'
import { ForbiddenError, PostChangedError, PostNotFoundError, UnprocessableError } from '../../lib/http-errors.js'
import { atLeastOneOf } from '../../lib/validation-detail.js'
import { IdParamsSchema, UnauthorizedSchema, ValidationErrorSchema, asResponse, bearerSecurity, bodyResponses, errorResponse, faultResponses, limitedResponses } from '../../schemas/common.js'
import { FeedPageSchema, IfMatchSchema, IfNoneMatchSchema, ListQuerySchema, NotModifiedSchema, PostCreateSchema, PostPatchSchema, PostQuerySchema, PostResponseSchema, PostSchema } from '../../schemas/posts.js'

const notFound = errorResponse('No post has that id', 'Post with id: 7 does not exist')
const forbidden = errorResponse('The post belongs to another user', 'Not authorized to perform requested action')
const changed = errorResponse('`If-Match` named no current representation of the post: it changed since (nothing was changed now)', 'The post has changed since its ETag was read')

const posts: FastifyPluginAsyncTypebox = async (fastify) => {
  /** 401 when the token no longer stands, 404 when the post does not exist, 403 when it is not the user's. */
  async function assertOwnPost (caller: Caller, id: number): Promise<void> {
    const ownerId = await findPostOwnerId(fastify.pg, caller, id)
    if (ownerId === undefined) throw new PostNotFoundError(id)
    if (ownerId !== caller.userId) throw new ForbiddenError()
  }

  /**
   * Runs `change` on the post unless the request's If-Match names none of the post's current
   * representations (`GET /posts/{id}`'s, with or without `voted`): then 412. The check and the
   * change share a transaction that holds the post's row, so no change of it (a vote takes a
   * key-share lock on it too) comes between them.
   */
  async function ifMatching<T> (caller: Caller, id: number, condition: string | undefined, reply: FastifyReply, change: (db: Queryable) => Promise<T>): Promise<T> {
    if (condition === undefined) return change(fastify.pg)
    return fastify.pg.transact(async db => {
      if (!await lockPost(db, id)) throw new PostNotFoundError(id)
      // One read gives both representations: the plain one is the other without `voted`.
      const withVoted = await findPostOut(db, caller, id, true)
      if (!withVoted) throw new PostNotFoundError(id)
      const { voted: _voted, ...plain } = withVoted
      const tags = [plain, withVoted].map(post => entityTag(reply.serializeInput(post, PostResponseSchema)))
      if (!tags.some(tag => namesTag(condition, tag, 'strong'))) throw new PostChangedError()
      return change(db)
    })
  }

  const common = { tags: ['Posts'], security: bearerSecurity }

  fastify.get('/', {
    onSend: fastify.tagRepresentation,
    // feedPage answers it, with a bad cursor's problem listed beside the others.
    attachValidation: true,
    schema: {
      ...common,
      operationId: 'listPosts',
      summary: 'List posts: newest, top or hot first',
      description: 'Sorted by `sort` (newest first by default), within the window `t`. Pages with `limit` (1 to 100) and either `skip` or `cursor`: a full page carries `Link: <...>; rel="next"`, the next page\'s URL, whose `cursor` pages at the same cost at any depth. `search` keeps the posts whose title contains the text, letter case aside. Each post comes with its owner and vote count, and with `include=voted` whether the token\'s user voted for it.',
      querystring: ListQuerySchema,
      headers: IfNoneMatchSchema,
      response: {
        200: FeedPageSchema,
        304: NotModifiedSchema,
        401: UnauthorizedSchema,
        422: ValidationErrorSchema,
        ...limitedResponses,
        ...faultResponses
      }
    }
  }, async function list (request, reply) {
    const page = (await fastify.feedPage(request, reply))!
    return fastify.representation(reply, page, FeedPageSchema)
  })

  fastify.get('/:id', {
    onSend: fastify.tagRepresentation,
    schema: {
      ...common,
      operationId: 'getPost',
      summary: 'Get a post with its vote count',
      description: 'Any logged-in user may read any post; with `include=voted`, the answer also says whether the token\'s user voted for it.',
      params: IdParamsSchema,
      querystring: PostQuerySchema,
      headers: IfNoneMatchSchema,
      response: { 200: PostResponseSchema, 304: NotModifiedSchema, 401: UnauthorizedSchema, 404: notFound, 422: ValidationErrorSchema, ...limitedResponses, ...faultResponses }
    }
  }, async function get (request, reply) {
    const { id } = request.params
    const { caller } = request
    const post = request.query.include === 'voted'
      ? await fastify.read(caller, db => findPostOut(db, caller, id, true))
      : await fastify.readCache.post(caller, id, db => findPostOut(db, caller, id))
    if (!post) throw new PostNotFoundError(id)
    return fastify.representation(reply, post, PostResponseSchema)
  })

  fastify.post('/', {
    schema: {
      ...common,
      operationId: 'createPost',
      summary: 'Create a post',
      description: 'The post is owned by the token\'s user; `published` defaults to true.',
      body: PostCreateSchema,
      response: { 201: asResponse(PostSchema, 'The new post, owned by the token\'s user'), 401: UnauthorizedSchema, ...bodyResponses(), 422: ValidationErrorSchema, ...limitedResponses, ...faultResponses }
    }
  }, async function create (request, reply) {
    const { title, content, published = true } = request.body
    return reply.code(201).send(await createPost(fastify.pg, request.caller, { title, content, published }))
  })

  async function update (caller: Caller, id: number, condition: string | undefined, reply: FastifyReply, changes: PostChanges) {
    await assertOwnPost(caller, id)
    const post = await ifMatching(caller, id, condition, reply, db => updatePost(db, caller.userId, id, changes))
    if (!post) throw new PostNotFoundError(id)
    return post
  }

  fastify.put('/:id', {
    schema: {
      ...common,
      operationId: 'replacePost',
      summary: 'Replace a post',
      description: 'Title and content are required; published defaults to true.',
      params: IdParamsSchema,
      headers: IfMatchSchema,
      body: PostCreateSchema,
      response: { 200: asResponse(PostSchema, 'The updated post'), 401: UnauthorizedSchema, 403: forbidden, 404: notFound, 412: changed, ...bodyResponses(), 422: ValidationErrorSchema, ...limitedResponses, ...faultResponses }
    }
  }, async function replace (request, reply) {
    const { title, content, published = true } = request.body
    return update(request.caller, request.params.id, request.headers['if-match'], reply, { title, content, published })
  })

  fastify.patch('/:id', {
    schema: {
      ...common,
      operationId: 'patchPost',
      summary: 'Change some fields of a post',
      description: 'Only the owner may change a post; the fields left out keep their values.',
      params: IdParamsSchema,
      headers: IfMatchSchema,
      body: PostPatchSchema,
      response: { 200: asResponse(PostSchema, 'The updated post'), 401: UnauthorizedSchema, 403: forbidden, 404: notFound, 412: changed, ...bodyResponses(), 422: ValidationErrorSchema, ...limitedResponses, ...faultResponses }
    }
  }, async function patch (request, reply) {
    const { title, content, published } = request.body
    if (title === undefined && content === undefined && published === undefined) {
      // Fields the schema ignores count for its minProperties: a body of only those is refused here.
      throw new UnprocessableError([{ loc: ['body'], msg: atLeastOneOf(Object.keys(PostPatchSchema.properties)), type: 'missing' }])
    }
    return update(request.caller, request.params.id, request.headers['if-match'], reply, { title, content, published })
  })

  fastify.delete('/:id', {
    schema: {
      ...common,
      operationId: 'deletePost',
      summary: 'Delete a post and its votes',
      description: 'Only the owner may delete a post; its votes go with it.',
      params: IdParamsSchema,
      headers: IfMatchSchema,
      response: { 204: Type.Null({ description: 'Deleted' }), 401: UnauthorizedSchema, 403: forbidden, 404: notFound, 412: changed, ...bodyResponses(), 422: ValidationErrorSchema, ...limitedResponses, ...faultResponses }
    }
  }, async function remove (request, reply) {
    const { id } = request.params
    await assertOwnPost(request.caller, id)
    if (!await ifMatching(request.caller, id, request.headers['if-match'], reply, db => deletePost(db, request.caller.userId, id))) throw new PostNotFoundError(id)
    return reply.code(204).send(null)
  })
}

export default posts
