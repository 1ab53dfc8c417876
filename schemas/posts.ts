import { Type, type Static } from 'typebox'
import { IdSchema, TextSchema, TimestampSchema, UserOutSchema, asResponse } from './common.js'

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
  votes: Type.Integer({ minimum: 0, description: 'How many users voted for the post', examples: [3] }),
  voted: Type.Optional(Type.Boolean({ description: 'Whether the token\'s user has voted for the post: only with `include=voted`', examples: [false] }))
}, { title: 'PostOut', description: 'A post with its vote count; with `include=voted`, also whether the token\'s user voted for it' })

export const SORTS = ['new', 'top', 'hot'] as const
export const WINDOWS = ['hour', 'day', 'week', 'month', 'year', 'all'] as const
/** What validation fills in when `sort` or `t` is left out. */
export const DEFAULT_SORT: (typeof SORTS)[number] = 'new'
export const DEFAULT_WINDOW: (typeof WINDOWS)[number] = 'all'

export const SortSchema = Type.Enum(SORTS, {
  default: DEFAULT_SORT,
  description: '`new`: newest first. `top`: most votes first, then newest. `hot`: highest hot rank first, where hot = log10(max(votes, 1)) + (epoch seconds of created_at - 1134028003) / 45000 (10× the votes is worth 12.5 hours)'
})
export const WindowSchema = Type.Enum(WINDOWS, { default: DEFAULT_WINDOW, description: 'Only the posts created within this window before now: an hour, 24 hours, 7, 30 or 365 days, or all' })
export const IncludeSchema = Type.Enum(['voted'], { description: '`voted`: each post also says whether the token\'s user has voted for it (`voted`)' })

/** Each parameter may be left out (the docs must not ask for it); validation fills in its default. */
export const ListQuerySchema = Type.Object({
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 10, description: 'Page size' })),
  skip: Type.Optional(Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER, default: 0, description: 'Posts to skip (the course\'s paging; `cursor` pages at the same cost at any depth)' })),
  search: Type.Optional(TextSchema({ default: '', description: 'Case-insensitive text the title contains; `%` and `_` are literal' })),
  sort: Type.Optional(SortSchema),
  t: Type.Optional(WindowSchema),
  // Its length is checked with the rest of it, so that every bad cursor is the same 422 (`value_error`).
  cursor: Type.Optional(Type.String({
    description: 'Continue after the page that gave it: the `cursor` of its `Link: <...>; rel="next"` header (opaque, at most 1024 characters). Valid only with the `sort` and `t` it was issued for, and not with `skip`'
  })),
  include: Type.Optional(IncludeSchema)
})

export const PostQuerySchema = Type.Object({ include: Type.Optional(IncludeSchema) })

export type Sort = Static<typeof SortSchema>
export type Window = Static<typeof WindowSchema>

/** The strong validator of every 200 that a GET of posts answers. */
const ETAG_HEADER = { type: 'string', required: true, description: 'A strong validator of this representation: send it back in `If-None-Match` (a 304 while it is current)' } as const

/** The conditional-request header a read takes. */
export const IfNoneMatchSchema = Type.Object({
  'if-none-match': Type.Optional(Type.String({ description: 'ETags of representations the client holds (or `*`): 304 with no body while one is still current' }))
})
/** The conditional-request header a change of a post takes. */
export const IfMatchSchema = Type.Object({
  'if-match': Type.Optional(Type.String({ description: 'ETags from `GET /posts/{id}` (or `*`): the change is made only if the post is still as one of them shows it, else 412' }))
})

/** `GET /posts/{id}`'s 200: also what its ETag is computed from, for `If-Match`. */
export const PostResponseSchema = { ...asResponse(PostOutSchema, 'The post'), headers: { ETag: ETAG_HEADER } }

/** A page of a feed, with the header that leads to the next one. */
export const FeedPageSchema = {
  ...Type.Array(PostOutSchema, { description: 'A page of posts with their vote counts' }),
  headers: {
    Link: { type: 'string', required: false, description: 'On a full page only: `<PATH?QUERY>; rel="next"`, the next page (this request\'s path and parameters, `skip` aside, with `cursor`)' },
    ETag: ETAG_HEADER
  }
}

/** 304: the representation the client named in If-None-Match is still current. */
export const NotModifiedSchema = { ...Type.Null({ description: 'Not modified: the representation whose ETag `If-None-Match` named is still current (no body)' }), headers: { ETag: ETAG_HEADER } }
