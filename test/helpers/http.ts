export interface Answer { status: number, body: string }

/** A request to a running server; `json` makes it a POST (unless `method` says otherwise) with that body. */
export async function call (url: string, init: RequestInit & { json?: unknown } = {}): Promise<Answer> {
  const { json, ...rest } = init
  const response = await fetch(url, json === undefined ? rest : { ...rest, method: rest.method ?? 'POST', headers: { ...rest.headers as Record<string, string>, 'content-type': 'application/json' }, body: JSON.stringify(json) })
  return { status: response.status, body: await response.text() }
}
