import formbody from '@fastify/formbody'
import multipart from '@fastify/multipart'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { findCredentialsByEmail } from '../../db/queries/users.js'
import { InvalidCredentialsError, MalformedFormError } from '../../lib/http-errors.js'
import { PASSWORD_MAX_BYTES, ServiceUnavailableSchema, TextSchema, TooManyAttemptsSchema, ValidationErrorSchema, bodyResponses, errorResponse, faultResponses } from '../../schemas/common.js'

const LoginFormSchema = Type.Object({
  username: TextSchema({ minLength: 1, description: 'The email address', examples: ['ada@example.com'] }),
  password: Type.String({ minLength: 1, examples: ['correct horse'] })
}, { title: 'Body_login_login_post', description: 'An OAuth2 password-flow form; grant_type, scope and client credentials are ignored' })

const TokenSchema = Type.Object({
  access_token: Type.String({ examples: ['eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9...'] }),
  token_type: Type.Literal('bearer')
}, { title: 'Token', description: 'A bearer token for the `Authorization` header' })

const login: FastifyPluginAsyncTypebox = async (fastify) => {
  await fastify.register(formbody)
  await fastify.register(multipart, { attachFieldsToBody: 'keyValues', limits: { files: 4, fileSize: 65_536, fields: 20, fieldSize: 4096 } })
  // A form the parser cannot read (no boundary, cut short) is the client's mistake.
  fastify.setErrorHandler(function malformedForm (error, request) {
    if (request.body === undefined && !(error as { statusCode?: number }).statusCode) {
      throw new MalformedFormError()
    }
    throw error
  })
  // An OAuth2 password flow posts a form: a JSON body is not read, so its fields are missing.
  fastify.removeContentTypeParser('application/json')
  fastify.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, _body, done) => done(null, {}))

  // Unknown emails are checked against a hash of the same cost, so both failures take as long.
  const dummyHash = fastify.passwords.unmatchableHash(fastify.config.BCRYPT_ROUNDS)

  fastify.post('/', {
    // As FastAPI reads a form: no form at all, or an empty field, means the fields are missing.
    preValidation: async function readFormAsFastApiDoes (request) {
      const form = request.body !== null && typeof request.body === 'object' ? request.body as Record<string, unknown> : {}
      request.body = Object.fromEntries(Object.entries(form).filter(([, value]) => value !== '')) as typeof request.body
    },
    preHandler: fastify.limitAttempts,
    schema: {
      operationId: 'login',
      summary: 'Log in for an access token',
      description: 'Takes `username` (the email) and `password` as a form and answers with a JWT.',
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
    const user = await findCredentialsByEmail(fastify.pg, username)
    const matches = await fastify.passwords.compare(password, user?.password ?? dummyHash)
    // bcrypt compared the first 72 bytes only; registration refuses longer passwords, so
    // one is never right (refused after the compare, to take as long as a wrong one).
    const readWhole = Buffer.byteLength(password) <= PASSWORD_MAX_BYTES
    if (!user || !matches || !readWhole) throw new InvalidCredentialsError()
    return { access_token: fastify.signAccessToken(user.id), token_type: 'bearer' as const }
  })
}

export default login
