import pg from 'pg'

const TIMESTAMPTZ = 1184

/** pg's parsers, except that timestamps stay PostgreSQL's text (microseconds kept) for timestamps.ts. */
export const pgTypes = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === TIMESTAMPTZ ? (value: string) => value : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser
}
