import { Type } from 'typebox'
import { IdSchema, TextSchema, TimestampSchema, UserOutSchema } from './common.js'

const TITLE_EXAMPLE = 'Top beaches in Florida'
const CONTENT_EXAMPLE = 'Check out these awesome beaches'
const TitleSchema = TextSchema({ minLength: 1, maxLength: 300, examples: [TITLE_EXAMPLE] })
const ContentSchema = TextSchema({ minLength: 1, maxLength: 50_000, examples: [CONTENT_EXAMPLE] })
// Its default is said in words and applied by the handlers: with `default` in a named schema,
// openapi-typescript would make `published` required in the client's request type.
const PublishedSchema = Type.Boolean({ description: 'Defaults to true', examples: [true] })

export const PostCreateSchema = Type.Object({
  title: TitleSchema,
  content: ContentSchema,
  published: Type.Optional(PublishedSchema)
}, { title: 'PostCreate', description: 'A post; `published` defaults to true. Other fields (such as `id`) are ignored.' })

export const PostPatchSchema = Type.Object({
  title: Type.Optional(TitleSchema),
  content: Type.Optional(ContentSchema),
  published: Type.Optional(Type.Boolean({ examples: [true] }))
}, { title: 'PostPatch', minProperties: 1, description: 'Any non-empty subset of title, content and published' })

export const PostSchema = Type.Object({
  id: IdSchema,
  title: Type.String({ examples: [TITLE_EXAMPLE] }),
  content: Type.String({ examples: [CONTENT_EXAMPLE] }),
  published: Type.Boolean({ examples: [true] }),
  created_at: TimestampSchema,
  owner_id: IdSchema,
  owner: UserOutSchema
}, { title: 'Post', description: 'A post with its owner' })

export const PostOutSchema = Type.Object({
  Post: PostSchema,
  votes: Type.Integer({ minimum: 0, description: 'How many users voted for the post', examples: [3] })
}, { title: 'PostOut', description: 'A post with its vote count' })

/** Each parameter may be left out (the docs must not ask for it); validation fills in its default. */
export const ListQuerySchema = Type.Object({
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 10, description: 'Page size' })),
  skip: Type.Optional(Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER, default: 0, description: 'Posts to skip' })),
  search: Type.Optional(TextSchema({ default: '', description: 'Case-insensitive text the title contains; `%` and `_` are literal' }))
})
