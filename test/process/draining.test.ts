import { connect } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { build, createUser } from '../helpers/app.js'

/** The status, headers and body of each HTTP/1.1 response in `raw` (Content-Length framed). */
function responses (raw: string) {
  const found: { status: number, headers: Record<string, string>, body: string }[] = []
  let rest = raw
  while (rest.length) {
    const end = rest.indexOf('\r\n\r\n')
    if (end === -1) break
    const [statusLine, ...lines] = rest.slice(0, end).split('\r\n')
    const headers = Object.fromEntries(lines.map(line => [line.slice(0, line.indexOf(':')).toLowerCase(), line.slice(line.indexOf(':') + 1).trim()]))
    const length = Number(headers['content-length'] ?? 0)
    found.push({ status: Number(statusLine!.split(' ')[1]), headers, body: rest.slice(end + 4, end + 4 + length) })
    rest = rest.slice(end + 4 + length)
  }
  return found
}

t.test('a request arriving on an open connection while the server drains gets a 503 in the API\'s shape, with Retry-After', async t => {
  const app = await build(t)
  const user = await createUser(app)
  await app.listen({ host: '127.0.0.1', port: 0 })
  const { port } = app.server.address() as { port: number }

  const socket = connect(port, '127.0.0.1')
  let received = ''
  socket.setEncoding('utf8').on('data', chunk => { received += chunk })
  const ended = new Promise(resolve => socket.on('close', resolve))
  const body = JSON.stringify({ title: 'in flight', content: 'while draining' })
  // A request in flight (its body not all sent) keeps the connection busy, so close() waits for it.
  socket.write(`POST /posts HTTP/1.1\r\nHost: postline\r\nAuthorization: Bearer ${user.token}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body.slice(0, 5)}`)
  await sleep(100)
  const closed = app.close()
  await sleep(100)
  // The rest of the body, then a second request on the same connection.
  socket.write(`${body.slice(5)}GET /posts HTTP/1.1\r\nHost: postline\r\nAuthorization: Bearer ${user.token}\r\n\r\n`)
  await ended
  await closed

  const [first, second] = responses(received)
  t.equal(first?.status, 201, 'the request in flight is finished')
  t.equal(second?.status, 503, 'the one that came during the drain is refused')
  t.strictSame(JSON.parse(second?.body ?? 'null'), { detail: 'Service unavailable' })
  t.equal(second?.headers['retry-after'], '5')
  t.equal(second?.headers.connection, 'close')
  t.match(second?.headers['content-type'], /^application\/json/)
})
