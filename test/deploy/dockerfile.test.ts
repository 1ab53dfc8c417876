import { execFileSync, spawn } from 'node:child_process'
import { chmodSync, copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { basename, dirname, join, posix, relative } from 'node:path'
import { performance } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import t, { type Test } from 'tap'
import { createTestDatabase } from '../helpers/app.js'
import { freePort, waitFor, type Exit, type SpawnedServer } from '../helpers/server-process.js'
import { projectRoot } from '../../lib/project-root.js'

// The Dockerfile checked without a Docker engine: what `docker build` and `docker run` would do,
// done on this machine (Debian bookworm, like the image's base). Each stage's filesystem is a
// folder; COPY copies from the build context (minus .dockerignore) or from an earlier stage,
// RUN runs in the shell, and the final stage's CMD and HEALTHCHECK run with its ENV and as an
// unprivileged user. The base image's own files (node, npm) are this machine's. `RUN npm ci`
// links the checkout's node_modules when it holds exactly the tree the same lock pins, as a
// build cache would give it; the steps after it (build, prune) run for real.

const ROOT = projectRoot()
const SECRET_KEY = 'postline-docker-test-secret-0123456789'
/** npm, on the way to the registry, needs no more of this machine's environment than these. */
const BUILD_ENV_NAMES = ['PATH', 'HOME', 'NODE_EXTRA_CA_CERTS', 'http_proxy', 'https_proxy', 'no_proxy', 'HTTP_PROXY', 'HTTPS_PROXY', 'NO_PROXY']
const NOBODY = { uid: 65534, gid: 65534 }

interface Instruction {
  keyword: string
  args: string
}

interface Stage {
  name?: string
  image: string
  /** This stage's filesystem on this machine. */
  root: string
  workdir: string
  env: Record<string, string>
  user?: string
  cmd?: string[]
  healthcheck?: string[]
  expose: string[]
}

/** The instructions, continuation lines joined and comments dropped. */
function parseDockerfile (text: string): Instruction[] {
  const instructions: Instruction[] = []
  let pending = ''
  for (const line of text.split('\n')) {
    if (/^\s*#/.test(line)) continue
    const continued = /\\\s*$/.test(line)
    pending += continued ? line.replace(/\\\s*$/, ' ') : line
    if (continued) continue
    const match = /^\s*(\w+)\s+(.*?)\s*$/s.exec(pending)
    if (match) instructions.push({ keyword: match[1]!.toUpperCase(), args: match[2]! })
    pending = ''
  }
  return instructions
}

/** Leading `--name=value` options, and the rest. */
function takeFlags (args: string): { flags: Record<string, string>, rest: string } {
  const flags: Record<string, string> = {}
  let rest = args
  for (let match; (match = /^--([\w-]+)(?:=(\S*))?\s+/.exec(rest));) {
    flags[match[1]!] = match[2] ?? 'true'
    rest = rest.slice(match[0].length)
  }
  return { flags, rest }
}

/** Exec form (a JSON array) as is; shell form through /bin/sh -c. */
const commandLine = (args: string): string[] => args.startsWith('[') ? JSON.parse(args) : ['/bin/sh', '-c', args]

/** `ENV A=1 B="two words"`, or the legacy `ENV A 1`. */
function parseEnv (args: string): Record<string, string> {
  const pairs = [...args.matchAll(/([A-Za-z_]\w*)=("(?:[^"\\]|\\.)*"|\S*)/g)]
  if (pairs.length === 0) {
    const [name = '', ...value] = args.split(/\s+/)
    return { [name]: value.join(' ') }
  }
  return Object.fromEntries(pairs.map(([, name, value]) => [name!, value!.startsWith('"') ? JSON.parse(value!) : value!]))
}

/** Docker's .dockerignore rules: a path is out when it or a folder above it matches; the last matching rule decides. */
function dockerignore (text: string): (path: string) => boolean {
  const rules = text.split('\n').map(line => line.trim()).filter(line => line && !line.startsWith('#')).map(line => {
    const negate = line.startsWith('!')
    const pattern = posix.normalize(negate ? line.slice(1).trim() : line).replace(/^\/+|\/+$/g, '')
    const source = pattern.split(/(\*\*\/|\*\*|\*|\?)/).map(part => ({ '**/': '(?:.*/)?', '**': '.*', '*': '[^/]*', '?': '[^/]' })[part] ??
      part.replace(/[.+^${}()|[\]\\]/g, '\\$&')).join('')
    return { negate, regex: new RegExp(`^${source}$`) }
  })
  return path => {
    const parts = path.split('/').filter(Boolean)
    const candidates = parts.map((_, i) => parts.slice(0, i + 1).join('/'))
    let ignored = false
    for (const rule of rules) {
      if (candidates.some(candidate => rule.regex.test(candidate))) ignored = !rule.negate
    }
    return ignored
  }
}

const readIgnored = () => dockerignore(existsSync(join(ROOT, '.dockerignore')) ? readFileSync(join(ROOT, '.dockerignore'), 'utf8') : '')

/** A path of the stage's filesystem (relative ones from its WORKDIR) on this machine. */
const inStage = (stage: Stage, path: string) => join(stage.root, posix.resolve(stage.workdir, path))

/** Runs a command, collecting its output; killed when `t` ends if it still runs. */
function launch (t: Test, argv: string[], options: { cwd: string, env: Record<string, string>, uid?: number, gid?: number }): SpawnedServer {
  const [file, ...args] = argv
  // tap puts its own loader, from this checkout, in every child's NODE_OPTIONS; the image's
  // processes run without it (and, as another user, might not be able to read the checkout).
  const command = file === 'node' ? ['-u', 'NODE_OPTIONS', process.execPath, ...args] : ['-u', 'NODE_OPTIONS', file!, ...args]
  const child = spawn('/usr/bin/env', command, { ...options, stdio: ['ignore', 'pipe', 'pipe'] })
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  })
  let output = ''
  child.stdout.on('data', chunk => { output += chunk })
  child.stderr.on('data', chunk => { output += chunk })
  const exited = new Promise<Exit>(resolve => {
    child.once('error', err => { output += String(err); resolve({ code: null, signal: null }) })
    child.once('close', (code, signal) => resolve({ code, signal }))
  })
  return { child, output: () => output, exited }
}

function copy (stage: Stage, args: string, stages: Stage[], ignored: (path: string) => boolean) {
  const { flags, rest } = takeFlags(args)
  const parts: string[] = rest.startsWith('[') ? JSON.parse(rest) : rest.split(/\s+/)
  const dest = parts.pop()!
  for (const source of parts) {
    if (/[*?[]/.test(source)) throw new Error(`COPY ${source}: wildcards are not supported by this check`)
    let from = join(ROOT, source)
    if (flags.from !== undefined) {
      const origin = stages.find(stage => stage.name === flags.from) ?? stages[Number(flags.from)]
      if (!origin) throw new Error(`COPY --from=${flags.from}: not a stage of this Dockerfile`)
      from = inStage(origin, source)
    } else if (ignored(relative(ROOT, from))) {
      throw new Error(`COPY ${source}: excluded by .dockerignore`)
    }
    if (!existsSync(from)) throw new Error(`COPY ${source}: no such file or folder`)
    // A folder's contents go into dest; a file goes into dest when dest is a folder.
    const intoFolder = statSync(from).isFile() && (dest.endsWith('/') || parts.length > 1)
    const target = intoFolder ? join(inStage(stage, dest), basename(source)) : inStage(stage, dest)
    const filter = flags.from === undefined ? (path: string) => !ignored(relative(ROOT, path)) : undefined
    mkdirSync(dirname(target), { recursive: true })
    // From an earlier stage: hard links, the same files at no cost (an image layer is a copy,
    // but no step here writes to either side afterwards).
    if (flags.from !== undefined) execFileSync('cp', ['-al', '--', from, target])
    else cpSync(from, target, { recursive: true, ...(filter ? { filter } : {}) })
  }
}

type LockedPackages = Record<string, { version?: string, integrity?: string, optional?: boolean }>
const lockedPackages = (file: string) => (JSON.parse(readFileSync(file, 'utf8')) as { packages: LockedPackages }).packages

/** Whether `installed` (npm's record of a node_modules tree) is what `npm ci` of `lock` installs on this platform. */
function installs (lock: LockedPackages, installed: LockedPackages): boolean {
  const matches = (path: string) => installed[path]?.version === lock[path]!.version && installed[path]?.integrity === lock[path]!.integrity
  // Only optional packages (other platforms' binaries) are skipped.
  return Object.keys(installed).every(path => path in lock) &&
    Object.keys(lock).every(path => path === '' || matches(path) || (lock[path]!.optional && !(path in installed)))
}

/**
 * `npm ci` in a stage whose package.json and lock are the checkout's, while the checkout's
 * node_modules holds exactly the tree that lock pins (npm records it in .package-lock.json):
 * the same tree, hard-linked rather than unpacked again. npm's own file is copied, since
 * `npm prune` rewrites it in place.
 */
function linkInstalledTree (cwd: string): boolean {
  const installed = join(ROOT, 'node_modules')
  const same = (file: string) => existsSync(join(cwd, file)) && readFileSync(join(cwd, file)).equals(readFileSync(join(ROOT, file)))
  if (!same('package.json') || !same('package-lock.json') || !existsSync(join(installed, '.package-lock.json'))) return false
  if (!installs(lockedPackages(join(ROOT, 'package-lock.json')), lockedPackages(join(installed, '.package-lock.json')))) return false
  mkdirSync(join(cwd, 'node_modules'))
  const entries = readdirSync(installed).filter(entry => !entry.startsWith('.') || entry === '.bin')
  execFileSync('cp', ['-al', '--', ...entries.map(entry => join(installed, entry)), join(cwd, 'node_modules')])
  copyFileSync(join(installed, '.package-lock.json'), join(cwd, 'node_modules', '.package-lock.json'))
  return true
}

async function runStep (t: Test, stage: Stage, args: string) {
  // RUN's options (--mount=type=cache) only speed up a real build.
  const { rest } = takeFlags(args)
  const cwd = inStage(stage, '.')
  mkdirSync(cwd, { recursive: true })
  if (rest.trim() === 'npm ci' && linkInstalledTree(cwd)) {
    t.comment('RUN npm ci: the tree the lock pins is installed in the checkout, so it is hard-linked from there')
    return
  }
  const env: Record<string, string> = { npm_config_prefer_offline: 'true', npm_config_update_notifier: 'false' }
  for (const name of BUILD_ENV_NAMES) {
    const value = process.env[name]
    if (value !== undefined) env[name] = value
  }
  const step = launch(t, commandLine(rest), { cwd, env: { ...env, ...stage.env } })
  const { code, signal } = await step.exited
  if (code !== 0) throw new Error(`RUN ${rest} failed (${code ?? signal}):\n${step.output()}`)
}

/** Builds every stage of `dockerfile` under `dir`; returns them, the final one last. */
async function build (t: Test, dockerfile: string, dir: string): Promise<Stage[]> {
  const ignored = readIgnored()
  const stages: Stage[] = []
  for (const { keyword, args } of parseDockerfile(dockerfile)) {
    if (keyword === 'FROM') {
      const [image = '', as, name] = args.split(/\s+/)
      stages.push({ image, ...(as?.toUpperCase() === 'AS' ? { name } : {}), root: join(dir, `stage-${stages.length}`), workdir: '/', env: {}, expose: [] })
      continue
    }
    const stage = stages.at(-1)
    if (!stage) throw new Error(`${keyword} before FROM`)
    switch (keyword) {
      case 'WORKDIR':
        stage.workdir = posix.resolve(stage.workdir, args)
        mkdirSync(inStage(stage, '.'), { recursive: true })
        break
      case 'ENV':
        Object.assign(stage.env, parseEnv(args))
        break
      case 'USER':
        stage.user = args
        break
      case 'EXPOSE':
        stage.expose.push(...args.split(/\s+/))
        break
      case 'CMD':
        stage.cmd = commandLine(args)
        break
      case 'HEALTHCHECK':
        stage.healthcheck = commandLine(takeFlags(args).rest.replace(/^CMD\s+/, ''))
        break
      case 'COPY':
        copy(stage, args, stages, ignored)
        break
      case 'RUN':
        await runStep(t, stage, args)
        break
      default: throw new Error(`${keyword}: not supported by this check`)
    }
  }
  return stages
}

/** Polls GET /health until it answers 200; fails as soon as the server exits. */
async function untilServing (url: string, server: SpawnedServer): Promise<void> {
  for (;;) {
    if (server.child.exitCode !== null || server.child.signalCode !== null) throw new Error(`the server exited before serving:\n${server.output()}`)
    if (await fetch(`${url}/health`).then(response => response.ok, () => false)) return
    await sleep(100)
  }
}

t.test('the Dockerfile builds an image that serves the API', async t => {
  const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8')
  const dir = mkdtempSync(join(tmpdir(), 'postline-docker-'))
  // Unlinking a node_modules tree can take longer than the rest of this test: nobody waits for it.
  t.teardown(() => spawn('rm', ['-rf', dir], { detached: true, stdio: 'ignore' }).unref())
  // The image's files belong to root and the server runs as another user: so here, when root.
  chmodSync(dir, 0o755)
  const runAs = process.getuid?.() === 0 ? NOBODY : {}

  const building = performance.now()
  const stages = await build(t, dockerfile, dir)
  const built = performance.now()
  const image = stages.at(-1)!
  const app = inStage(image, '.')

  await t.test('the final stage', async t => {
    t.ok(image.user && !/^(root|0)(:|$)/.test(image.user), `runs as an unprivileged user (USER ${image.user})`)
    t.same(stages.map(stage => stage.image), stages.map(() => image.image), `every stage has the same base (${image.image}), so native modules match its libc`)
    t.match(image.env, { NODE_ENV: 'production', HOST: '0.0.0.0' }, 'sets NODE_ENV=production and listens on every interface')
    t.ok(image.env.PORT && image.expose.includes(image.env.PORT), `EXPOSEs its PORT (${image.env.PORT})`)
    t.same(image.cmd, ['node', 'dist/server.js'], 'CMD runs node itself on the compiled server, in exec form, so the server gets SIGTERM')
    t.ok(image.healthcheck, 'has a HEALTHCHECK')
  })

  await t.test('what the image holds', async t => {
    const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean }> }
    const devOnly = Object.entries(lock.packages)
      .filter(([path, entry]) => entry.dev && /^node_modules\/(@[^/]+\/)?[^/]+$/.test(path))
      .map(([path]) => path)
    t.notOk(existsSync(join(app, 'node_modules/tap')), 'tap is not installed')
    t.same(devOnly.filter(path => existsSync(join(app, path))), [], `none of the ${devOnly.length} development-only packages is installed`)
    t.ok(existsSync(join(app, 'dist/server.js')), 'the compiled server is')
    t.notOk(existsSync(join(app, 'node_modules/tsx')) || existsSync(join(app, 'server.ts')), 'neither tsx nor the TypeScript sources are: the image runs JavaScript')
    const ignored = readIgnored()
    t.same(['.env', '.git', 'node_modules', '.data/postgres', 'lib/x.log'].filter(path => !ignored(path)), [], '.dockerignore keeps secrets, the embedded database and node_modules out of the context')
  })

  await t.test('run with its CMD and ENV', async t => {
    const port = await freePort()
    const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', ...image.env, PORT: String(port), DATABASE_URL: await createTestDatabase(t), SECRET_KEY }
    const options = { cwd: app, env, ...runAs }
    const url = `http://127.0.0.1:${port}`
    const starting = performance.now()
    const server = launch(t, image.cmd!, options)
    await waitFor(untilServing(url, server), 60_000, () => `GET /health to answer:\n${server.output()}`)
    t.comment(`build ${Math.round(built - building)} ms, start-up ${Math.round(performance.now() - starting)} ms`)

    t.equal((await fetch(`${url}/ready`)).status, 200, 'GET /ready is 200: the database answers')
    const credentials = { email: 'docker@example.com', password: 'password123' }
    const created = await fetch(`${url}/users`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(credentials) })
    t.equal(created.status, 201, 'POST /users registers a user (bcrypt runs)')
    const login = await fetch(`${url}/login`, { method: 'POST', body: new URLSearchParams({ username: credentials.email, password: credentials.password }) })
    t.equal(login.status, 200, 'POST /login gives a token')
    const { access_token: token } = await login.json() as { access_token: string }
    const posts = await fetch(`${url}/posts`, { headers: { authorization: `Bearer ${token}` } })
    t.equal(posts.status, 200, 'GET /posts with it is 200')

    const healthy = launch(t, image.healthcheck!, options)
    t.same(await waitFor(healthy.exited, 10_000, 'the HEALTHCHECK command'), { code: 0, signal: null }, 'the HEALTHCHECK command exits 0', { output: healthy.output() })

    server.child.kill('SIGTERM')
    t.same(await waitFor(server.exited, 15_000, 'the server to stop'), { code: 0, signal: null }, 'SIGTERM stops the server with exit code 0')
    const unhealthy = launch(t, image.healthcheck!, options)
    t.not((await waitFor(unhealthy.exited, 10_000, 'the HEALTHCHECK command')).code, 0, 'with the server gone, the HEALTHCHECK command fails')
  })
})
