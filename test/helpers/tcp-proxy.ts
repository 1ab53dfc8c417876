import { connect, createServer, type Socket } from 'node:net'
import type { Test } from 'tap'

export interface TcpProxy {
  port: number
  /** Ends every connection through it, and ends each new one at once, until `restore`. */
  cut: () => void
  restore: () => void
}

/**
 * A TCP proxy on 127.0.0.1 to `host:port` whose connections a test can cut, as a network would;
 * closed when `t` ends. `answerDelayMs` holds what the upstream sends for that long (a distant server).
 */
export async function startTcpProxy (t: Test, host: string, port: number, { answerDelayMs = 0 } = {}): Promise<TcpProxy> {
  const open = new Set<Socket>()
  let cut = false
  const server = createServer(client => {
    if (cut) {
      client.destroy()
      return
    }
    const upstream = connect(port, host)
    for (const socket of [client, upstream]) {
      open.add(socket)
      socket.on('close', () => open.delete(socket))
      socket.on('error', () => {})
    }
    client.pipe(upstream)
    if (answerDelayMs === 0) upstream.pipe(client)
    else upstream.on('data', chunk => setTimeout(() => client.write(chunk), answerDelayMs))
    client.on('close', () => upstream.destroy())
    upstream.on('close', () => client.destroy())
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => {
    for (const socket of open) socket.destroy()
    return new Promise<void>(resolve => server.close(() => resolve()))
  })
  return {
    port: (server.address() as { port: number }).port,
    cut: () => {
      cut = true
      for (const socket of open) socket.destroy()
    },
    restore: () => { cut = false }
  }
}
