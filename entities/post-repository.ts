import type { EntityManager } from '@mikro-orm/postgresql'
import { toRfc3339 } from '../lib/timestamps.js'
import type { UserOut } from './user-repository.js'

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

interface PostOutRow extends Omit<PostRow, 'owner'> {
  owner_email: string
  owner_created_at: string
  votes: number
}

const SELECT_POST_OUT = `
  select p.id, p.title, p.content, p.published, p.created_at, p.owner_id,
         u.email as owner_email, u.created_at as owner_created_at,
         (select count(*) from votes v where v.post_id = p.id)::int as votes
    from posts p join users u on u.id = p.owner_id`

type PostColumns = Omit<PostRow, 'owner'>

const toPost = (row: PostColumns, owner: UserOut): PostRow => ({ ...row, created_at: toRfc3339(row.created_at), owner })

const toPostOut = ({ owner_email: email, owner_created_at: createdAt, votes, ...post }: PostOutRow): PostOut => ({
  Post: toPost(post, { id: post.owner_id, email, created_at: toRfc3339(createdAt) }),
  votes
})

/** `%`, `_` and the escape character itself are literal in a search. */
const likePattern = (search: string) => `%${search.replace(/[\\%_]/g, '\\$&')}%`

export async function listPosts (em: EntityManager, { limit, skip, search }: { limit: number, skip: number, search: string }): Promise<PostOut[]> {
  const rows = search
    ? await em.execute<PostOutRow[]>(`${SELECT_POST_OUT} where p.title ilike ? escape '\\' order by p.created_at desc, p.id desc limit ? offset ?`, [likePattern(search), limit, skip])
    : await em.execute<PostOutRow[]>(`${SELECT_POST_OUT} order by p.created_at desc, p.id desc limit ? offset ?`, [limit, skip])
  return rows.map(toPostOut)
}

export async function findPostOut (em: EntityManager, id: number): Promise<PostOut | undefined> {
  const [row] = await em.execute<PostOutRow[]>(`${SELECT_POST_OUT} where p.id = ?`, [id])
  return row && toPostOut(row)
}

export async function findPostOwnerId (em: EntityManager, id: number): Promise<number | undefined> {
  const [row] = await em.execute<{ owner_id: number }[]>('select owner_id from posts where id = ?', [id])
  return row?.owner_id
}

export async function createPost (em: EntityManager, owner: UserOut, post: Required<PostChanges>): Promise<PostRow> {
  const [row] = await em.execute<PostColumns[]>(
    'insert into posts (title, content, published, owner_id) values (?, ?, ?, ?) returning id, title, content, published, created_at, owner_id',
    [post.title, post.content, post.published, owner.id])
  return toPost(row!, owner)
}

/** Updates the given columns of an owner's post; undefined when it is gone. */
export async function updatePost (em: EntityManager, owner: UserOut, id: number, changes: PostChanges): Promise<PostRow | undefined> {
  const columns = (['title', 'content', 'published'] as const).filter(column => changes[column] !== undefined)
  const [row] = await em.execute<PostColumns[]>(
    `update posts set ${columns.map(column => `${column} = ?`).join(', ')} where id = ? and owner_id = ?
     returning id, title, content, published, created_at, owner_id`,
    [...columns.map(column => changes[column]), id, owner.id])
  return row && toPost(row, owner)
}

/** Deletes an owner's post (its votes go by cascade); false when it is gone. */
export async function deletePost (em: EntityManager, owner: UserOut, id: number): Promise<boolean> {
  const result = await em.execute<{ affectedRows: number }>('delete from posts where id = ? and owner_id = ?', [id, owner.id], 'run')
  return result.affectedRows > 0
}
