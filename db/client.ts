import pg from 'pg'

export interface ClientOptions {
  connectionTimeoutMillis?: number
  /** Ms after which a query is given up (its promise rejects). */
  query_timeout?: number
  /** What pg_stat_activity shows for the connection. */
  application_name?: string
  /** Every statement unnamed: the URL is a transaction-mode pooler's (see UnnamedStatementsClient). */
  unnamedStatements?: boolean
}

/**
 * A connection of its own, outside the app's pool. Its 'error' event is heard: PostgreSQL
 * stopping under it (a stop during start-up) rejects the query under way, and the event
 * pg emits as well would otherwise crash the process.
 */
export async function connectClient (url: string, { unnamedStatements, ...options }: ClientOptions = {}): Promise<pg.Client> {
  const client = new (unnamedStatements ? UnnamedStatementsClient : pg.Client)({ connectionString: url, ...options })
  client.on('error', () => {})
  try {
    await client.connect()
  } catch (err) {
    await client.end().catch(() => {})
    throw err
  }
  return client
}

/**
 * A pg client that sends every statement unnamed, so none outlives its transaction: for a pool
 * behind a transaction-mode pooler (PgBouncer before 1.21), where the next statement may run on
 * another server connection, which never saw the name.
 */
export class UnnamedStatementsClient extends pg.Client {}
UnnamedStatementsClient.prototype.query = function query (this: pg.Client, config: unknown, ...rest: unknown[]) {
  const named = typeof config === 'object' && config !== null && 'name' in config && typeof (config as { submit?: unknown }).submit !== 'function'
  return (pg.Client.prototype.query as (...args: unknown[]) => unknown).call(this, named ? { ...config, name: undefined } : config, ...rest)
} as typeof pg.Client.prototype.query

/** Runs `work` on a connection of its own, closed after. */
export async function withClient<T> (url: string, work: (client: pg.Client) => Promise<T>, options: ClientOptions = {}): Promise<T> {
  const client = await connectClient(url, options)
  try {
    return await work(client)
  } finally {
    await client.end().catch(() => {})
  }
}
