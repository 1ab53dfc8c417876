import { MikroORM } from '@mikro-orm/postgresql'
import pg from 'pg'
import { createOrmConfig } from './orm-config.js'

// Any constant works; it only has to be the same in every Postline process.
const MIGRATION_LOCK = 4_207_311

/**
 * Applies (or reverts one of) the migrations while holding a PostgreSQL advisory lock,
 * so that several processes starting together migrate once and the others wait.
 */
export async function migrate (orm: MikroORM, clientUrl: string, direction: 'up' | 'down' = 'up'): Promise<string[]> {
  const lock = new pg.Client({ connectionString: clientUrl })
  await lock.connect()
  try {
    await lock.query('select pg_advisory_lock($1)', [MIGRATION_LOCK])
    const migrator = orm.getMigrator()
    const applied = direction === 'up' ? await migrator.up() : await migrator.down()
    return applied.map(migration => migration.name)
  } finally {
    await lock.end()
  }
}

/**
 * `migrate` with a MikroORM opened for it and closed after: the server needs the ORM for
 * nothing else. `logger` takes MikroORM's lines (else they go to the console).
 */
export async function migrateUrl (clientUrl: string, direction: 'up' | 'down' = 'up', logger?: (message: string) => void): Promise<string[]> {
  const orm = await MikroORM.init(createOrmConfig(clientUrl, { poolSize: 1, logger }))
  try {
    return await migrate(orm, clientUrl, direction)
  } finally {
    await orm.close()
  }
}
