import { toRfc3339 } from '../timestamps.js'
import { isMissingReference, run, USER_GONE, type Queryable, type UserGone } from './queryable.js'
import type { UserOut } from './users.js'

export interface PostRow {
  id: number
  title: string
  content: string
  published: boolean
  created_at: string
  owner_id: number
  owner: UserOut
}

export interface PostOut {
  Post: PostRow
  votes: number
}

export interface PostChanges {
  title?: string
  content?: string
  published?: boolean
}

type PostColumns = Omit<PostRow, 'owner'>

export interface PostWithOwnerRow extends PostColumns {
  owner_email: string
  owner_created_at: string
}

export interface PostOutRow extends PostWithOwnerRow {
  votes: number
}

// The hot statements below start from the token's user (`me`), so that one round trip both
// checks that the user still exists and does the work: no row at all means the user is gone.
// Each is also what bench/baseline.ts runs, so benchmark ratios measure everything but SQL.

const POST_OUT_COLUMNS = `p.id, p.title, p.content, p.published, p.created_at, p.owner_id,
       u.email as owner_email, u.created_at as owner_created_at, coalesce(c.votes, 0) as votes`

// The page's ids come from the (created_at desc, id desc) index alone, so a deep `skip`
// walks the index without reading the skipped posts; only the page's rows are joined.
const feedStatement = (where: string) => `
select ${POST_OUT_COLUMNS}
  from users me
  left join (select id from posts ${where} order by created_at desc, id desc limit $2 offset $3) page on true
  left join posts p on p.id = page.id
  left join users u on u.id = p.owner_id
  left join vote_counts c on c.post_id = p.id
 where me.id = $1
 order by p.created_at desc, p.id desc`

/** $1 user, $2 limit, $3 skip. */
export const FEED_SQL = feedStatement('')
/** $1 user, $2 limit, $3 skip, $4 ILIKE pattern (escape `\`). */
export const FEED_SEARCH_SQL = feedStatement('where title ilike $4')

/** $1 user, $2 post id: one row, whose post columns are null when there is no such post. */
export const POST_OUT_SQL = `
select ${POST_OUT_COLUMNS}
  from users me
  left join posts p on p.id = $2
  left join users u on u.id = p.owner_id
  left join vote_counts c on c.post_id = p.id
 where me.id = $1`

/** $1 user, $2 title, $3 content, $4 published. */
export const CREATE_POST_SQL = `
with me as (select id, email, created_at from users where id = $1),
     post as (insert into posts (title, content, published, owner_id)
              select $2::varchar, $3::varchar, $4::boolean, me.id from me
              returning id, title, content, published, created_at, owner_id)
select post.*, me.email as owner_email, me.created_at as owner_created_at from post, me`

export const toPost = ({ owner_email: email, owner_created_at: ownerCreatedAt, ...post }: PostWithOwnerRow): PostRow => ({
  id: post.id,
  title: post.title,
  content: post.content,
  published: post.published,
  created_at: toRfc3339(post.created_at),
  owner_id: post.owner_id,
  owner: { id: post.owner_id, email, created_at: toRfc3339(ownerCreatedAt) }
})

export const toPostOut = (row: PostOutRow): PostOut => ({ Post: toPost(row), votes: row.votes })

/** `%`, `_` and the escape character itself are literal in a search. */
export const likePattern = (search: string) => `%${search.replace(/[\\%_]/g, '\\$&')}%`

export async function listPosts (db: Queryable, userId: number, { limit, skip, search }: { limit: number, skip: number, search: string }): Promise<PostOut[] | UserGone> {
  // A search is planned for its pattern (a rare word and a common one want different plans).
  const rows = search
    ? await run<PostOutRow>(db, undefined, FEED_SEARCH_SQL, [userId, limit, skip, likePattern(search)])
    : await run<PostOutRow>(db, 'feed', FEED_SQL, [userId, limit, skip])
  if (rows.length === 0) return USER_GONE
  // An empty page still has the user's row, with nulls for the post.
  return rows[0]!.id === null ? [] : rows.map(toPostOut)
}

export async function findPostOut (db: Queryable, userId: number, id: number): Promise<PostOut | undefined | UserGone> {
  const [row] = await run<PostOutRow>(db, 'post-out', POST_OUT_SQL, [userId, id])
  if (!row) return USER_GONE
  return row.id === null ? undefined : toPostOut(row)
}

export async function createPost (db: Queryable, userId: number, post: Required<PostChanges>): Promise<PostRow | UserGone> {
  try {
    const [row] = await run<PostWithOwnerRow>(db, 'create-post', CREATE_POST_SQL, [userId, post.title, post.content, post.published])
    return row ? toPost(row) : USER_GONE
  } catch (err) {
    // The user was deleted (and committed) while the post was being inserted.
    if (isMissingReference(err, 'users')) return USER_GONE
    throw err
  }
}

/** The post's owner, or undefined when there is no such post; USER_GONE when the user is gone. */
export async function findPostOwnerId (db: Queryable, userId: number, id: number): Promise<number | undefined | UserGone> {
  const [row] = await run<{ owner_id: number | null }>(db, 'post-owner',
    'select p.owner_id from users me left join posts p on p.id = $2 where me.id = $1', [userId, id])
  if (!row) return USER_GONE
  return row.owner_id ?? undefined
}

/** Updates the given columns of the user's own post; undefined when it is gone (or not theirs). */
export async function updatePost (db: Queryable, userId: number, id: number, changes: PostChanges): Promise<PostRow | undefined> {
  const columns = (['title', 'content', 'published'] as const).filter(column => changes[column] !== undefined)
  const [row] = await run<PostWithOwnerRow>(db, `update-post-${columns.join('-')}`, `
    with post as (
      update posts set ${columns.map((column, i) => `${column} = $${i + 3}`).join(', ')} where id = $1 and owner_id = $2
      returning id, title, content, published, created_at, owner_id)
    select post.*, u.email as owner_email, u.created_at as owner_created_at from post join users u on u.id = post.owner_id`,
  [id, userId, ...columns.map(column => changes[column])])
  return row && toPost(row)
}

/** Deletes the user's own post (its votes go by cascade); false when it is gone (or not theirs). */
export async function deletePost (db: Queryable, userId: number, id: number): Promise<boolean> {
  const result = await db.query({ name: 'delete-post', text: 'delete from posts where id = $1 and owner_id = $2', values: [id, userId] })
  return (result.rowCount ?? 0) > 0
}
