import { uniqueEmail } from './app.js'

/** A user logged in on a server over HTTP: its base URL and the bearer header. */
export interface Session { url: string, headers: Record<string, string> }

export interface Answer { status: number, body: string }

/** A request to a running server; `json` makes it a POST (unless `method` says otherwise) with that body. */
export async function call (url: string, init: RequestInit & { json?: unknown } = {}): Promise<Answer> {
  const { json, ...rest } = init
  const response = await fetch(url, json === undefined ? rest : { ...rest, method: rest.method ?? 'POST', headers: { ...rest.headers as Record<string, string>, 'content-type': 'application/json' }, body: JSON.stringify(json) })
  return { status: response.status, body: await response.text() }
}

/** A new user registered and logged in on the server at `url`. */
export async function signIn (url: string, prefix = 'user'): Promise<Session> {
  const email = uniqueEmail(prefix)
  const created = await call(`${url}/users`, { json: { email, password: 'password123' } })
  if (created.status !== 201) throw new Error(`POST /users: ${created.status} ${created.body}`)
  const login = await fetch(`${url}/login`, { method: 'POST', body: new URLSearchParams({ username: email, password: 'password123' }) })
  if (login.status !== 200) throw new Error(`POST /login: ${login.status} ${await login.text()}`)
  const { access_token: token } = await login.json() as { access_token: string }
  return { url, headers: { authorization: `Bearer ${token}` } }
}
