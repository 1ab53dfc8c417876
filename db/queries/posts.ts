import type { Static } from 'typebox'
import { InvalidTokenError } from '../../lib/http-errors.js'
import type { PostOutSchema, PostPatchSchema, PostSchema } from '../../schemas/posts.js'
import { missingReference } from '../errors.js'
import { CALLER_STANDS, callerValues, type Caller } from './caller.js'
import { toRfc3339 } from '../timestamps.js'
import { run, storedIdOrNone, type Queryable } from './queryable.js'

/** A post as the API shows it, with its owner. */
export type Post = Static<typeof PostSchema>
/** A post with its vote count, as the API shows it. */
export type PostOut = Static<typeof PostOutSchema>
/** The fields a client may set. */
export type PostChanges = Static<typeof PostPatchSchema>

/** A post's row joined with its owner's: what the statements below return. */
export type PostRow = Omit<Post, 'owner'> & { owner_email: string, owner_created_at: string }
/** A post's row with its owner's and its vote count. */
export type PostOutRow = PostRow & { votes: number }

// One column list per shape, used by every statement that returns it (and by toPost).
const POST_FIELDS = ['id', 'title', 'content', 'published', 'created_at', 'owner_id'] as const
const postColumns = (table: string) => POST_FIELDS.map(field => `${table}.${field}`).join(', ')
const ownerColumns = (table: string) => `${table}.email as owner_email, ${table}.created_at as owner_created_at`
const POST_ROW_RETURNING = `returning ${POST_FIELDS.join(', ')}`
export const POST_OUT_COLUMNS = `${postColumns('p')}, ${ownerColumns('u')}, coalesce(c.votes, 0) as votes`

// The hot statements below (and those of feeds.ts) start from the token's user (`me`), so that
// one round trip both checks that the user still exists and its token still stands (its
// session is live: CALLER_STANDS) and does the work: no row at all means the token is refused. Each is also what bench/baseline.ts runs, so benchmark ratios measure everything but SQL.

/** Whether the token's user (`me`) has voted on the post `p`: one primary-key probe. */
export const VOTED_COLUMN = 'exists (select from votes v where v.user_id = me.id and v.post_id = p.id) as voted'

const postOutStatement = (voted: boolean) => `
select ${POST_OUT_COLUMNS}${voted ? `, ${VOTED_COLUMN}` : ''}
  from users me
  left join posts p on p.id = $4
  left join users u on u.id = p.owner_id
  left join vote_counts c on c.post_id = p.id
 where me.id = $1 and ${CALLER_STANDS}`

/** $1-$3 caller, $4 post id: one row, whose post columns are null when there is no such post. */
export const POST_OUT_SQL = postOutStatement(false)
/** POST_OUT_SQL with whether the user has voted on the post. */
export const POST_OUT_VOTED_SQL = postOutStatement(true)

/** $1-$3 caller, $4 title, $5 content, $6 published. */
export const CREATE_POST_SQL = `
with me as (select me.id, me.email, me.created_at from users me where me.id = $1 and ${CALLER_STANDS}),
     post as (insert into posts (title, content, published, owner_id)
              select $4::varchar, $5::varchar, $6::boolean, me.id from me
              ${POST_ROW_RETURNING})
select ${postColumns('post')}, ${ownerColumns('me')} from post, me`

export const toPost = ({ owner_email: email, owner_created_at: ownerCreatedAt, ...post }: PostRow): Post => ({
  id: post.id,
  title: post.title,
  content: post.content,
  published: post.published,
  created_at: toRfc3339(post.created_at),
  owner_id: post.owner_id,
  owner: { id: post.owner_id, email, created_at: toRfc3339(ownerCreatedAt) }
})

export const toPostOut = (row: PostOutRow): PostOut => ({ Post: toPost(row), votes: row.votes })

/** A post with its vote count and, when the statement asked, whether the token's user voted on it. */
export const toPostOutMaybeVoted = (row: PostOutRow & { voted?: boolean }): PostOut =>
  row.voted === undefined ? toPostOut(row) : { Post: toPost(row), votes: row.votes, voted: row.voted }

/** `%`, `_` and the escape character itself are literal in a search. */
export const likePattern = (search: string) => `%${search.replace(/[\\%_]/g, '\\$&')}%`

/** Rows of a statement fused with the caller check: none at all means the token no longer stands. */
export function ofExistingUser<Row> (rows: Row[]): Row[] {
  if (rows.length === 0) throw new InvalidTokenError()
  return rows
}

/** The post with its vote count (and, asked, whether the user voted on it), or undefined; the 401 when the token no longer stands. */
export async function findPostOut (db: Queryable, caller: Caller, id: number, voted = false): Promise<PostOut | undefined> {
  const [row] = ofExistingUser(await run<PostOutRow>(db, voted ? 'post-out-voted' : 'post-out', voted ? POST_OUT_VOTED_SQL : POST_OUT_SQL, [...callerValues(caller), storedIdOrNone(id)]))
  return row!.id === null ? undefined : toPostOutMaybeVoted(row!)
}

/** A new post owned by the token's user; the 401 when the token no longer stands. */
export async function createPost (db: Queryable, caller: Caller, post: Required<PostChanges>): Promise<Post> {
  let rows: PostRow[]
  try {
    rows = await run<PostRow>(db, 'create-post', CREATE_POST_SQL, [...callerValues(caller), post.title, post.content, post.published])
  } catch (err) {
    // The user was deleted (and committed) while the post was being inserted.
    if (await missingReference(db, err) === 'users') throw new InvalidTokenError()
    throw err
  }
  return toPost(ofExistingUser(rows)[0]!)
}

/** The post's owner, or undefined when there is no such post; the 401 when the token no longer stands. */
export async function findPostOwnerId (db: Queryable, caller: Caller, id: number): Promise<number | undefined> {
  const [row] = ofExistingUser(await run<{ owner_id: number | null }>(db, 'post-owner',
    `select p.owner_id from users me left join posts p on p.id = $4 where me.id = $1 and ${CALLER_STANDS}`, [...callerValues(caller), storedIdOrNone(id)]))
  return row!.owner_id ?? undefined
}

/** Updates the given columns of the user's own post; undefined when it is gone (or not theirs). */
export async function updatePost (db: Queryable, userId: number, id: number, changes: PostChanges): Promise<Post | undefined> {
  const columns = (['title', 'content', 'published'] as const).filter(column => changes[column] !== undefined)
  const [row] = await run<PostRow>(db, `update-post-${columns.join('-')}`, `
    with post as (
      update posts set ${columns.map((column, i) => `${column} = $${i + 3}`).join(', ')} where id = $1 and owner_id = $2
      ${POST_ROW_RETURNING})
    select ${postColumns('post')}, ${ownerColumns('u')} from post join users u on u.id = post.owner_id`,
  [storedIdOrNone(id), userId, ...columns.map(column => changes[column])])
  return row && toPost(row)
}

/** Locks the post's row for the rest of the transaction; false when there is no such post. */
export async function lockPost (db: Queryable, id: number): Promise<boolean> {
  const rows = await run(db, 'lock-post', 'select from posts where id = $1 for update', [storedIdOrNone(id)])
  return rows.length > 0
}

/** Deletes the user's own post (its votes go by cascade); false when it is gone (or not theirs). */
export async function deletePost (db: Queryable, userId: number, id: number): Promise<boolean> {
  const result = await db.query({ name: 'delete-post', text: 'delete from posts where id = $1 and owner_id = $2', values: [storedIdOrNone(id), userId] })
  return (result.rowCount ?? 0) > 0
}
