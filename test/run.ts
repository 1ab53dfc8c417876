import { spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startEmbeddedPostgres, type EmbeddedPostgres } from '../db/embedded-postgres.js'
import { COMPILED_VARIABLE } from './helpers/server-process.js'
import { TEMPLATE_VARIABLE, createTemplateDatabase } from './helpers/template-database.js'

// The tests use the PostgreSQL named by DATABASE_URL (each test file makes its own database
// there); with none, they run on an embedded PostgreSQL that lives as long as the run.
let embedded: EmbeddedPostgres | undefined
let dataDir: string | undefined
if (!process.env.DATABASE_URL) {
  dataDir = mkdtempSync(join(tmpdir(), 'postline-test-'))
  const port = 20_000 + Math.floor(Math.random() * 20_000)
  console.log(`DATABASE_URL is not set: starting an embedded PostgreSQL on port ${port}`)
  embedded = await startEmbeddedPostgres({ dataDir: join(dataDir, 'postgres'), port, database: 'postgres', log: console.log })
  process.env.DATABASE_URL = embedded.url
}

// Migrated once here: each test's database is a copy of it (see createTestDatabase).
const template = await createTemplateDatabase(process.env.DATABASE_URL!)
process.env[TEMPLATE_VARIABLE] = template.name

// Built once here, as `npm start` builds it: the server processes the tests start run compiled.
const built = spawnSync('npm', ['run', '-s', 'build'], { stdio: 'inherit' })
if (built.status !== 0) {
  await template.drop()
  if (embedded) await embedded.stop()
  if (dataDir) rmSync(dataDir, { recursive: true, force: true })
  process.exit(built.status ?? 1)
}
process.env[COMPILED_VARIABLE] = '1'

const tap = spawn('npx', ['tap', ...process.argv.slice(2)], { stdio: 'inherit' })
const code = await new Promise<number>(resolve => tap.on('close', (exitCode, signal) => resolve(exitCode ?? (signal ? 1 : 0))))

await template.drop()

if (embedded) await embedded.stop()
if (dataDir) rmSync(dataDir, { recursive: true, force: true })
process.exit(code)
