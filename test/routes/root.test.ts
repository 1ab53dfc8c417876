import t from 'tap'
import { build } from '../helpers/app.js'

t.test('GET / greets, with or without a trailing slash', async t => {
  const app = await build(t)
  for (const url of ['/', '//']) {
    const response = await app.inject({ url })
    t.equal(response.statusCode, 200, url)
    t.same(response.json(), { message: 'Hello World' })
  }
})

t.test('an unknown path is a 404 with a detail body', async t => {
  const app = await build(t)
  const response = await app.inject({ url: '/nothing/here' })
  t.equal(response.statusCode, 404)
  t.same(response.json(), { detail: 'Not Found' })
})
