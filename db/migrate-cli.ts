import { ConfigError, loadConfig } from '../lib/config.js'
import { resolveDatabase } from './database.js'
import { migrateUrl } from './migrate.js'
import { StartupError } from '../lib/startup-error.js'

const direction = process.argv[2] === 'down' ? 'down' : 'up'
const log = (message: string) => console.log(message)
try {
  // Beside a running server the embedded PostgreSQL is already up: its database is migrated in place.
  const database = await resolveDatabase(loadConfig(), log, { shareRunning: true })
  try {
    const names = await migrateUrl(database.directUrl, direction)
    log(names.length ? `${direction === 'up' ? 'applied' : 'reverted'}: ${names.join(', ')}` : 'nothing to migrate')
  } finally {
    await database.stop?.()
  }
} catch (err) {
  if (!(err instanceof StartupError || err instanceof ConfigError)) throw err
  console.error(`migrate failed: ${err.message}`)
  process.exitCode = 1
}
