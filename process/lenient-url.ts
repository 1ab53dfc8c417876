const HEX_PAIR = /^[0-9A-Fa-f]{2}$/
const utf8 = new TextDecoder('utf-8')

/**
 * The URL with its path decoded as Python's `unquote` decodes it (what FastAPI routes on):
 * bytes that are not UTF-8 become U+FFFD and a `%` without two hex digits stays literal;
 * then encoded again, so that the router accepts it. The query string is left as it is.
 */
export function lenientUrl (url: string): string {
  const queryAt = url.indexOf('?')
  const path = queryAt === -1 ? url : url.slice(0, queryAt)
  const bytes: number[] = []
  for (let i = 0; i < path.length; i++) {
    const pair = path.slice(i + 1, i + 3)
    if (path[i] === '%' && HEX_PAIR.test(pair)) {
      bytes.push(parseInt(pair, 16))
      i += 2
    } else {
      bytes.push(...Buffer.from(path[i]!))
    }
  }
  const decoded = utf8.decode(new Uint8Array(bytes))
  return decoded.split('/').map(encodeURIComponent).join('/') + (queryAt === -1 ? '' : url.slice(queryAt))
}
