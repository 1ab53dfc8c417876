/** One block of a `text/event-stream`: an event, or a comment. */
export interface StreamBlock {
  id?: string
  event?: string
  data?: string
  comment?: string
}

/** A `GET /stream` read as a client would, block by block. */
export interface OpenStream {
  status: number
  headers: Headers
  blocks: StreamBlock[]
  /** The first block (from `from` on) that matches, waiting up to `timeoutMs` for it. */
  next: (match: (block: StreamBlock) => boolean, timeoutMs?: number, from?: number) => Promise<StreamBlock>
  /** Resolves when the server ends the stream. */
  ended: Promise<void>
  close: () => void
}

function parseBlock (text: string): StreamBlock {
  const block: StreamBlock = {}
  for (const line of text.split('\n')) {
    if (line.startsWith(':')) block.comment = line.slice(1).trim()
    else {
      const colon = line.indexOf(':')
      const field = line.slice(0, colon)
      const value = line.slice(colon + 1).replace(/^ /, '')
      if (field === 'id' || field === 'event') block[field] = value
      if (field === 'data') block.data = block.data === undefined ? value : `${block.data}\n${value}`
    }
  }
  return block
}

/** The blocks received, short enough for an error message: how many, and the last few. */
const summary = (blocks: StreamBlock[]) =>
  `${blocks.length} blocks, ending ${JSON.stringify(blocks.slice(-3)).replace(/(x{20})x+/g, '$1…')}`.slice(0, 2000)

export async function openStream (url: string, headers: Record<string, string> = {}): Promise<OpenStream> {
  const controller = new AbortController()
  const response = await fetch(url, { headers, signal: controller.signal })
  const blocks: StreamBlock[] = []
  let wake = () => {}
  const ended = (async () => {
    if (!response.body) return
    const decoder = new TextDecoder()
    let buffer = ''
    try {
      for await (const chunk of response.body) {
        buffer += decoder.decode(chunk as Uint8Array, { stream: true })
        let start = 0
        let end
        while ((end = buffer.indexOf('\n\n', start)) >= 0) {
          blocks.push(parseBlock(buffer.slice(start, end)))
          start = end + 2
        }
        buffer = buffer.slice(start)
        wake()
      }
    } catch {}
    wake()
  })()
  let finished = false
  ended.then(() => { finished = true }, () => {})
  async function next (match: (block: StreamBlock) => boolean, timeoutMs = 5000, from = 0): Promise<StreamBlock> {
    const deadline = Date.now() + timeoutMs
    let scanned = from
    for (;;) {
      for (; scanned < blocks.length; scanned++) if (match(blocks[scanned]!)) return blocks[scanned]!
      if (finished) throw new Error(`the stream ended without the block; got ${summary(blocks)}`)
      const left = deadline - Date.now()
      if (left <= 0) throw new Error(`no such block within ${timeoutMs} ms; got ${summary(blocks)}`)
      await new Promise<void>(resolve => {
        const timer = setTimeout(resolve, Math.min(left, 100))
        wake = () => { clearTimeout(timer); resolve() }
      })
    }
  }
  return { status: response.status, headers: response.headers, blocks, next, ended, close: () => controller.abort() }
}
