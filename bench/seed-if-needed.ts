import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import type pg from 'pg'
import { PRESETS, type PresetName } from './presets.js'

/** Seeds `preset` into the bench database unless its row counts already are that preset's. */
export async function seedIfNeeded (db: pg.Client, url: string, preset: PresetName, log: (message: string) => void): Promise<void> {
  const { rows: [counts] } = await db.query<{ users: number, posts: number, votes: number }>(
    'select (select count(*) from users)::int as users, (select count(*) from posts)::int as posts, (select count(*) from votes)::int as votes')
  const want = PRESETS[preset]
  if (counts!.users === want.users && counts!.posts === want.posts && counts!.votes === want.votes) return
  log(`the data is not the ${preset} preset's: seeding`)
  const seed = spawnSync(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'seed.ts'), '--preset', preset], {
    stdio: 'inherit', env: { ...process.env, BENCH_DATABASE_URL: url }
  })
  if (seed.status !== 0) throw new Error('seeding failed')
}
