import { Writable } from 'node:stream'

/** A log destination for an app under test: each line it is given, parsed. */
export function captureLog () {
  const lines: Record<string, unknown>[] = []
  const stream = new Writable({
    write (chunk, _encoding, done) {
      for (const line of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(line))
      done()
    }
  })
  return { lines, stream }
}
