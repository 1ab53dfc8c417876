import { Type, type Static } from 'typebox'
import { PasswordSchema, TextSchema, TimestampSchema } from './common.js'

export const LOGOUT_SCOPES = ['local', 'others', 'global'] as const
export const LogoutQuerySchema = Type.Object({
  scope: Type.Optional(Type.Enum(LOGOUT_SCOPES, {
    default: 'local',
    description: 'Which sessions end: this one (`local`, the default), the user\'s `others`, or all of them (`global`)'
  }))
})
export type LogoutScope = typeof LOGOUT_SCOPES[number]

export const SessionSchema = Type.Object({
  id: Type.String({ format: 'uuid', description: 'The session\'s id (the `sid` of its access tokens)', examples: ['9b2f6c1e-8a4d-4f7e-9c3b-2d1e0f5a6b7c'] }),
  created_at: TimestampSchema,
  last_used_at: { ...TimestampSchema, description: 'The last login or refresh of the session' },
  user_agent: Type.Union([Type.String(), Type.Null()], { description: 'The `User-Agent` of the login', examples: ['Mozilla/5.0 (X11; Linux x86_64)'] }),
  ip: Type.Union([Type.String(), Type.Null()], { description: 'The client address of the login', examples: ['203.0.113.7'] }),
  current: Type.Boolean({ description: 'Whether the request\'s token belongs to this session', examples: [true] })
}, { title: 'Session', description: 'A live session of the user' })

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
/** Whether `id` can be a session's (a UUID): others are simply not found. */
export const isSessionId = (id: string): boolean => UUID.test(id)

export const SessionParamsSchema = Type.Object({ id: Type.String({ description: 'A session\'s id', examples: ['9b2f6c1e-8a4d-4f7e-9c3b-2d1e0f5a6b7c'] }) })

export const PasswordChangeSchema = Type.Object({
  // An empty one is a wrong one (403), as any other that is not the password.
  current_password: Type.String({ examples: ['correct horse'] }),
  new_password: PasswordSchema
}, { title: 'PasswordChange', description: 'The current password and its replacement (8 to 72 bytes, as registration takes)' })

export const AccountDeletionSchema = Type.Object({
  password: Type.String({ examples: ['correct horse'] })
}, { title: 'AccountDeletion', description: 'The account\'s password, to confirm' })

export const TokenFormSchema = Type.Object({
  grant_type: Type.Optional(Type.String({ description: '`password` or `refresh_token`', examples: ['password'] })),
  username: Type.Optional(TextSchema({ description: 'The email (password grant)', examples: ['ada@example.com'] })),
  password: Type.Optional(Type.String({ description: 'The password (password grant)', examples: ['correct horse'] })),
  refresh_token: Type.Optional(Type.String({ description: 'The refresh token (refresh_token grant)', examples: ['q3N0m1p8Vf2xYzL0aB4cD6eF8gH0iJ2kL4mN6oP8qR0'] }))
}, { title: 'TokenRequest', description: 'An OAuth2 token request (RFC 6749): `grant_type=password` with `username` and `password`, or `grant_type=refresh_token` with `refresh_token`; other fields (scope, client credentials) are ignored' })
export type TokenForm = Static<typeof TokenFormSchema>

export const TokenGrantSchema = Type.Object({
  access_token: Type.String({ examples: ['eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9...'] }),
  token_type: Type.Literal('bearer'),
  expires_in: Type.Integer({ description: 'The access token\'s lifetime in seconds', examples: [3600] }),
  refresh_token: Type.String({ description: 'Single use: a refresh returns the next one', examples: ['q3N0m1p8Vf2xYzL0aB4cD6eF8gH0iJ2kL4mN6oP8qR0'] })
}, { title: 'TokenGrant', description: 'An access token and the refresh token that renews it' })

export const OAUTH_ERRORS = ['invalid_request', 'invalid_grant', 'unsupported_grant_type'] as const
export const OAuthErrorSchema = Type.Object({
  error: Type.Enum(OAUTH_ERRORS, { examples: ['invalid_grant'] }),
  error_description: Type.String({ examples: ['The refresh token is invalid, expired or revoked'] })
}, { title: 'OAuthError', description: 'An RFC 6749 §5.2 error: `invalid_request` (a field is missing), `invalid_grant` (wrong credentials, or a refresh token that is unknown, expired, used or revoked), `unsupported_grant_type`' })
export type OAuthErrorCode = typeof OAUTH_ERRORS[number]
