import type { Static } from 'typebox'
import { InvalidTokenError } from '../../lib/http-errors.js'
import { isStoredId, type UserOutSchema } from '../../schemas/common.js'
import { toRfc3339 } from '../timestamps.js'
import { CALLER_STANDS, callerValues, type Caller } from './caller.js'
import { run, type Queryable } from './queryable.js'

/** A user as the API shows it. */
export type UserOut = Static<typeof UserOutSchema>

/** The columns of a user the API shows, as `users` holds them. */
export const USER_OUT_COLUMNS = 'id, email, created_at'

const toUserOut = (user: UserOut): UserOut => ({ ...user, created_at: toRfc3339(user.created_at) })

const SELECT_USER = `select ${USER_OUT_COLUMNS} from users where id = $1`

/** The user with that id, or undefined; an id no row can have is answered without a round trip. */
export async function findUserById (db: Queryable, id: number): Promise<UserOut | undefined> {
  if (!isStoredId(id)) return undefined
  const [user] = await run<UserOut>(db, 'user-by-id', SELECT_USER, [id])
  return user && toUserOut(user)
}

/** The token's user; the 401 when the token no longer stands (the user or its session is gone). */
export async function findTokenUser (db: Queryable, caller: Caller): Promise<UserOut> {
  const [user] = await run<UserOut>(db, 'token-user', `select ${USER_OUT_COLUMNS} from users me where me.id = $1 and ${CALLER_STANDS}`, callerValues(caller))
  if (!user) throw new InvalidTokenError()
  return toUserOut(user)
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
    `insert into users (email, password) values ($1, $2) returning ${USER_OUT_COLUMNS}`, [email, passwordHash])
  return toUserOut(user!)
}
