import bcrypt from 'bcrypt'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import pg from 'pg'
import { feedQuery, feedShape, feedValues, toFeedPage, type FeedRequest, type FeedRow } from '../db/queries/feeds.js'
import { CREATE_POST_SQL, POST_OUT_SQL, toPost, toPostOut, type PostOutRow, type PostRow } from '../db/queries/posts.js'
import { decodeCursor, encodeCursor } from '../lib/cursor.js'
import { SORTS, WINDOWS, type Sort, type Window } from '../schemas/posts.js'
import { run } from '../db/queries/queryable.js'
import { ADD_VOTE_SQL, REMOVE_VOTE_SQL, type VoteOutcomeRow } from '../db/queries/votes.js'
import { pgTypes } from '../db/pg-types.js'
import { callerValues, type Caller } from '../db/queries/caller.js'
import { startSession } from '../db/queries/sessions.js'
import { signToken, verifyToken } from './jwt.js'

// The ceiling Postline is measured against: node:http and pg, no framework, no ORM, one
// prepared statement per route (the very statements Postline runs, their rows turned into
// JSON by the same functions, and each checking the token's session as Postline's do), and the
// same JWT check. Only what the benchmark's requests need is implemented (no /auth/token).
// Environment: DATABASE_URL, SECRET_KEY, PORT (default 8001), DATABASE_POOL_SIZE (default 10).

const secret = process.env.SECRET_KEY ?? ''
const pool = new pg.Pool({
  connectionString: process.env.DATABASE_URL,
  max: Number(process.env.DATABASE_POOL_SIZE ?? 10),
  types: pgTypes
})

function send (res: ServerResponse, status: number, body: unknown) {
  const json = JSON.stringify(body)
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(json) })
  res.end(json)
}

const detail = (res: ServerResponse, status: number, message: string) => send(res, status, { detail: message })

async function readBody (req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = []
  for await (const chunk of req) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks).toString()
}

const callerOf = (req: IncomingMessage): Caller | undefined => {
  const header = req.headers.authorization
  return header?.startsWith('Bearer ') ? verifyToken(secret, header.slice(7)) : undefined
}

const oneOf = <T extends string>(values: readonly T[], value: string | null, fallback: T): T | undefined =>
  value === null ? fallback : values.find(allowed => allowed === value)

async function feed (res: ServerResponse, caller: Caller, url: URL, ownerId?: number) {
  const query = url.searchParams
  const limit = Number(query.get('limit') ?? 10)
  const skip = Number(query.get('skip') ?? 0)
  const sort = oneOf<Sort>(SORTS, query.get('sort'), 'new')
  const t = oneOf<Window>(WINDOWS, query.get('t'), 'all')
  if (!Number.isInteger(limit) || limit < 1 || limit > 100 || !Number.isInteger(skip) || skip < 0 || !sort || !t) return detail(res, 422, 'bad parameters')
  const request: FeedRequest = { sort, t, limit, skip, search: query.get('search') ?? '', voted: query.get('include') === 'voted' }
  const cursor = query.get('cursor')
  if (cursor !== null) {
    try {
      const { key, id } = decodeCursor(secret, cursor, sort, t)
      request.after = { key, id }
    } catch {
      return detail(res, 422, 'bad cursor')
    }
  }
  if (ownerId !== undefined) request.ownerId = ownerId
  const { name, text } = feedQuery(feedShape(request))
  const rows = await run<FeedRow>(pool, name, text, feedValues(caller, request))
  if (rows.length === 0) return detail(res, 401, 'Could not validate credentials')
  if (ownerId !== undefined && !rows[0]!.owner_found) return detail(res, 404, `User with id: ${ownerId} does not exist`)
  const page = toFeedPage(rows, limit)
  if (page.last) {
    query.delete('skip')
    query.set('cursor', encodeCursor(secret, { sort, t, ...page.last }))
    res.setHeader('link', `<${url.pathname}?${query.toString()}>; rel="next"`)
  }
  send(res, 200, page.posts)
}

async function postById (res: ServerResponse, caller: Caller, id: number) {
  const [row] = await run<PostOutRow>(pool, 'post-out', POST_OUT_SQL, [...callerValues(caller), id])
  if (!row) return detail(res, 401, 'Could not validate credentials')
  if (row.id === null) return detail(res, 404, `Post with id: ${id} does not exist`)
  send(res, 200, toPostOut(row))
}

async function createPost (res: ServerResponse, caller: Caller, body: { title?: unknown, content?: unknown, published?: unknown }) {
  if (typeof body.title !== 'string' || typeof body.content !== 'string') return detail(res, 422, 'title and content are required')
  const [row] = await run<PostRow>(pool, 'create-post', CREATE_POST_SQL, [...callerValues(caller), body.title, body.content, body.published ?? true])
  if (!row) return detail(res, 401, 'Could not validate credentials')
  send(res, 201, toPost(row))
}

async function vote (res: ServerResponse, caller: Caller, body: { post_id?: unknown, dir?: unknown }) {
  const { post_id: postId, dir } = body
  if (!Number.isInteger(postId) || (dir !== 0 && dir !== 1)) return detail(res, 422, 'bad vote')
  const [outcome] = await run<VoteOutcomeRow>(pool, dir === 1 ? 'add-vote' : 'remove-vote', dir === 1 ? ADD_VOTE_SQL : REMOVE_VOTE_SQL, [...callerValues(caller), postId])
  if (!outcome.me) return detail(res, 401, 'Could not validate credentials')
  if (!outcome.post) return detail(res, 404, `Post with id: ${postId} does not exist`)
  if (!outcome.done) return dir === 1 ? detail(res, 409, `user ${caller.userId} has already voted on post ${postId}`) : detail(res, 404, 'Vote does not exist')
  send(res, 201, { message: dir === 1 ? 'successfully added vote' : 'successfully deleted vote' })
}

async function login (req: IncomingMessage, res: ServerResponse, form: URLSearchParams) {
  const [user] = await run<{ id: number, password: string }>(pool, 'credentials-by-email', 'select id, password from users where lower(email) = lower($1) order by id limit 1', [form.get('username') ?? ''])
  if (!user || !await bcrypt.compare(form.get('password') ?? '', user.password)) return detail(res, 403, 'Invalid Credentials')
  // As Postline's /login: a session, started by the same statement, that the token carries.
  const sessionId = await startSession(pool, { userId: user.id, days: 30, userAgent: req.headers['user-agent']?.slice(0, 512) ?? null, ip: req.socket.remoteAddress ?? null, refreshHash: null })
  if (sessionId === undefined) return detail(res, 403, 'Invalid Credentials')
  send(res, 200, { access_token: signToken(secret, user.id, sessionId), token_type: 'bearer' })
}

async function route (req: IncomingMessage, res: ServerResponse) {
  const url = new URL(req.url ?? '/', 'http://localhost')
  const path = url.pathname.replace(/\/$/, '') || '/'
  if (req.method === 'GET' && path === '/') return send(res, 200, { message: 'Hello World' })
  if (req.method === 'POST' && path === '/login') return login(req, res, new URLSearchParams(await readBody(req)))
  const caller = callerOf(req)
  if (caller === undefined) return detail(res, 401, 'Could not validate credentials')
  if (req.method === 'GET' && path === '/posts') return feed(res, caller, url)
  const userPosts = /^\/users\/(\d+)\/posts$/.exec(path)
  if (req.method === 'GET' && userPosts) return feed(res, caller, url, Number(userPosts[1]))
  if (req.method === 'GET' && path.startsWith('/posts/')) return postById(res, caller, Number(path.slice(7)))
  if (req.method === 'POST' && path === '/posts') return createPost(res, caller, JSON.parse(await readBody(req)))
  if (req.method === 'POST' && path === '/vote') return vote(res, caller, JSON.parse(await readBody(req)))
  detail(res, 404, 'Not Found')
}

const server = createServer((req, res) => {
  route(req, res).catch(err => {
    console.error(err)
    if (!res.headersSent) detail(res, 500, 'Internal Server Error')
  })
})
server.keepAliveTimeout = 65_000
server.listen(Number(process.env.PORT ?? 8001), process.env.HOST ?? '127.0.0.1', () => {
  console.log(`baseline listening on ${process.env.HOST ?? '127.0.0.1'}:${process.env.PORT ?? 8001}`)
})
const stop = () => server.close(() => pool.end().then(() => process.exit(0)))
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
