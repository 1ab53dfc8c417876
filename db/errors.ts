import pg from 'pg'

/** The connection failed or was cut, rather than the statement: the database is unavailable. */
export function isConnectionFailure (error: Error & { code?: string }): boolean {
  if (error instanceof pg.DatabaseError) {
    // 08: connection exception; 57P01-57P03: the server is shutting down or starting up.
    return error.code?.startsWith('08') === true || /^57P0[123]$/.test(error.code ?? '')
  }
  return /^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|ENOTFOUND|EAI_AGAIN|EHOSTUNREACH|ENETUNREACH)$/.test(error.code ?? '') ||
    /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|Connection is closed|Query read timeout/.test(error.message)
}
