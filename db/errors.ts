import pg from 'pg'
import type { Queryable } from './queries/queryable.js'

// SQLSTATE codes Postline answers in its own way.
const FOREIGN_KEY_VIOLATION = '23503'
const UNIQUE_VIOLATION = '23505'

/** How the API answers a failed statement: 409, 404, 503 or a logged 500. */
export type DatabaseFailure = 'unique-violation' | 'foreign-key-violation' | 'unavailable' | 'database-error'

/** The connection failed or was cut, rather than the statement: the database is unavailable. */
export function isConnectionFailure (error: Error & { code?: string }): boolean {
  if (error instanceof pg.DatabaseError) {
    // 08: connection exception; 57P01-57P03: the server is shutting down or starting up.
    return error.code?.startsWith('08') === true || /^57P0[123]$/.test(error.code ?? '')
  }
  return /^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|ENOTFOUND|EAI_AGAIN|EHOSTUNREACH|ENETUNREACH)$/.test(error.code ?? '') ||
    /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|Connection is closed|Query read timeout/.test(error.message)
}

/** What kind of database failure `error` is; undefined when it did not come from the database. */
export function classifyDatabaseError (error: Error & { code?: string }): DatabaseFailure | undefined {
  if (isConnectionFailure(error)) return 'unavailable'
  if (!(error instanceof pg.DatabaseError)) return undefined
  if (error.code === UNIQUE_VIOLATION) return 'unique-violation'
  if (error.code === FOREIGN_KEY_VIOLATION) return 'foreign-key-violation'
  return 'database-error'
}

/** A value the statement could not take (class 22, data exception: a timestamp out of range, say). */
export const isDataException = (error: unknown): boolean =>
  error instanceof pg.DatabaseError && error.code?.startsWith('22') === true

/** The table a unique violation happened in (which registration or vote was refused). */
export const violatedTable = (error: unknown): string | undefined =>
  error instanceof pg.DatabaseError ? error.table : undefined

/** A database error as it may be logged: never its detail (which quotes values such as emails). */
export function loggableDatabaseError (error: Error & { code?: string }) {
  if (!(error instanceof pg.DatabaseError)) return { type: error.name, code: error.code, message: error.message }
  const { name, code, table, constraint, routine, message } = error
  return { type: name, code, table, constraint, routine, message }
}

// Foreign keys are told apart by constraint name. The names differ between databases (an
// adopted course database has its own, such as post_users_fk), so each pool's database is asked
// what its keys reference, when the first foreign-key violation needs it: violations come only
// from rare races, so the common path and start-up pay nothing, and a key renamed or added by a
// migration since is found by reading again. A constraint's name is unique within its table only.
const FOREIGN_KEYS_SQL = `
select t.relname as "table", c.conname as "constraint", r.relname as referenced
  from pg_constraint c
  join pg_class t on t.oid = c.conrelid
  join pg_class r on r.oid = c.confrelid
 where c.contype = 'f' and pg_table_is_visible(c.conrelid)`

/** `table.constraint` → the table the foreign key references. */
type ReferencedTables = Map<string, string>

const referencedTables = new WeakMap<Queryable, Promise<ReferencedTables>>()

function readForeignKeys (db: Queryable): Promise<ReferencedTables> {
  const reading = db.query<{ table: string, constraint: string, referenced: string }>(FOREIGN_KEYS_SQL)
    .then(({ rows }) => new Map(rows.map(row => [`${row.table}.${row.constraint}`, row.referenced])))
  referencedTables.set(db, reading)
  // A failed read (the database went away) is not remembered: the next violation reads again.
  reading.catch(() => { if (referencedTables.get(db) === reading) referencedTables.delete(db) })
  return reading
}

/**
 * The table whose row a foreign-key violation found missing (a user or post deleted meanwhile),
 * or undefined when `error` is no foreign-key violation.
 */
export async function missingReference (db: Queryable, error: unknown): Promise<string | undefined> {
  if (!(error instanceof pg.DatabaseError) || error.code !== FOREIGN_KEY_VIOLATION) return undefined
  const key = `${error.table}.${error.constraint}`
  const known = referencedTables.get(db)
  const table = (await (known ?? readForeignKeys(db))).get(key)
  return table !== undefined || !known ? table : (await readForeignKeys(db)).get(key)
}
