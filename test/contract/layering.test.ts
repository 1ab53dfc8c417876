import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, normalize, relative } from 'node:path'
import t from 'tap'
import { projectRoot } from '../../lib/project-root.js'

// The layering rule of the README's "Architecture" section, checked on the code itself:
// foundation (lib/, then schemas/) → data (db/) → plugins/ → routes/, with app.ts, server.ts
// and the process shell (process/) on top. Imports only point down.

const ROOT = projectRoot()
const SOURCE_FOLDERS = ['lib', 'schemas', 'db', 'plugins', 'routes', 'process']
const LAYERS: Record<string, number> = { lib: 0, schemas: 1, db: 2, plugins: 3, routes: 4, process: 5, top: 5 }

function sourceFiles (folder: string): string[] {
  return readdirSync(join(ROOT, folder), { withFileTypes: true, recursive: true })
    .filter(entry => entry.isFile() && /\.(ts|js)$/.test(entry.name) && !entry.name.endsWith('.d.ts'))
    .map(entry => relative(ROOT, join(entry.parentPath, entry.name)))
}

const files = ['app.ts', 'server.ts', ...SOURCE_FOLDERS.flatMap(sourceFiles)]

interface Import { from: string, specifier: string, target?: string }

function importsOf (file: string): Import[] {
  const text = readFileSync(join(ROOT, file), 'utf8')
  const specifiers = [...text.matchAll(/(?:^|\s)(?:import|export)\s[^'"]*?from\s+'([^']+)'|import\(\s*'([^']+)'\s*\)|new URL\(\s*'(\.[^']+)'/gm)]
    .map(match => match[1] ?? match[2] ?? match[3]!)
  return specifiers.map(specifier => specifier.startsWith('.')
    ? { from: file, specifier, target: normalize(join(dirname(file), specifier)).replace(/\.js$/, '.ts') }
    : { from: file, specifier })
}

const imports = files.flatMap(importsOf)
const local = imports.filter(entry => entry.target !== undefined) as Required<Import>[]
const folderOf = (file: string) => file.includes('/') ? file.slice(0, file.indexOf('/')) : 'top'
/** plugins/docs/index.ts → plugins/docs; plugins/auth.ts → plugins/auth.ts */
const pluginOf = (file: string) => file.split('/').slice(0, 2).join('/')
const describe = (entry: Import) => `${entry.from} imports '${entry.specifier}'`

t.ok(local.length > 50 && imports.some(entry => entry.specifier === 'pg'), 'the imports were found (the check reads the code)')

t.test('imports only point down the layers', async t => {
  const upward = local.filter(entry => LAYERS[folderOf(entry.target)]! > LAYERS[folderOf(entry.from)]!)
  t.same(upward.map(describe), [])
})

t.test('lib/ imports nothing of the project outside lib/', async t => {
  t.same(local.filter(entry => entry.from.startsWith('lib/') && !entry.target.startsWith('lib/')).map(describe), [])
})

t.test('pg and MikroORM are imported only in db/', async t => {
  const outside = imports.filter(entry => /^(pg|pg-[a-z-]+|@mikro-orm\/.+)$/.test(entry.specifier) && !entry.from.startsWith('db/'))
  t.same(outside.map(describe), [])
})

t.test('no route imports a plugin file, and no plugin imports another plugin\'s file', async t => {
  const reaching = local.filter(entry => entry.target.startsWith('plugins/') && (
    entry.from.startsWith('routes/') ||
    (entry.from.startsWith('plugins/') && pluginOf(entry.from) !== pluginOf(entry.target))))
  t.same(reaching.map(describe), [], 'what plugins share is a decorator, or lives in a lower layer')
})

t.test('no route imports another route folder\'s file', async t => {
  const crossing = local.filter(entry => entry.from.startsWith('routes/') && entry.target.startsWith('routes/') &&
    entry.from.split('/')[1] !== entry.target.split('/')[1])
  t.same(crossing.map(describe), [])
})

t.test('every local import names a file that exists', async t => {
  const known = new Set(files)
  t.same(local.filter(entry => !known.has(entry.target) && !known.has(entry.target.replace(/\.ts$/, '.js'))).map(describe), [])
})
