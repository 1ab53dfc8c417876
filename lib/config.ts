import { readFileSync } from 'node:fs'
import { isIP } from 'node:net'
import { parseEnvFile } from './env-file.js'
import { Ajv } from 'ajv'
import { Type, type Static } from 'typebox'

const Port = (fallback?: number) => Type.Integer({ minimum: 0, maximum: 65535, ...(fallback === undefined ? {} : { default: fallback }) })

export const ConfigSchema = Type.Object({
  NODE_ENV: Type.String({ default: 'development' }),
  HOST: Type.String({ default: '127.0.0.1', minLength: 1 }),
  PORT: Port(8000),
  LOG_LEVEL: Type.Enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], { default: 'info' }),
  DATABASE_URL: Type.Optional(Type.String({ pattern: '^postgres(ql)?://' })),
  DATABASE_HOSTNAME: Type.Optional(Type.String({ minLength: 1 })),
  DATABASE_PORT: Type.Optional(Port()),
  DATABASE_NAME: Type.Optional(Type.String({ minLength: 1 })),
  DATABASE_USERNAME: Type.Optional(Type.String({ minLength: 1 })),
  DATABASE_PASSWORD: Type.Optional(Type.String()),
  /** The primary, not through a pooler: migrations, their advisory lock and the change feed use it when set. */
  DATABASE_DIRECT_URL: Type.Optional(Type.String({ pattern: '^postgres(ql)?://' })),
  /** false: every statement unnamed, for a transaction pooler that keeps no prepared statements (PgBouncer before 1.21). */
  DATABASE_PREPARED_STATEMENTS: Type.Boolean({ default: true }),
  /** Streaming replicas, comma-separated: reads go there when one has replayed the caller's own writes. */
  DATABASE_READ_URLS: Type.String({ default: '', pattern: '^(postgres(ql)?://[^,]+(,\\s*postgres(ql)?://[^,]+)*)?$' }),
  /** Milliseconds a replica may trail the primary before reads skip it. */
  DATABASE_READ_MAX_LAG: Type.Integer({ minimum: 0, maximum: 3600000, default: 5000 }),
  DATABASE_POOL_SIZE: Type.Integer({ minimum: 1, maximum: 1000, default: 10 }),
  /** Milliseconds a request waits for a free connection of the pool before it is answered 503. */
  DATABASE_POOL_TIMEOUT: Type.Integer({ minimum: 1, maximum: 60000, default: 1500 }),
  SECRET_KEY: Type.Optional(Type.String({ minLength: 1 })),
  ALGORITHM: Type.Enum(['HS256'], { default: 'HS256' }),
  ACCESS_TOKEN_EXPIRE_MINUTES: Type.Integer({ minimum: 1, default: 60 }),
  /** How long a session (and so its refresh tokens) lasts from its login. */
  REFRESH_TOKEN_EXPIRE_DAYS: Type.Integer({ minimum: 1, maximum: 3650, default: 30 }),
  /** Memory for the read cache per process, in MiB; 0 turns it off. */
  CACHE_MAX_MB: Type.Integer({ minimum: 0, maximum: 65536, default: 64 }),
  /** Open `GET /stream` connections per process; over it a 503. */
  STREAM_MAX_CONNECTIONS: Type.Integer({ minimum: 1, default: 10000 }),
  BCRYPT_ROUNDS: Type.Integer({ minimum: 4, maximum: 31, default: 12 }),
  /** bcrypt worker processes per server process; by default one per core. */
  BCRYPT_WORKERS: Type.Optional(Type.Integer({ minimum: 1, maximum: 64 })),
  CORS_ORIGINS: Type.String({ default: '' }),
  BODY_LIMIT: Type.Integer({ minimum: 1024, default: 1048576 }),
  WEB_CONCURRENCY: Type.Integer({ minimum: 1, maximum: 64, default: 1 }),
  TRUST_PROXY: Type.String({ default: '' }),
  REDIS_URL: Type.Optional(Type.String({ pattern: '^rediss?://' })),
  LOGIN_RATE_LIMIT: Type.Integer({ minimum: 0, default: 10 }),
  RATE_LIMIT: Type.Integer({ minimum: 0, default: 6000 }),
  /** Where the embedded PostgreSQL (used when no database is configured) keeps its data, and its port. */
  EMBEDDED_POSTGRES_DIR: Type.String({ default: '.data/postgres', minLength: 1 }),
  EMBEDDED_POSTGRES_PORT: Port(54329),
  /** Seconds to keep retrying a database that is down at start-up. */
  DB_CONNECT_TIMEOUT: Type.Integer({ minimum: 0, maximum: 3600, default: 30 }),
  /** Event-loop delay in ms above which requests get a 503 instead of queueing (0: off). */
  MAX_EVENT_LOOP_DELAY: Type.Integer({ minimum: 0, default: 1000 })
})

export type Config = Static<typeof ConfigSchema> & { SECRET_KEY: string }

export type ConfigSource = Record<string, string | number | undefined>

/** A stand-in so development works out of the box; production refuses it. */
export const DEVELOPMENT_SECRET_KEY = 'postline-development-secret-not-for-production'

const validate = new Ajv({ coerceTypes: true, useDefaults: true, allErrors: false, strict: false })
  .compile(ConfigSchema)

export class ConfigError extends Error {
  name = 'ConfigError'
}

/** Reads `.env` from the working directory (see parseEnvFile); the process environment wins over it. */
export function readEnvironment (envFile = '.env'): ConfigSource {
  let fromFile: ConfigSource = {}
  try {
    fromFile = parseEnvFile(readFileSync(envFile, 'utf8'), process.env)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }
  return { ...fromFile, ...process.env }
}

const PROXY_KEYWORDS = new Set(['loopback', 'linklocal', 'uniquelocal'])

function isAddressOrRange (entry: string): boolean {
  if (PROXY_KEYWORDS.has(entry)) return true
  const [address = '', range, ...rest] = entry.split('/')
  const version = isIP(address)
  if (!version || rest.length) return false
  if (range === undefined) return true
  return isIP(range) === version || (/^\d+$/.test(range) && Number(range) <= (version === 4 ? 32 : 128))
}

/** TRUST_PROXY: empty or false, true, a hop count, or comma-separated addresses, CIDRs or proxy-addr keywords. */
export function parseTrustProxy (value: string): boolean | number | string[] {
  const trimmed = value.trim().toLowerCase()
  if (trimmed === '' || trimmed === 'false' || trimmed === '0') return false
  if (trimmed === 'true') return true
  if (/^\d+$/.test(trimmed)) return Number(trimmed)
  const entries = trimmed.split(',').map(entry => entry.trim()).filter(Boolean)
  const wrong = entries.find(entry => !isAddressOrRange(entry))
  if (wrong !== undefined) throw new ConfigError(`Invalid configuration: TRUST_PROXY must be true, false, a hop count or addresses/CIDRs (got ${JSON.stringify(wrong)})`)
  return entries
}

/** DATABASE_HOSTNAME as a URL's host (an IPv6 address in brackets); a name no URL can hold stops start-up. */
export function urlHost (hostname: string): string {
  const host = isIP(hostname) === 6 ? `[${hostname}]` : hostname
  const url = new URL('postgresql://placeholder')
  url.hostname = host
  // A URL keeps its old host when it is given one it cannot hold.
  if (url.hostname.toLowerCase() !== host.toLowerCase()) throw new ConfigError(`Invalid configuration: DATABASE_HOSTNAME must be a host name or an IP address (got ${JSON.stringify(hostname)})`)
  return host
}

export function loadConfig (source: ConfigSource = readEnvironment()): Config {
  const candidate: Record<string, unknown> = {}
  for (const key of Object.keys(ConfigSchema.properties)) {
    const value = source[key]
    if (value !== undefined && value !== '') candidate[key] = value
  }
  if (!validate(candidate)) {
    const [error] = validate.errors ?? []
    const name = error?.instancePath.slice(1) || 'configuration'
    const allowed = error?.params.allowedValues ? `: ${error.params.allowedValues.join(', ')}` : ''
    throw new ConfigError(`Invalid configuration: ${name} ${error?.message ?? 'is invalid'}${allowed} (got ${JSON.stringify(source[name])})`)
  }
  const config = candidate as Static<typeof ConfigSchema>
  if (config.NODE_ENV === 'production' && (!config.SECRET_KEY || config.SECRET_KEY === DEVELOPMENT_SECRET_KEY || config.SECRET_KEY.length < 32)) {
    throw new ConfigError('Invalid configuration: SECRET_KEY must be set to a random string of at least 32 characters when NODE_ENV is production')
  }
  parseTrustProxy(config.TRUST_PROXY)
  if (config.DATABASE_HOSTNAME !== undefined) urlHost(config.DATABASE_HOSTNAME)
  for (const name of ['DATABASE_URL', 'DATABASE_DIRECT_URL', 'DATABASE_READ_URLS'] as const) {
    for (const url of config[name]?.split(',').filter(Boolean) ?? []) {
      // Not echoed: it may hold a password.
      if (!URL.canParse(url.trim())) throw new ConfigError(`Invalid configuration: ${name} must be postgresql://user:password@host:port/database (one of its URLs cannot be read: a port above 65535, a space, an unescaped character)`)
    }
  }
  if (config.DATABASE_READ_URLS && config.WEB_CONCURRENCY > 1 && !config.REDIS_URL) {
    // Each process would know only its own users' writes: a read on another could miss them.
    throw new ConfigError('Invalid configuration: DATABASE_READ_URLS with WEB_CONCURRENCY above 1 needs REDIS_URL, where every process finds each user\'s last write')
  }
  return { ...config, SECRET_KEY: config.SECRET_KEY ?? DEVELOPMENT_SECRET_KEY }
}

/** What the app plugin takes (see app.ts). */
export interface AppOptions {
  config?: Config
  /** Apply pending migrations before serving (start-up and tests). */
  migrate?: boolean
  /** Aborted when the server is asked to stop while it is still starting: start-up stops waiting for the database. */
  stopping?: AbortSignal
}
