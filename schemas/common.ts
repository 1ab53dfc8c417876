import { Type } from 'typebox'

const INT4_MAX = 2_147_483_647

/** A database id; values the column cannot hold are simply not found, so only integers are enforced. */
export const IdSchema = Type.Integer({ description: 'A numeric id', examples: [1] })
export const IdParamsSchema = Type.Object({ id: IdSchema })

/** True when `id` can name a row: ids beyond int4 (or below 1) never exist. */
export const isStoredId = (id: number): boolean => Number.isInteger(id) && id >= 1 && id <= INT4_MAX

/** Text that PostgreSQL can store: anything but the NUL character. */
export const NO_NUL_PATTERN = '^[^\\u0000]*$'
export const TextSchema = (options: Parameters<typeof Type.String>[0] = {}) => Type.String({ pattern: NO_NUL_PATTERN, ...options })

/** bcrypt reads a password's first 72 bytes only: a longer one is refused, never silently cut. */
export const PASSWORD_MAX_BYTES = 72

export const EmailSchema = TextSchema({ format: 'email', maxLength: 320, examples: ['ada@example.com'] })
export const TimestampSchema = Type.String({ format: 'date-time', examples: ['2026-11-21T10:23:00.123456+00:00'] })

export const UserOutSchema = Type.Object({
  id: Type.Integer({ examples: [1] }),
  email: Type.String({ examples: ['ada@example.com'] }),
  created_at: TimestampSchema
}, { description: 'A user, as anyone may see it' })

export const messageSchema = (description: string, example: string) =>
  Type.Object({ message: Type.String({ examples: [example] }) }, { description })

/** A 4xx or 5xx answer: `{"detail": example}`. */
export const errorResponse = (description: string, example: string) =>
  Type.Object({ detail: Type.String({ examples: [example] }) }, { description })

export const ValidationErrorSchema = Type.Object({
  detail: Type.Array(Type.Object({
    loc: Type.Array(Type.Union([Type.String(), Type.Integer()]), { examples: [['body', 'title']] }),
    msg: Type.String({ examples: ['Field required'] }),
    type: Type.String({ examples: ['missing'] })
  }))
}, { description: 'The request failed validation: one entry per problem' })

export const TooManyAttemptsSchema = errorResponse('Over LOGIN_RATE_LIMIT attempts a minute from this address or for this account (with `Retry-After`)', 'Too many requests: retry in 42 seconds')
export const UnauthorizedSchema = errorResponse('Not authenticated, or the token is invalid or expired (with `WWW-Authenticate: Bearer`)', 'Could not validate credentials')

/** The bearer-token security requirement, for routes that authenticate. */
export const bearerSecurity = [{ OAuth2PasswordBearer: [] }]
