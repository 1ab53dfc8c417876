import { MikroORM } from '@mikro-orm/postgresql'
import { loadConfig } from '../plugins/config.js'
import { resolveDatabase } from './database.js'
import { migrate } from './migrate.js'
import { createOrmConfig } from './orm-config.js'

const direction = process.argv[2] === 'down' ? 'down' : 'up'
const log = (message: string) => console.log(message)
const database = await resolveDatabase(loadConfig(), log)
const orm = await MikroORM.init(createOrmConfig(database.url))
try {
  const names = await migrate(orm, database.url, direction)
  log(names.length ? `${direction === 'up' ? 'applied' : 'reverted'}: ${names.join(', ')}` : 'nothing to migrate')
} finally {
  await orm.close()
  await database.stop?.()
}
