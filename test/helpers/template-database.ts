import { randomBytes } from 'node:crypto'
import { withClient } from '../../db/client.js'
import { migrateUrl } from '../../db/migrate.js'

/** Names the migrated database that `test/run.ts` made for this run, for `createTestDatabase` to copy. */
export const TEMPLATE_VARIABLE = 'POSTLINE_TEST_TEMPLATE'

/** A database with every migration applied, made once per run: copying it is far quicker than migrating each test's database. */
export async function createTemplateDatabase (adminUrl: string) {
  const name = `postline_template_${randomBytes(6).toString('hex')}`
  await withClient(adminUrl, client => client.query(`create database ${name}`))
  const url = new URL(adminUrl)
  url.pathname = `/${name}`
  await migrateUrl(url.toString())
  return {
    name,
    drop: () => withClient(adminUrl, client => client.query(`drop database if exists ${name} with (force)`))
  }
}
