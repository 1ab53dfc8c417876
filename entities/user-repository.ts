import type { EntityManager } from '@mikro-orm/postgresql'
import { toRfc3339 } from '../lib/timestamps.js'

export interface UserOut {
  id: number
  email: string
  created_at: string
}

const toUserOut = (user: UserOut): UserOut => ({ ...user, created_at: toRfc3339(user.created_at) })

export async function findUserById (em: EntityManager, id: number): Promise<UserOut | undefined> {
  const [user] = await em.execute<UserOut[]>('select id, email, created_at from users where id = ?', [id])
  return user && toUserOut(user)
}

/** Emails match without regard to letter case, as registration treats them. */
export async function findCredentialsByEmail (em: EntityManager, email: string): Promise<{ id: number, password: string } | undefined> {
  const [user] = await em.execute<{ id: number, password: string }[]>(
    'select id, password from users where lower(email) = lower(?) order by id limit 1', [email])
  return user
}

/** Inserts a user; a taken email (in any letter case) raises the database's unique violation. */
export async function createUser (em: EntityManager, email: string, passwordHash: string): Promise<UserOut> {
  const [user] = await em.execute<UserOut[]>(
    'insert into users (email, password) values (?, ?) returning id, email, created_at', [email, passwordHash])
  return toUserOut(user!)
}
