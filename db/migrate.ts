import type { MikroORM } from '@mikro-orm/postgresql'
import { withClient } from './client.js'
import { MIGRATIONS_TABLE, shippedMigrations } from './migration-files.js'

// Any constant works; it only has to be the same in every Postline process.
export const MIGRATION_LOCK = 4_207_311

/**
 * Applies (or reverts one of) the migrations while holding a PostgreSQL advisory lock,
 * so that several processes starting together migrate once and the others wait.
 */
export async function migrate (orm: MikroORM, clientUrl: string, direction: 'up' | 'down' = 'up'): Promise<string[]> {
  return withClient(clientUrl, async lock => {
    await lock.query('select pg_advisory_lock($1)', [MIGRATION_LOCK])
    const migrator = orm.getMigrator()
    const applied = direction === 'up' ? await migrator.up() : await migrator.down()
    return applied.map(migration => migration.name)
  })
}

/** Whether every migration shipped is recorded as applied: no ORM, and no idle moment on the connection. */
async function upToDate (clientUrl: string): Promise<boolean> {
  const shipped = await shippedMigrations()
  return withClient(clientUrl, async client => {
    const { rows: [table] } = await client.query<{ present: boolean }>('select to_regclass($1) is not null as present', [MIGRATIONS_TABLE])
    if (!table?.present) return false
    const { rows } = await client.query<{ name: string }>(`select name from ${MIGRATIONS_TABLE}`)
    // Older MikroORM versions recorded the file's extension too.
    const applied = new Set(rows.map(row => row.name.replace(/\.[jt]s$/, '')))
    return shipped.every(name => applied.has(name))
  })
}

/**
 * `migrate` with a MikroORM opened for it and closed after: the server needs the ORM for
 * nothing else, so a database already up to date is told apart with one query, and MikroORM
 * (slow to load) is loaded only when there is something to migrate. `logger` takes MikroORM's
 * lines (else they go to the console).
 */
export async function migrateUrl (clientUrl: string, direction: 'up' | 'down' = 'up', logger?: (message: string) => void): Promise<string[]> {
  if (direction === 'up' && await upToDate(clientUrl)) return []
  const [{ MikroORM }, { createOrmConfig }] = await Promise.all([import('@mikro-orm/postgresql'), import('./orm-config.js')])
  const orm = await MikroORM.init(createOrmConfig(clientUrl, { poolSize: 1, logger }))
  try {
    return await migrate(orm, clientUrl, direction)
  } finally {
    await orm.close()
  }
}
