import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { callerStands, type Caller } from '../../db/queries/caller.js'
import { changePassword, deleteAccount } from '../../db/queries/sessions.js'
import { AccountDeletionSchema, PasswordChangeSchema } from '../../schemas/sessions.js'
import { createUser, findTokenUser, findUserById } from '../../db/queries/users.js'
import { InvalidCredentialsError, InvalidTokenError, UserNotFoundError } from '../../lib/http-errors.js'
import { FeedPageSchema, IfNoneMatchSchema, ListQuerySchema, NotModifiedSchema } from '../../schemas/posts.js'
import { EmailSchema, IdParamsSchema, PasswordSchema, ServiceUnavailableSchema, TooManyAttemptsSchema, UnauthorizedSchema, UserOutSchema, ValidationErrorSchema, asResponse, bearerSecurity, bodyResponses, errorResponse, faultResponses, limitedResponses } from '../../schemas/common.js'

const UserCreateSchema = Type.Object({
  email: EmailSchema,
  password: PasswordSchema
}, { title: 'UserCreate', description: 'A new user\'s email and password' })

const userNotFound = errorResponse('No user has that id', 'User with id: 7 does not exist')

const users: FastifyPluginAsyncTypebox = async (fastify) => {
  /** Why a write conditioned on the password hash just checked found none: the token no longer stands (401), or the password changed meanwhile (403). */
  const changedMeanwhile = async (caller: Caller) =>
    await callerStands(fastify.pg, caller) ? new InvalidCredentialsError() : new InvalidTokenError()

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
    return fastify.read(request.caller, db => findTokenUser(db, request.caller))
  })

  fastify.put('/me/password', {
    preParsing: fastify.authenticate,
    // Each try checks a password: limited as logins are, against guessing with a stolen token.
    preHandler: fastify.limitAttempts,
    schema: {
      operationId: 'changePassword',
      summary: 'Change the password',
      description: 'Takes the current password and the new one (8 to 72 bytes, as registration takes). Every other session of the user ends, and tokens from before sessions (without `sid`) are refused, this request\'s own too if it is one; this session stays.',
      tags: ['Users'],
      security: bearerSecurity,
      body: PasswordChangeSchema,
      response: {
        204: Type.Null({ description: 'Changed' }),
        401: UnauthorizedSchema,
        403: errorResponse('`current_password` is wrong: nothing changes', 'Invalid Credentials'),
        ...bodyResponses(),
        422: ValidationErrorSchema,
        429: TooManyAttemptsSchema,
        503: ServiceUnavailableSchema,
        ...faultResponses
      }
    }
  }, async function changeOwnPassword (request, reply) {
    const { current_password: currentPassword, new_password: newPassword } = request.body
    const current = await fastify.sessions.confirmPassword(request.caller, currentPassword)
    const next = await fastify.passwords.hash(newPassword, fastify.config.BCRYPT_ROUNDS)
    if (!await changePassword(fastify.pg, request.caller, current, next)) throw await changedMeanwhile(request.caller)
    return reply.code(204).send(null)
  })

  fastify.delete('/me', {
    preParsing: fastify.authenticate,
    // Each try checks a password: limited as logins are, against guessing with a stolen token.
    preHandler: fastify.limitAttempts,
    schema: {
      operationId: 'deleteAccount',
      summary: 'Delete the account',
      description: 'Takes the password, to confirm. The user, their posts and their votes are deleted, and every session ends, in one step.',
      tags: ['Users'],
      security: bearerSecurity,
      body: AccountDeletionSchema,
      response: {
        204: Type.Null({ description: 'Deleted' }),
        401: UnauthorizedSchema,
        403: errorResponse('The password is wrong: nothing is deleted', 'Invalid Credentials'),
        ...bodyResponses(),
        422: ValidationErrorSchema,
        429: TooManyAttemptsSchema,
        503: ServiceUnavailableSchema,
        ...faultResponses
      }
    }
  }, async function deleteOwnAccount (request, reply) {
    const current = await fastify.sessions.confirmPassword(request.caller, request.body.password)
    if (!await deleteAccount(fastify.pg, request.caller, current)) throw await changedMeanwhile(request.caller)
    return reply.code(204).send(null)
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
    // Anyone may ask; a token, when sent, says who asks, so that their own writes (an account
    // just deleted) are in the answer whatever replica serves it.
    const asker = await fastify.authenticate(request).then(() => request.caller, () => null)
    const user = await fastify.read(asker, db => findUserById(db, id))
    if (!user) throw new UserNotFoundError(id)
    return user
  })

  fastify.get('/:id/posts', {
    preParsing: fastify.authenticate,
    onSend: fastify.tagRepresentation,
    // feedPage answers it, with a bad cursor's problem listed beside the others.
    attachValidation: true,
    schema: {
      operationId: 'listUserPosts',
      summary: 'List one user\'s posts: newest, top or hot first',
      description: 'The posts the user owns, with the same parameters, order, paging (`Link: <...>; rel="next"`) and answer as `GET /posts`.',
      tags: ['Posts'],
      security: bearerSecurity,
      params: IdParamsSchema,
      querystring: ListQuerySchema,
      headers: IfNoneMatchSchema,
      response: {
        200: FeedPageSchema,
        304: NotModifiedSchema,
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
