import { ForeignKeyConstraintViolationException, type EntityManager } from '@mikro-orm/postgresql'

/**
 * False when the post is gone (deleted since it was looked up). A second vote by the same
 * user on the same post raises the primary key's unique violation.
 */
export async function addVote (em: EntityManager, userId: number, postId: number): Promise<boolean> {
  try {
    await em.execute('insert into votes (user_id, post_id) values (?, ?)', [userId, postId], 'run')
    return true
  } catch (err) {
    if (err instanceof ForeignKeyConstraintViolationException) return false
    throw err
  }
}

export async function removeVote (em: EntityManager, userId: number, postId: number): Promise<boolean> {
  const result = await em.execute<{ affectedRows: number }>('delete from votes where user_id = ? and post_id = ?', [userId, postId], 'run')
  return result.affectedRows > 0
}

export async function postExists (em: EntityManager, postId: number): Promise<boolean> {
  const rows = await em.execute('select 1 from posts where id = ?', [postId])
  return rows.length > 0
}
