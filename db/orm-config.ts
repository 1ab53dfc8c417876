import { defineConfig } from '@mikro-orm/postgresql'
import { Migrator } from '@mikro-orm/migrations'
import { Post, RefreshToken, Session, SessionReset, StreamEvent, StreamTicket, User, Vote, VoteCount } from './entities/index.js'
import { MIGRATIONS_GLOB, MIGRATIONS_PATH, MIGRATIONS_PREFER_TS, MIGRATIONS_TABLE } from './migration-files.js'

interface OrmOptions {
  poolSize?: number
  logger?: (message: string) => void
  /**
   * Keep db/migrations/.snapshot-postline.json, the schema `migrate:create` diffs the entities
   * against. Only the CLI writes it: a server or test migrating some database (an adopted one,
   * say) would otherwise rewrite the checkout's snapshot with that database's schema.
   */
  snapshot?: boolean
}

export function createOrmConfig (clientUrl: string, { poolSize = 10, logger, snapshot = false }: OrmOptions = {}) {
  return defineConfig({
    clientUrl,
    ...(logger ? { logger } : {}),
    // Colour codes only for a person at a terminal: a log file or a pipe (CI, Heroku's release phase) gets plain text.
    colors: !logger && process.stdout.isTTY === true,
    entities: [User, Post, Vote, VoteCount, Session, RefreshToken, SessionReset, StreamEvent, StreamTicket],
    extensions: [Migrator],
    // From its sources (tsx, tap, the MikroORM CLI) the migrations are TypeScript; built, JavaScript.
    preferTs: MIGRATIONS_PREFER_TS,
    discovery: { warnWhenNoEntities: true },
    pool: { min: 0, max: poolSize },
    migrations: {
      path: MIGRATIONS_PATH,
      pathTs: MIGRATIONS_PATH,
      glob: MIGRATIONS_GLOB,
      tableName: MIGRATIONS_TABLE,
      snapshot,
      snapshotName: '.snapshot-postline',
      transactional: true,
      allOrNothing: true,
      emit: 'ts',
      fileName: (timestamp, name) => `Migration${timestamp}${name ? `_${name}` : ''}`
    }
  })
}

/** Used by the MikroORM CLI (`npm run migrate:create`). */
export default createOrmConfig(process.env.DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postline', { snapshot: true })
