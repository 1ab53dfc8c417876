import { existsSync } from 'node:fs'
import { chromium } from 'playwright-core'
import t from 'tap'
import { build, createPost, createUser } from '../helpers/app.js'

// Live updates as a browser gets them: a page (served by this test, on the API's origin) asks
// for a stream ticket, opens EventSource with it in Debian's Chromium, and shows each new post.

const CHROMIUM = '/usr/bin/chromium'
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run']
const TIMEOUT_MS = 15_000

const skip = !existsSync(CHROMIUM) && `Chromium is not installed at ${CHROMIUM}: install it with \`apt-get install -y chromium\` to run the browser tests`

const PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>Live posts</title></head>
<body><p id="state">connecting</p><ul id="posts"></ul>
<script type="module">
  const token = new URLSearchParams(location.hash.slice(1)).get('token')
  const issued = await fetch('/stream/tickets', { method: 'POST', headers: { authorization: 'Bearer ' + token } })
  const { ticket } = await issued.json()
  const events = new EventSource('/stream?ticket=' + encodeURIComponent(ticket))
  events.onopen = () => { document.getElementById('state').textContent = 'open' }
  events.onerror = () => { document.getElementById('state').textContent = 'error ' + events.readyState }
  events.addEventListener('post.created', event => {
    const { Post, votes } = JSON.parse(event.data)
    const item = document.createElement('li')
    item.dataset.eventId = event.lastEventId
    item.textContent = Post.title + ' (' + votes + ')'
    document.getElementById('posts').append(item)
  })
</script></body></html>`

t.test('a page opens EventSource with a ticket and shows a post created through the API', { skip }, async t => {
  const app = await build(t)
  const base = await app.listen({ host: '127.0.0.1', port: 0 })
  const ada = await createUser(app)

  const browser = await chromium.launch({ executablePath: CHROMIUM, args: FLAGS })
  t.teardown(() => browser.close())
  const context = await browser.newContext()
  context.setDefaultTimeout(TIMEOUT_MS)
  // The page comes from the test, at an address of the API's origin; everything else goes to the API.
  await context.route(`${base}/live.html`, route => route.fulfill({ contentType: 'text/html; charset=utf-8', body: PAGE }))
  const page = await context.newPage()
  const errors: string[] = []
  page.on('pageerror', error => errors.push(error.message))
  const tickets = page.waitForResponse(response => new URL(response.url()).pathname === '/stream/tickets')
  await page.goto(`${base}/live.html#token=${encodeURIComponent(ada.token)}`)
  t.equal((await tickets).status(), 201, 'the page got a ticket')
  await page.locator('#state', { hasText: 'open' }).waitFor()
  t.pass('EventSource opened with the ticket')

  const post = await createPost(app, ada, { title: 'Seen live in Chromium' })
  const item = page.locator('#posts li', { hasText: 'Seen live in Chromium (0)' })
  await item.waitFor()
  t.match(await item.getAttribute('data-event-id'), /^[1-9][0-9]*$/, 'the event carried its id')
  t.equal(await page.locator('#posts li').count(), 1)
  t.equal(post.title, 'Seen live in Chromium')
  t.same(errors, [], 'no script errors on the page')
})
