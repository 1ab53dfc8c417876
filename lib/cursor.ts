import { createHmac, timingSafeEqual } from 'node:crypto'

/** Where a page ended: its last item's sort key (one or more values) and id, for the sort and window it was listed with. */
export interface CursorPosition {
  sort: string
  t: string
  key: (string | number)[]
  id: number
}

/** Why a cursor was refused, as its 422 says it. */
export class CursorError extends Error {}

// Keeps a cursor's signature apart from a token's, though both are HMACs with SECRET_KEY.
const PURPOSE = 'postline-cursor:'

const sign = (secret: string, payload: string) => createHmac('sha256', secret).update(PURPOSE + payload).digest('base64url')

/** An opaque, tamper-evident cursor: base64url JSON of the position, a dot, its signature. */
export function encodeCursor (secret: string, { sort, t, key, id }: CursorPosition): string {
  const payload = Buffer.from(JSON.stringify([sort, t, key, id])).toString('base64url')
  return `${payload}.${sign(secret, payload)}`
}

const isKeyValue = (value: unknown): value is string | number => typeof value === 'string' || (typeof value === 'number' && Number.isFinite(value))

/** Cursors are short; a longer text cannot be one. */
export const CURSOR_MAX_LENGTH = 1024

/** The position a cursor holds, checked against the sort and window it is presented with. */
export function decodeCursor (secret: string, cursor: string, sort: string, t: string): CursorPosition {
  const position = readCursor(secret, cursor)
  assertCursorFor(position, sort, t)
  return position
}

/** Refuses a cursor's position presented with another sort or window than it was issued for. */
export function assertCursorFor (position: CursorPosition, sort: string, t: string): void {
  if (position.sort !== sort || position.t !== t) {
    throw new CursorError(`The cursor belongs to sort=${position.sort} and t=${position.t}, not sort=${sort} and t=${t}`)
  }
}

/** The position a cursor holds, whatever the sort and window it is presented with: it is well formed and this server's. */
export function readCursor (secret: string, cursor: string): CursorPosition {
  if (cursor.length === 0) throw new CursorError('Invalid cursor: it is empty')
  if (cursor.length > CURSOR_MAX_LENGTH) throw new CursorError(`Invalid cursor: longer than ${CURSOR_MAX_LENGTH} characters`)
  const [payload, signature, ...rest] = cursor.split('.')
  if (!payload || !signature || rest.length > 0) throw new CursorError('Invalid cursor')
  const expected = Buffer.from(sign(secret, payload))
  const given = Buffer.from(signature)
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw new CursorError('Invalid cursor: it was not issued by this server or was changed')
  let position: unknown
  try {
    position = JSON.parse(Buffer.from(payload, 'base64url').toString())
  } catch {
    throw new CursorError('Invalid cursor')
  }
  if (!Array.isArray(position) || position.length !== 4) throw new CursorError('Invalid cursor')
  const [sort, t, key, id] = position as unknown[]
  if (typeof sort !== 'string' || typeof t !== 'string' || !Array.isArray(key) || !key.every(isKeyValue) || !Number.isInteger(id)) throw new CursorError('Invalid cursor')
  return { sort, t, key, id: id as number }
}
