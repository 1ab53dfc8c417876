import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, relative, resolve } from 'node:path'
import { startEmbeddedPostgres, type EmbeddedPostgres } from '../db/embedded-postgres.js'
import { COMPILED_VARIABLE } from './helpers/server-process.js'
import { TEMPLATE_VARIABLE, createTemplateDatabase } from './helpers/template-database.js'
import { projectRoot } from '../lib/project-root.js'

const ROOT = projectRoot(import.meta.dirname)
const TEST_BUILD = join(ROOT, '.test-build')

/** A test file's compiled counterpart under .test-build/. */
const compiledTest = (file: string) => join(TEST_BUILD, relative(ROOT, resolve(file))).replace(/\.ts$/, '.js')

/**
 * tap's arguments: the compiled test files (every `*.test.ts` under test/, or the ones named) and
 * a preload from the build in place of the TypeScript loader that package.json gives a plain `tap`.
 */
function tapArguments (args: string[]): string[] {
  const named = args.filter(arg => arg.endsWith('.ts'))
  const files = named.length > 0 ? named : readdirSync(join(ROOT, 'test'), { recursive: true, encoding: 'utf8' }).filter(file => file.endsWith('.test.ts')).sort().map(file => join('test', file))
  return [
    `--node-arg=--import=${join(TEST_BUILD, 'test', 'helpers', 'untracked-children.js')}`,
    ...args.filter(arg => !arg.endsWith('.ts')),
    ...files.map(compiledTest)
  ]
}

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

interface ScriptRun { script: string, code: number, output: string }

/** Runs an npm script at `nice` priority; resolves with its exit code and what it printed. */
const npmRun = (script: string, nice = 0) => new Promise<ScriptRun>(resolve => {
  const child = spawn('nice', ['-n', String(nice), 'npm', 'run', '-s', script], { stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  child.stdout.on('data', chunk => { output += chunk })
  child.stderr.on('data', chunk => { output += chunk })
  child.on('close', code => resolve({ script, code: code ?? 1, output }))
})

/** Prints each run's output; the first failure's exit code, if any. */
function report (runs: ScriptRun[]): number | undefined {
  for (const run of runs) {
    if (run.output) process.stdout.write(run.output)
    if (run.code !== 0) console.error(`npm run ${run.script} failed (exit code ${run.code})`)
  }
  return runs.find(run => run.code !== 0)?.code
}

// The tests run compiled: `build:test` type-checks every file and compiles it to .test-build/
// (it emits even where types are wrong; its errors are reported when the tests end, as a
// failure). The whole suite (no files named) is linted too, beside the tests at the lowest
// priority, on the CPU that waiting test files leave idle.
const checks = Promise.all(process.argv.length > 2 ? [] : [npmRun('lint', 19)])
// tap hands its test processes the loaders of the plugins it was built with. It builds the set
// package.json names (without the TypeScript and mock loaders) only during a run, for the next
// one: a checkout that never ran tap builds it first, or its first run would load them all.
const tapPlugins = existsSync(join(ROOT, '.tap', 'plugins')) ? undefined : npmRun('build:tap')
const compiledTests = npmRun('build:test')
// Built once here, as `npm start` builds it: the server processes the tests start run compiled.
const built = npmRun('build')
// Migrated once here: each test's database is a copy of it (see createTestDatabase).
const template = await createTemplateDatabase(process.env.DATABASE_URL!)
process.env[TEMPLATE_VARIABLE] = template.name

let code = report([await built, ...(tapPlugins ? [await tapPlugins] : [])]) ?? 0
const typecheck = await compiledTests
if (code === 0) {
  process.env[COMPILED_VARIABLE] = '1'
  const tap = spawn('npx', ['tap', ...tapArguments(process.argv.slice(2))], { stdio: 'inherit' })
  code = await new Promise<number>(resolve => tap.on('close', (exitCode, signal) => resolve(exitCode ?? (signal ? 1 : 0))))
}
code = report([typecheck, ...await checks]) ?? code

await template.drop()

if (embedded) await embedded.stop()
if (dataDir) rmSync(dataDir, { recursive: true, force: true })
process.exit(code)
