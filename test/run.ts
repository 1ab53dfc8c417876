import { spawn } from 'node:child_process'
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

/** Runs an npm script; resolves with its exit code. */
const npmRun = (script: string) => new Promise<number>(resolve =>
  spawn('npm', ['run', '-s', script], { stdio: 'inherit' }).on('close', code => resolve(code ?? 1)))

// The whole suite (no files named) is linted and type-checked first; these, the build and the
// template's migrations each take one core for a while, so they run side by side.
const checks = process.argv.length > 2 ? [] : ['lint', 'typecheck']
// Built once here, as `npm start` builds it: the server processes the tests start run compiled.
const prepared = Promise.all([...checks, 'build'].map(npmRun))
// Migrated once here: each test's database is a copy of it (see createTestDatabase).
const template = await createTemplateDatabase(process.env.DATABASE_URL!)
process.env[TEMPLATE_VARIABLE] = template.name

const failed = (await prepared).find(code => code !== 0)
if (failed !== undefined) {
  await template.drop()
  if (embedded) await embedded.stop()
  if (dataDir) rmSync(dataDir, { recursive: true, force: true })
  process.exit(failed)
}
process.env[COMPILED_VARIABLE] = '1'

const tap = spawn('npx', ['tap', ...process.argv.slice(2)], { stdio: 'inherit' })
const code = await new Promise<number>(resolve => tap.on('close', (exitCode, signal) => resolve(exitCode ?? (signal ? 1 : 0))))

await template.drop()

if (embedded) await embedded.stop()
if (dataDir) rmSync(dataDir, { recursive: true, force: true })
process.exit(code)
