import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { createUser, findTokenUser, findUserById } from '../../db/queries/users.js'
import { UserNotFoundError } from '../../lib/http-errors.js'
import { FeedPageSchema, ListQuerySchema } from '../../schemas/posts.js'
import { MAX_BYTES } from '../../lib/schema-keywords.js'
import { EmailSchema, IdParamsSchema, PASSWORD_MAX_BYTES, ServiceUnavailableSchema, TextSchema, TooManyAttemptsSchema, UnauthorizedSchema, UserOutSchema, ValidationErrorSchema, asResponse, bearerSecurity, bodyResponses, errorResponse, faultResponses, limitedResponses } from '../../schemas/common.js'

const UserCreateSchema = Type.Object({
  email: EmailSchema,
  password: TextSchema({ minLength: 8, [MAX_BYTES]: PASSWORD_MAX_BYTES, description: '8 to 72 bytes (bcrypt reads no more)', examples: ['correct horse'] })
}, { title: 'UserCreate', description: 'A new user\'s email and password' })

const userNotFound = errorResponse('No user has that id', 'User with id: 7 does not exist')

const users: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.post('/', {
    preHandler: fastify.limitAttempts,
    schema: {
      operationId: 'createUser',
      summary: 'Register a user',
      description: 'Creates a user with an email (unique regardless of letter case) and a password of 8 to 72 bytes, stored as a bcrypt hash.',
      tags: ['Users'],
      body: UserCreateSchema,
      response: {
        201: asResponse(UserOutSchema, 'The new user'),
        409: errorResponse('That email is already registered (letter case aside)', 'Email already registered'),
        ...bodyResponses(),
        422: ValidationErrorSchema,
        429: TooManyAttemptsSchema,
        503: ServiceUnavailableSchema,
        ...faultResponses
      }
    }
  }, async function register (request, reply) {
    const { email, password } = request.body
    const hash = await fastify.passwords.hash(password, fastify.config.BCRYPT_ROUNDS)
    const user = await createUser(fastify.pg, email, hash)
    return reply.code(201).send(user)
  })

  fastify.get('/me', {
    preParsing: fastify.authenticate,
    schema: {
      operationId: 'getCurrentUser',
      summary: 'The authenticated user',
      description: 'The user the bearer token was issued to.',
      tags: ['Users'],
      security: bearerSecurity,
      response: { 200: asResponse(UserOutSchema, 'The token\'s user'), 401: UnauthorizedSchema, ...limitedResponses, ...faultResponses }
    }
  }, async function me (request) {
    return findTokenUser(fastify.pg, request.userId)
  })

  fastify.get('/:id', {
    schema: {
      operationId: 'getUser',
      summary: 'Get a user by id',
      description: 'Anyone may look a user up; the answer never carries the password.',
      tags: ['Users'],
      params: IdParamsSchema,
      response: {
        200: asResponse(UserOutSchema, 'The user'),
        404: userNotFound,
        422: ValidationErrorSchema,
        ...limitedResponses,
        ...faultResponses
      }
    }
  }, async function getUser (request) {
    const { id } = request.params
    const user = await findUserById(fastify.pg, id)
    if (!user) throw new UserNotFoundError(id)
    return user
  })

  fastify.get('/:id/posts', {
    preParsing: fastify.authenticate,
    schema: {
      operationId: 'listUserPosts',
      summary: 'List one user\'s posts: newest, top or hot first',
      description: 'The posts the user owns, with the same parameters, order, paging (`Link: <...>; rel="next"`) and answer as `GET /posts`.',
      tags: ['Posts'],
      security: bearerSecurity,
      params: IdParamsSchema,
      querystring: ListQuerySchema,
      response: {
        200: FeedPageSchema,
        401: UnauthorizedSchema,
        404: userNotFound,
        422: ValidationErrorSchema,
        ...limitedResponses,
        ...faultResponses
      }
    }
  }, async function userPosts (request, reply) {
    const { id } = request.params
    const posts = await fastify.feedPage(request, reply, id)
    if (!posts) throw new UserNotFoundError(id)
    return posts
  })
}

export default users
