import { Type } from 'typebox'
import { IdSchema, TextSchema, TimestampSchema, UserOutSchema } from '../../schemas/common.js'

const TitleSchema = TextSchema({ minLength: 1, maxLength: 300, examples: ['Top beaches in Florida'] })
const ContentSchema = TextSchema({ minLength: 1, maxLength: 50_000, examples: ['Check out these awesome beaches'] })
const PublishedSchema = Type.Boolean({ default: true })

export const PostCreateSchema = Type.Object({
  title: TitleSchema,
  content: ContentSchema,
  published: Type.Optional(PublishedSchema)
}, { description: 'A post; `published` defaults to true. Other fields (such as `id`) are ignored.' })

export const PostPatchSchema = Type.Object({
  title: Type.Optional(TitleSchema),
  content: Type.Optional(ContentSchema),
  published: Type.Optional(Type.Boolean())
}, { description: 'Any non-empty subset of title, content and published' })

export const PostSchema = Type.Object({
  id: IdSchema,
  title: Type.String(),
  content: Type.String(),
  published: Type.Boolean(),
  created_at: TimestampSchema,
  owner_id: IdSchema,
  owner: UserOutSchema
})

export const PostOutSchema = Type.Object({
  Post: PostSchema,
  votes: Type.Integer({ minimum: 0, description: 'How many users voted for the post', examples: [3] })
})

export const ListQuerySchema = Type.Object({
  limit: Type.Integer({ minimum: 1, maximum: 100, default: 10, description: 'Page size' }),
  skip: Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER, default: 0, description: 'Posts to skip' }),
  search: TextSchema({ default: '', description: 'Case-insensitive text the title contains; `%` and `_` are literal' })
})
