import type { Pool, PoolClient, QueryResultRow } from 'pg'
import { isStoredId } from '../../schemas/common.js'

/** A pool or a checked-out client: both run the queries' statements. */
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

/**
 * An id as a statement may bind it: one no row can have (beyond int4, or below 1) becomes 0,
 * which finds nothing, so the statement still runs its other checks (the token's user).
 */
export const storedIdOrNone = (id: number): number => isStoredId(id) ? id : 0
