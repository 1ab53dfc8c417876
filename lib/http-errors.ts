import createError from '@fastify/error'
import type { ValidationDetail } from './validation-detail.js'

/** How long a client answered 503 Service unavailable (database outage or overload) is asked to wait, in seconds. */
export const RETRY_AFTER_SECONDS = 5

export const NotAuthenticatedError = createError('POSTLINE_NOT_AUTHENTICATED', 'Not authenticated', 401)
export const InvalidTokenError = createError('POSTLINE_INVALID_TOKEN', 'Could not validate credentials', 401)
export const InvalidCredentialsError = createError('POSTLINE_INVALID_CREDENTIALS', 'Invalid Credentials', 403)
export const MalformedFormError = createError('POSTLINE_MALFORMED_FORM', 'The form body could not be read', 400)
export const ForbiddenError = createError('POSTLINE_FORBIDDEN', 'Not authorized to perform requested action', 403)
export const UserNotFoundError = createError('POSTLINE_USER_NOT_FOUND', 'User with id: %s does not exist', 404)
export const InvalidTicketError = createError('POSTLINE_INVALID_TICKET', 'Invalid, used or expired stream ticket', 401)
export const SessionNotFoundError = createError('POSTLINE_SESSION_NOT_FOUND', 'Session with id: %s does not exist', 404)
export const PostNotFoundError = createError('POSTLINE_POST_NOT_FOUND', 'Post with id: %s does not exist', 404)
export const VoteConflictError = createError('POSTLINE_VOTE_CONFLICT', 'user %s has already voted on post %s', 409)
export const VoteNotFoundError = createError('POSTLINE_VOTE_NOT_FOUND', 'Vote does not exist', 404)
export const PostChangedError = createError('POSTLINE_POST_CHANGED', 'The post has changed since its ETag was read', 412)
export const TooManyRequestsError = createError('POSTLINE_TOO_MANY_REQUESTS', 'Too many requests: retry in %s', 429)

/** A 422 found by the handler rather than the schema, sent in the same `detail` list shape. */
export class UnprocessableError extends Error {
  readonly statusCode = 422
  constructor (readonly detail: ValidationDetail[]) {
    super(detail.map(({ msg }) => msg).join('; '))
  }
}
