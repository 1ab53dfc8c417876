import { Type } from 'typebox'
import { MAX_BYTES, NO_NUL_PATTERN } from '../lib/schema-keywords.js'

const INT4_MAX = 2_147_483_647

/** A database id; values the column cannot hold are simply not found, so only integers are enforced. */
export const IdSchema = Type.Integer({ description: 'A numeric id', examples: [1] })
export const IdParamsSchema = Type.Object({ id: IdSchema })

/** True when `id` can name a row: ids beyond int4 (or below 1) never exist. */
export const isStoredId = (id: number): boolean => Number.isInteger(id) && id >= 1 && id <= INT4_MAX

/** Text that PostgreSQL can store: anything but the NUL character. */
export const TextSchema = (options: Parameters<typeof Type.String>[0] = {}) => Type.String({ pattern: NO_NUL_PATTERN, ...options })

/** bcrypt reads a password's first 72 bytes only: a longer one is refused, never silently cut. */
export const PASSWORD_MAX_BYTES = 72

/** A password as registration takes it. */
export const PasswordSchema = TextSchema({ minLength: 8, [MAX_BYTES]: PASSWORD_MAX_BYTES, description: '8 to 72 bytes (bcrypt reads no more)', examples: ['correct horse'] })
export const EmailSchema = TextSchema({ format: 'email', maxLength: 320, examples: ['ada@example.com'] })
export const TimestampSchema = Type.String({ format: 'date-time', examples: ['2026-11-21T10:23:00.123456+00:00'] })

export const UserOutSchema = Type.Object({
  id: Type.Integer({ examples: [1] }),
  email: Type.String({ examples: ['ada@example.com'] }),
  created_at: TimestampSchema
}, { title: 'UserOut', description: 'A user, as anyone may see it' })

/**
 * Titled schemas are named components of the OpenAPI document (see plugins/docs/openapi-components.ts),
 * so each title must always come with the same schema. What differs between the routes that
 * share one goes beside it: `x-response-description` for the response's description, and
 * `examples` for its example (both moved out of the schema by @fastify/swagger).
 */
export const asResponse = <S extends object>(schema: S, description: string, example?: unknown) =>
  ({ ...schema, 'x-response-description': description, ...(example === undefined ? {} : { examples: [example] }) })

const HTTPErrorSchema = Type.Object({ detail: Type.String() }, { title: 'HTTPError', description: 'What went wrong' })

/** A response header; `required`: always sent with that status. */
export interface HeaderSchema { type: 'integer' | 'string', description: string, required: boolean }

/** A 4xx or 5xx answer: `{"detail": example}`, with the headers it always carries. */
export const errorResponse = (description: string, example: string, headers?: Record<string, HeaderSchema>) =>
  ({ ...asResponse(HTTPErrorSchema, description, { detail: example }), ...(headers ? { headers } : {}) })

export const ValidationErrorSchema = Type.Object({
  detail: Type.Array(Type.Object({
    loc: Type.Array(Type.Union([Type.String(), Type.Integer()]), { examples: [['body', 'title']] }),
    msg: Type.String({ examples: ['Field required'] }),
    type: Type.String({ examples: ['missing'] })
  }, { title: 'ValidationError', description: 'One problem: where (`loc`), what (`msg`) and its kind (`type`)' }))
}, { title: 'HTTPValidationError', description: 'The request failed validation: one entry per problem' })

const RETRY_AFTER = { 'Retry-After': { type: 'integer', description: 'Seconds to wait before trying again', required: true } } as const

/** Over RATE_LIMIT requests a minute from one address: every route but /health and /ready. */
export const TooManyRequestsSchema = errorResponse('Over RATE_LIMIT requests a minute from this address (with `Retry-After`)', 'Too many requests: retry in 42 seconds', RETRY_AFTER)
export const TooManyAttemptsSchema = errorResponse('Over LOGIN_RATE_LIMIT attempts a minute from this address or for this account, or over RATE_LIMIT requests a minute from this address (with `Retry-After`)', 'Too many requests: retry in 42 seconds', RETRY_AFTER)
export const ServiceUnavailableSchema = errorResponse('The database cannot be reached, the server is overloaded, or it is shutting down (with `Retry-After`)', 'Service unavailable', RETRY_AFTER)
/** `GET /stream`'s 503: besides the usual reasons, this process holds STREAM_MAX_CONNECTIONS streams. */
export const StreamsUnavailableSchema = errorResponse('Over STREAM_MAX_CONNECTIONS streams are open on this process, the database cannot be reached, the server is overloaded, or it is shutting down (with `Retry-After`)', 'Service unavailable', RETRY_AFTER)
/** /health's only 503: it reads no database and is never shed. */
export const ShuttingDownSchema = errorResponse('The server is shutting down: a request that arrives while it drains (with `Retry-After` and `Connection: close`)', 'Service unavailable', RETRY_AFTER)
export const UnauthorizedSchema = errorResponse('Not authenticated, or the token is invalid or expired (with `WWW-Authenticate: Bearer`)', 'Could not validate credentials', {
  'WWW-Authenticate': { type: 'string', description: 'Always `Bearer`', required: true }
})

/** What any route can answer besides its own statuses: it is rate-limited, and shed under overload or a database outage. */
export const limitedResponses = { 429: TooManyRequestsSchema, 503: ServiceUnavailableSchema }

/** A fault of the server (a bug, a broken database), never of the request: every route can answer it. */
export const faultResponses = { 500: errorResponse('The server failed; the fault is logged with the request id', 'Internal Server Error') }

/** What a route that reads a body (POST, PUT, PATCH and DELETE: Fastify reads a DELETE's body too) can answer besides. */
export const bodyResponses = (unsupported = 'The body is not JSON') => ({
  400: errorResponse('The body is shorter or longer than its Content-Length', 'Request body size did not match Content-Length'),
  413: errorResponse('The body is larger than BODY_LIMIT bytes', 'Request body is too large'),
  415: errorResponse(unsupported, 'Unsupported Media Type')
})

/** The bearer-token security requirement, for routes that authenticate: a token from `/login` or from `/auth/token`. */
export const bearerSecurity: { [scheme: string]: string[] }[] = [{ OAuth2PasswordBearer: [] }, { OAuth2TokenEndpoint: [] }]
