import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { InvalidCredentialsError } from '../../lib/http-errors.js'
import { ServiceUnavailableSchema, TextSchema, TooManyAttemptsSchema, ValidationErrorSchema, bodyResponses, errorResponse, faultResponses } from '../../schemas/common.js'

const LoginFormSchema = Type.Object({
  username: TextSchema({ minLength: 1, description: 'The email address', examples: ['ada@example.com'] }),
  password: Type.String({ minLength: 1, examples: ['correct horse'] })
}, { title: 'Body_login_login_post', description: 'An OAuth2 password-flow form; grant_type, scope and client credentials are ignored' })

const TokenSchema = Type.Object({
  access_token: Type.String({ examples: ['eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9...'] }),
  token_type: Type.Literal('bearer')
}, { title: 'Token', description: 'A bearer token for the `Authorization` header' })

const login: FastifyPluginAsyncTypebox = async (fastify) => {
  await fastify.readOAuthForms(fastify)

  fastify.post('/', {
    preHandler: fastify.limitAttempts,
    schema: {
      operationId: 'login',
      summary: 'Log in for an access token',
      description: 'Takes `username` (the email) and `password` as a form and answers with a JWT, as the course does. Each login starts a session (see `POST /auth/token`, which also gives a refresh token).',
      tags: ['Authentication'],
      consumes: ['application/x-www-form-urlencoded', 'multipart/form-data'],
      body: LoginFormSchema,
      response: {
        200: TokenSchema,
        403: errorResponse('Unknown email or wrong password (the same answer for both)', 'Invalid Credentials'),
        ...bodyResponses('The body is neither a form (urlencoded or multipart) nor JSON'),
        400: errorResponse('The form cannot be read (multipart without its boundary, or cut short), or the body does not match its Content-Length', 'The form body could not be read'),
        422: ValidationErrorSchema,
        429: TooManyAttemptsSchema,
        503: ServiceUnavailableSchema,
        ...faultResponses
      }
    }
  }, async function logIn (request) {
    const { username, password } = request.body
    const userId = await fastify.sessions.checkCredentials(username, password)
    if (userId === undefined) throw new InvalidCredentialsError()
    const grant = await fastify.sessions.start(request, userId, false)
    // The user was deleted since their password was checked.
    if (!grant) throw new InvalidCredentialsError()
    return { access_token: grant.accessToken, token_type: 'bearer' as const }
  })
}

export default login
