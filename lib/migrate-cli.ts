import { loadConfig } from '../plugins/config.js'
import { resolveDatabase } from './database.js'
import { migrateUrl } from './migrate.js'

const direction = process.argv[2] === 'down' ? 'down' : 'up'
const log = (message: string) => console.log(message)
const database = await resolveDatabase(loadConfig(), log)
try {
  const names = await migrateUrl(database.url, direction)
  log(names.length ? `${direction === 'up' ? 'applied' : 'reverted'}: ${names.join(', ')}` : 'nothing to migrate')
} finally {
  await database.stop?.()
}
