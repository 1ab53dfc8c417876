import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyReply } from 'fastify'
import { OAuthErrorSchema, TokenFormSchema, TokenGrantSchema, type OAuthErrorCode } from '../../../schemas/sessions.js'
import { ServiceUnavailableSchema, TooManyAttemptsSchema, asResponse, bodyResponses, faultResponses } from '../../../schemas/common.js'

const REFUSED_REFRESH = {
  unknown: 'The refresh token is invalid, expired or revoked',
  reused: 'The refresh token has already been used',
  stolen: 'The refresh token had already been used: its session has ended'
}

/** An RFC 6749 §5.2 error answer. */
const refuse = (reply: FastifyReply, error: OAuthErrorCode, description: string) =>
  reply.code(400).send({ error, error_description: description })

const token: FastifyPluginAsyncTypebox = async (fastify) => {
  await fastify.readOAuthForms(fastify, { oauthErrors: true })
  const expiresIn = fastify.config.ACCESS_TOKEN_EXPIRE_MINUTES * 60

  // Token answers, granted or refused, are never cached (RFC 6749 §5.1).
  fastify.addHook('onSend', async function noStore (_request, reply) {
    reply.header('cache-control', 'no-store')
    reply.header('pragma', 'no-cache')
  })

  fastify.post('/', {
    preHandler: fastify.limitAttempts,
    // Fields of the wrong kind (a file where text belongs) are an RFC 6749 `invalid_request`, not a 422.
    attachValidation: true,
    schema: {
      operationId: 'token',
      summary: 'OAuth2 token endpoint: log in, or refresh',
      description: 'RFC 6749: `grant_type=password` with `username` (the email) and `password` starts a session; `grant_type=refresh_token` with `refresh_token` continues one. Either answers with an access token and a refresh token. A refresh token is single use: each refresh returns the next one. A used refresh token presented again more than 10 seconds later ends its session. A session lasts REFRESH_TOKEN_EXPIRE_DAYS from its login.',
      tags: ['Authentication'],
      consumes: ['application/x-www-form-urlencoded', 'multipart/form-data'],
      body: TokenFormSchema,
      response: {
        200: asResponse(TokenGrantSchema, 'The tokens (with `Cache-Control: no-store`)'),
        413: bodyResponses()[413],
        // Every 400 of the token endpoint is RFC 6749's, a body that does not match its length too.
        400: {
          ...OAuthErrorSchema,
          description: 'Refused (RFC 6749 §5.2): `invalid_request` (a field is missing, as in a JSON body, which is read as no fields; or the form cannot be read; or the body is neither a form nor JSON), `invalid_grant` (wrong credentials, or a refresh token that is unknown, expired, used or revoked), `unsupported_grant_type`'
        },
        429: TooManyAttemptsSchema,
        503: ServiceUnavailableSchema,
        ...faultResponses
      }
    }
  }, async function grant (request, reply) {
    if (request.validationError) return refuse(reply, 'invalid_request', 'Each field must be given once, as text (no NUL characters)')
    const form = request.body
    if (form.grant_type === undefined) return refuse(reply, 'invalid_request', 'grant_type is missing')
    if (form.grant_type === 'password') {
      if (form.username === undefined || form.password === undefined) return refuse(reply, 'invalid_request', `${form.username === undefined ? 'username' : 'password'} is missing`)
      const userId = await fastify.sessions.checkCredentials(form.username, form.password)
      if (userId === undefined) return refuse(reply, 'invalid_grant', 'Invalid Credentials')
      const grant = await fastify.sessions.start(request, userId, true)
      // The user was deleted since their password was checked.
      if (!grant) return refuse(reply, 'invalid_grant', 'Invalid Credentials')
      return { access_token: grant.accessToken, token_type: 'bearer' as const, expires_in: expiresIn, refresh_token: grant.refreshToken! }
    }
    if (form.grant_type === 'refresh_token') {
      if (form.refresh_token === undefined) return refuse(reply, 'invalid_request', 'refresh_token is missing')
      const refreshed = await fastify.sessions.refresh(form.refresh_token)
      if ('reason' in refreshed) return refuse(reply, 'invalid_grant', REFUSED_REFRESH[refreshed.reason])
      return { access_token: refreshed.accessToken, token_type: 'bearer' as const, expires_in: expiresIn, refresh_token: refreshed.refreshToken! }
    }
    return refuse(reply, 'unsupported_grant_type', 'grant_type must be password or refresh_token')
  })
}

export default token
