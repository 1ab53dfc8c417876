import type { Pool, PoolClient, QueryResultRow } from 'pg'

/** A pool or a checked-out client: both run the repositories' statements. */
export type Queryable = Pick<Pool | PoolClient, 'query'>

/**
 * Runs a named (server-side prepared) statement: PostgreSQL parses and plans it once per
 * connection. Statements whose best plan depends on the values (a search pattern) are run
 * unnamed instead, so that they are planned for each value.
 */
export async function run<Row extends QueryResultRow> (db: Queryable, name: string | undefined, text: string, values: unknown[]): Promise<Row[]> {
  const result = await db.query<Row>(name ? { name, text, values } : { text, values })
  return result.rows
}

/** What a statement fused with the token's user check returns when that user no longer exists. */
export const USER_GONE: unique symbol = Symbol('user gone')
export type UserGone = typeof USER_GONE

export const FOREIGN_KEY_VIOLATION = '23503'
export const UNIQUE_VIOLATION = '23505'

/** True for a foreign key violation whose missing row is in `table` (deleted meanwhile). */
export const isMissingReference = (err: unknown, table: string): boolean =>
  (err as { code?: string }).code === FOREIGN_KEY_VIOLATION && ((err as { detail?: string }).detail ?? '').includes(`table "${table}"`)
