import Fastify, { type FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { randomBytes } from 'node:crypto'
import pg from 'pg'
import tap, { type Test } from 'tap'
import app from '../../app.js'
import { PasswordPool } from '../../plugins/passwords/pool.js'
import { serverOptions } from '../../process/server-options.js'
import { loadConfig, type ConfigSource } from '../../lib/config.js'
import { withClient } from '../../db/client.js'
import { TEMPLATE_VARIABLE } from './template-database.js'
import { checkAnswersAgainstDocument } from './conformance.js'

export const TEST_SECRET = 'postline-test-secret-0123456789abcdef'

function adminUrl (): string {
  const url = process.env.DATABASE_URL
  if (!url) throw new Error('DATABASE_URL is not set: run the tests with `npm test`, which provides a database')
  return url
}

const admin = <T>(work: (client: pg.Client) => Promise<T>): Promise<T> => withClient(adminUrl(), work)

async function createDatabase (t: Test, template: string | undefined): Promise<string> {
  const name = `postline_test_${randomBytes(6).toString('hex')}`
  await admin(async client => {
    await client.query(`create database ${name}${template ? ` template ${template}` : ''}`)
    // A test's database is thrown away: its commits need not wait for the disk.
    await client.query(`alter database ${name} set synchronous_commit = off`)
  })
  t.teardown(() => admin(client => client.query(`drop database if exists ${name} with (force)`)))
  const url = new URL(adminUrl())
  url.pathname = `/${name}`
  return url.toString()
}

/**
 * A database of its own for a test, dropped when the test ends; returns its URL. Under
 * `npm test` it is a copy of the run's migrated template (the app then finds nothing to
 * migrate); run alone under tap, it is empty and the app migrates it.
 */
export const createTestDatabase = (t: Test): Promise<string> => createDatabase(t, process.env[TEMPLATE_VARIABLE])

/** An empty database of its own, for tests of migrating itself. */
export const createEmptyDatabase = (t: Test): Promise<string> => createDatabase(t, undefined)

export interface BuildOptions {
  config?: ConfigSource
  /** An existing database to use instead of a fresh one. */
  databaseUrl?: string
  logger?: FastifyInstance['log'] | false | object
}

let passwordPool: PasswordPool | undefined
/**
 * One bcrypt process for every app a test file builds (each app would fork its own), closed
 * when the file's tests end. A test that sets BCRYPT_WORKERS gets the app's own pool.
 */
function sharedPasswordPool (): PasswordPool {
  if (passwordPool === undefined) {
    const pool = passwordPool = new PasswordPool(1)
    tap.teardown(() => pool.close())
  }
  return passwordPool
}

/** The app on a fresh, migrated database, closed when the test ends. */
export async function build (t: Test, options: BuildOptions = {}): Promise<FastifyInstance> {
  // A copy of the run's template is migrated already: only a database given, or one made
  // without a template (a file run alone under tap), is migrated by the app.
  const migrate = options.databaseUrl !== undefined || !process.env[TEMPLATE_VARIABLE]
  const databaseUrl = options.databaseUrl ?? await createTestDatabase(t)
  const config = loadConfig({ BCRYPT_ROUNDS: '4', BCRYPT_WORKERS: '1', SECRET_KEY: TEST_SECRET, LOGIN_RATE_LIMIT: '0', RATE_LIMIT: '0', MAX_EVENT_LOOP_DELAY: '0', ...options.config, DATABASE_URL: databaseUrl })
  const fastify = Fastify({ ...serverOptions(config), logger: options.logger ?? false })
  t.teardown(() => fastify.close())
  // Before the routes, so that every answer of every test is held to the OpenAPI document.
  checkAnswersAgainstDocument(t, fastify)
  // Unwrapped, so tests can reach the app's decorators (pg, config, jwt).
  const ownPool = options.config !== undefined && 'BCRYPT_WORKERS' in options.config
  await fastify.register(fp(app), { config, migrate, passwordPool: ownPool ? undefined : sharedPasswordPool() })
  await fastify.ready()
  return fastify
}

/** Plain SQL on the app's own database (its pool), for arranging and checking rows; `?` marks each parameter. */
export async function sql<R extends pg.QueryResultRow = Record<string, unknown>> (fastify: FastifyInstance, text: string, params: unknown[] = []): Promise<R[]> {
  let index = 0
  const result = await fastify.pg.query<R>(text.replace(/\?/g, () => `$${++index}`), params)
  return result.rows
}

let emailCounter = 0
export const uniqueEmail = (prefix = 'user') => `${prefix}.${process.pid}.${++emailCounter}.${randomBytes(3).toString('hex')}@example.com`

export interface TestUser {
  id: number
  email: string
  password: string
  token: string
  headers: { authorization: string }
}

/** Registers a user through the API and logs in through the real `/login`. */
export async function createUser (fastify: FastifyInstance, email = uniqueEmail(), password = 'password123'): Promise<TestUser> {
  const created = await fastify.inject({ method: 'POST', url: '/users', payload: { email, password } })
  if (created.statusCode !== 201) throw new Error(`registration failed: ${created.statusCode} ${created.body}`)
  const token = await login(fastify, email, password)
  return { id: created.json().id, email, password, token, headers: { authorization: `Bearer ${token}` } }
}

export async function login (fastify: FastifyInstance, username: string, password: string): Promise<string> {
  const response = await fastify.inject({ method: 'POST', url: '/login', payload: new URLSearchParams({ username, password }).toString(), headers: { 'content-type': 'application/x-www-form-urlencoded' } })
  if (response.statusCode !== 200) throw new Error(`login failed: ${response.statusCode} ${response.body}`)
  return response.json().access_token
}

export async function createPost (fastify: FastifyInstance, user: TestUser, body: Record<string, unknown> = {}): Promise<{ id: number, title: string, content: string, published: boolean, owner_id: number }> {
  const response = await fastify.inject({ method: 'POST', url: '/posts', headers: user.headers, payload: { title: 'A title', content: 'Some content', ...body } })
  if (response.statusCode !== 201) throw new Error(`post creation failed: ${response.statusCode} ${response.body}`)
  return response.json()
}
