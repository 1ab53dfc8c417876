import { toRfc3339 } from '../timestamps.js'
import { run, type Queryable } from './queryable.js'

export interface UserOut {
  id: number
  email: string
  created_at: string
}

const toUserOut = (user: UserOut): UserOut => ({ ...user, created_at: toRfc3339(user.created_at) })

export const SELECT_USER = 'select id, email, created_at from users where id = $1'

export async function findUserById (db: Queryable, id: number): Promise<UserOut | undefined> {
  const [user] = await run<UserOut>(db, 'user-by-id', SELECT_USER, [id])
  return user && toUserOut(user)
}

/** Emails match without regard to letter case, as registration treats them. */
export async function findCredentialsByEmail (db: Queryable, email: string): Promise<{ id: number, password: string } | undefined> {
  const [user] = await run<{ id: number, password: string }>(db, 'credentials-by-email',
    'select id, password from users where lower(email) = lower($1) order by id limit 1', [email])
  return user
}

/** Inserts a user; a taken email (in any letter case) raises the database's unique violation. */
export async function createUser (db: Queryable, email: string, passwordHash: string): Promise<UserOut> {
  const [user] = await run<UserOut>(db, 'create-user',
    'insert into users (email, password) values ($1, $2) returning id, email, created_at', [email, passwordHash])
  return toUserOut(user!)
}
