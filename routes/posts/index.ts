import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { createPost, deletePost, findPostOut, findPostOwnerId, listPosts, updatePost, type PostChanges } from '../../entities/post-repository.js'
import type { UserOut } from '../../entities/user-repository.js'
import { ForbiddenError, PostNotFoundError, UnprocessableError } from '../../lib/http-errors.js'
import { IdParamsSchema, UnauthorizedSchema, ValidationErrorSchema, bearerSecurity, errorResponse, isStoredId } from '../../schemas/common.js'
import { ListQuerySchema, PostCreateSchema, PostOutSchema, PostPatchSchema, PostSchema } from './schemas.js'
import type { EntityManager } from '@mikro-orm/postgresql'

const notFound = errorResponse('No post has that id')
const forbidden = errorResponse('The post belongs to another user')

/** 404 when the post does not exist, 403 when it is not the user's. */
async function assertOwnPost (em: EntityManager, user: UserOut, id: number): Promise<void> {
  const ownerId = isStoredId(id) ? await findPostOwnerId(em, id) : undefined
  if (ownerId === undefined) throw new PostNotFoundError(id)
  if (ownerId !== user.id) throw new ForbiddenError()
}

const posts: FastifyPluginAsyncTypebox = async (fastify) => {
  const common = { tags: ['Posts'], security: bearerSecurity }

  fastify.get('/', {
    schema: {
      ...common,
      summary: 'List posts, newest first',
      querystring: ListQuerySchema,
      response: {
        200: Type.Array(PostOutSchema, { description: 'A page of posts with their vote counts' }),
        401: UnauthorizedSchema,
        422: ValidationErrorSchema
      }
    }
  }, async function list (request) {
    return listPosts(request.em, request.query)
  })

  fastify.get('/:id', {
    schema: {
      ...common,
      summary: 'Get a post with its vote count',
      params: IdParamsSchema,
      response: { 200: { ...PostOutSchema, description: 'The post' }, 401: UnauthorizedSchema, 404: notFound, 422: ValidationErrorSchema }
    }
  }, async function get (request) {
    const { id } = request.params
    const post = isStoredId(id) ? await findPostOut(request.em, id) : undefined
    if (!post) throw new PostNotFoundError(id)
    return post
  })

  fastify.post('/', {
    schema: {
      ...common,
      summary: 'Create a post',
      body: PostCreateSchema,
      response: { 201: { ...PostSchema, description: 'The new post, owned by the token\'s user' }, 401: UnauthorizedSchema, 422: ValidationErrorSchema }
    }
  }, async function create (request, reply) {
    const { title, content, published = true } = request.body
    const post = await createPost(request.em, request.user, { title, content, published })
    return reply.code(201).send(post)
  })

  async function update (em: EntityManager, user: UserOut, id: number, changes: PostChanges) {
    await assertOwnPost(em, user, id)
    const post = await updatePost(em, user, id, changes)
    if (!post) throw new PostNotFoundError(id)
    return post
  }

  fastify.put('/:id', {
    schema: {
      ...common,
      summary: 'Replace a post',
      description: 'Title and content are required; published defaults to true.',
      params: IdParamsSchema,
      body: PostCreateSchema,
      response: { 200: { ...PostSchema, description: 'The updated post' }, 401: UnauthorizedSchema, 403: forbidden, 404: notFound, 422: ValidationErrorSchema }
    }
  }, async function replace (request) {
    const { title, content, published = true } = request.body
    return update(request.em, request.user, request.params.id, { title, content, published })
  })

  fastify.patch('/:id', {
    schema: {
      ...common,
      summary: 'Change some fields of a post',
      params: IdParamsSchema,
      body: PostPatchSchema,
      response: { 200: { ...PostSchema, description: 'The updated post' }, 401: UnauthorizedSchema, 403: forbidden, 404: notFound, 422: ValidationErrorSchema }
    }
  }, async function patch (request) {
    const { title, content, published } = request.body
    if (title === undefined && content === undefined && published === undefined) {
      throw new UnprocessableError([{ loc: ['body'], msg: 'At least one of title, content and published must be given', type: 'missing' }])
    }
    return update(request.em, request.user, request.params.id, { title, content, published })
  })

  fastify.delete('/:id', {
    schema: {
      ...common,
      summary: 'Delete a post and its votes',
      params: IdParamsSchema,
      response: { 204: Type.Null({ description: 'Deleted' }), 401: UnauthorizedSchema, 403: forbidden, 404: notFound, 422: ValidationErrorSchema }
    }
  }, async function remove (request, reply) {
    const { id } = request.params
    await assertOwnPost(request.em, request.user, id)
    if (!await deletePost(request.em, request.user, id)) throw new PostNotFoundError(id)
    return reply.code(204).send(null)
  })
}

export default posts
