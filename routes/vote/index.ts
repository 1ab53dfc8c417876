import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { castVote } from '../../db/queries/votes.js'
import { PostNotFoundError, VoteConflictError, VoteNotFoundError } from '../../lib/http-errors.js'
import { UnauthorizedSchema, ValidationErrorSchema, bearerSecurity, bodyResponses, errorResponse, faultResponses, limitedResponses } from '../../schemas/common.js'

const VoteSchema = Type.Object({
  post_id: Type.Integer({ examples: [7] }),
  // The enum is for the document (a generated client then refuses 2); the bounds give a 422 that says which one was crossed.
  dir: Type.Enum([0, 1], { type: 'integer', minimum: 0, maximum: 1, description: '1 to vote, 0 to take the vote back', examples: [1] })
}, { title: 'VoteIn', description: 'A vote for a post (`dir` 1), or taking it back (`dir` 0)' })

const VoteMessageSchema = Type.Object({
  message: Type.Enum(['successfully added vote', 'successfully deleted vote'], { type: 'string' })
}, { title: 'VoteMessage', description: '"successfully added vote" (dir 1) or "successfully deleted vote" (dir 0)' })

const vote: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.post('/', {
    schema: {
      operationId: 'vote',
      summary: 'Vote for a post, or take the vote back',
      description: '`dir` 1 adds the token user\'s vote (409 if it is already there); `dir` 0 removes it (404 if there is none).',
      tags: ['Vote'],
      security: bearerSecurity,
      body: VoteSchema,
      response: {
        201: VoteMessageSchema,
        401: UnauthorizedSchema,
        404: errorResponse('The post does not exist, or (dir 0) there is no vote to take back', 'Post with id: 7 does not exist'),
        409: errorResponse('This user has already voted on the post', 'user 1 has already voted on post 7'),
        ...bodyResponses(),
        422: ValidationErrorSchema,
        ...limitedResponses,
        ...faultResponses
      }
    }
  }, async function voteOrTakeBack (request, reply) {
    const { post_id: postId, dir } = request.body
    const outcome = await castVote(fastify.pg, request.caller, postId, dir)
    if (!outcome.post) throw new PostNotFoundError(postId)
    if (dir === 1) {
      if (!outcome.done) throw new VoteConflictError(request.caller.userId, postId)
      return reply.code(201).send({ message: 'successfully added vote' })
    }
    if (!outcome.done) throw new VoteNotFoundError()
    return reply.code(201).send({ message: 'successfully deleted vote' })
  })
}

export default vote
