import { existsSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { chromium, type Browser, type BrowserContext } from 'playwright-core'
import t, { type Test } from 'tap'
import { build, createPost, createUser, uniqueEmail } from '../helpers/app.js'
import { projectRoot } from '../../lib/project-root.js'

// The documentation pages as a person uses them, in Debian's Chromium: Swagger UI's OAuth2
// login and "Try it out", and ReDoc. Every request to a host other than 127.0.0.1 is blocked
// and recorded, so a page that needed a CDN would fail here.

const CHROMIUM = '/usr/bin/chromium'
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run']
const SCREENSHOTS = join(projectRoot(), 'test', 'e2e', 'screenshots')
const TIMEOUT_MS = 15_000

const skip = !existsSync(CHROMIUM) && `Chromium is not installed at ${CHROMIUM}: install it with \`apt-get install -y chromium\` to run the browser tests`

/** A browser context that lets only 127.0.0.1 through; `blocked` lists every other address asked for. */
async function loopbackOnly (t: Test, browser: Browser): Promise<{ context: BrowserContext, blocked: string[] }> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } })
  t.teardown(() => context.close())
  context.setDefaultTimeout(TIMEOUT_MS)
  const blocked: string[] = []
  await context.route('**/*', async route => {
    const url = route.request().url()
    if (new URL(url).hostname === '127.0.0.1') return route.continue()
    blocked.push(url)
    return route.abort('blockedbyclient')
  })
  return { context, blocked }
}

t.test('the documentation pages in a real browser, with the network closed but for 127.0.0.1', { skip }, async t => {
  const app = await build(t)
  const base = await app.listen({ host: '127.0.0.1', port: 0 })
  const password = 'browser-password-1'
  const user = await createUser(app, uniqueEmail('docs'), password)
  const post = await createPost(app, user, { title: 'Seen through Swagger UI' })
  const newest = await createPost(app, user, { title: 'Newest, on the first page' })

  mkdirSync(SCREENSHOTS, { recursive: true })
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: FLAGS })
  t.teardown(() => browser.close())

  // Either OAuth2 scheme of the document: the course's login, and the token endpoint.
  for (const [scheme, tokenPath] of [['OAuth2PasswordBearer', '/login'], ['OAuth2TokenEndpoint', '/auth/token']]) {
    t.test(`Swagger UI: authorize with email and password (${scheme}, through ${tokenPath}), then try GET /posts`, async t => {
      const { context, blocked } = await loopbackOnly(t, browser)
      const page = await context.newPage()
      const errors: string[] = []
      page.on('pageerror', error => errors.push(error.message))
      await page.goto(`${base}/docs`)
      await page.locator('.swagger-ui .info .title').waitFor()

      await page.locator('.swagger-ui .auth-wrapper button.authorize').click()
      const dialog = page.locator('.swagger-ui .dialog-ux')
      const form = dialog.locator('.auth-container').filter({ has: page.locator('h4', { hasText: scheme }) })
      await form.locator('#oauth_username').fill(user.email)
      await form.locator('#oauth_password').fill(password)
      const logins = page.waitForResponse(response => new URL(response.url()).pathname === tokenPath)
      await form.locator('button.authorize').click()
      t.equal((await logins).status(), 200, `the password form logs in through POST ${tokenPath}`)
      // Swagger UI labels this button "Remove authorization" for assistive technology.
      await form.locator('button', { hasText: 'Logout' }).waitFor()
      t.pass('the dialog shows the user as authorized')
      await dialog.locator('button.btn-done').first().click()

      const operation = page.locator('.opblock-get').filter({ has: page.locator('.opblock-summary-path[data-path="/posts"]') })
      await operation.locator('.opblock-summary').click()
      await operation.locator('button.try-out__btn').click()
      const feed = page.waitForResponse(response => new URL(response.url()).pathname === '/posts' && response.request().method() === 'GET')
      await operation.locator('button.execute').click()
      const answered = await feed
      t.match(answered.request().headers().authorization, /^Bearer \S+$/, 'the request carries the token from the login')
      const live = operation.locator('.live-responses-table .response').first()
      await live.locator('.response-col_description').filter({ hasText: post.title }).waitFor()
      t.equal((await live.locator('.response-col_status').innerText()).trim(), '200', 'the response panel shows a 200')
      t.pass('the response panel shows the post')

      // Walking pages: a page of one shows its Link header, whose cursor gives the next page.
      await operation.locator('tr[data-param-name="limit"] input').fill('1')
      const firstPage = page.waitForResponse(response => new URL(response.url()).searchParams.get('limit') === '1' && !new URL(response.url()).searchParams.has('cursor'))
      await operation.locator('button.execute').click()
      await firstPage
      const shown = operation.locator('.live-responses-table .response').first()
      await shown.locator('.response-col_description').filter({ hasText: newest.title }).waitFor()
      const link = /link: <([^>]+)>; rel="next"/.exec(await shown.innerText())?.[1]
      t.ok(link, 'the response panel shows the Link header')
      const cursor = new URL(link ?? '/', base).searchParams.get('cursor') ?? ''
      t.ok(cursor, 'with the next page\'s cursor')
      await operation.locator('tr[data-param-name="cursor"] input').fill(cursor)
      const nextPage = page.waitForResponse(response => new URL(response.url()).searchParams.get('cursor') === cursor)
      await operation.locator('button.execute').click()
      t.equal((await nextPage).status(), 200, 'the cursor, pasted into its field, is accepted')
      await shown.locator('.response-col_description').filter({ hasText: post.title }).waitFor()
      t.pass('and the next page shows the older post')

      await page.screenshot({ path: join(SCREENSHOTS, `swagger-ui-${scheme}.png`), fullPage: true })
      t.same(errors, [], 'no script errors on the page')
      t.same(blocked, [], 'nothing was asked of any host but 127.0.0.1')
    })
  }

  t.test('ReDoc: every tag of the document is rendered', async t => {
    const { context, blocked } = await loopbackOnly(t, browser)
    const page = await context.newPage()
    const errors: string[] = []
    page.on('pageerror', error => errors.push(error.message))
    const { tags } = (await app.inject({ url: '/openapi.json' })).json() as { tags: { name: string }[] }
    t.ok(tags.length >= 4, `the document declares its tags (${tags.map(tag => tag.name).join(', ')})`)
    await page.goto(`${base}/redoc`)
    await page.locator('.api-content').waitFor()
    for (const { name } of tags) {
      await page.locator('.api-content :is(h1, h2)').filter({ hasText: new RegExp(`^${name}$`) }).first().waitFor()
      t.pass(`the ${name} section is rendered`)
    }
    await page.screenshot({ path: join(SCREENSHOTS, 'redoc.png'), fullPage: true })
    t.same(errors, [], 'no script errors on the page')
    t.same(blocked, [], 'nothing was asked of any host but 127.0.0.1')
  })
})
