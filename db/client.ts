import pg from 'pg'

export interface ClientOptions {
  connectionTimeoutMillis?: number
  /** What pg_stat_activity shows for the connection. */
  application_name?: string
}

/**
 * A connection of its own, outside the app's pool. Its 'error' event is heard: PostgreSQL
 * stopping under it (a stop during start-up) rejects the query under way, and the event
 * pg emits as well would otherwise crash the process.
 */
export async function connectClient (url: string, options: ClientOptions = {}): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url, ...options })
  client.on('error', () => {})
  try {
    await client.connect()
  } catch (err) {
    await client.end().catch(() => {})
    throw err
  }
  return client
}

/** Runs `work` on a connection of its own, closed after. */
export async function withClient<T> (url: string, work: (client: pg.Client) => Promise<T>, options: ClientOptions = {}): Promise<T> {
  const client = await connectClient(url, options)
  try {
    return await work(client)
  } finally {
    await client.end().catch(() => {})
  }
}
