import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import type pg from 'pg'
import { PRESETS, type PresetName } from './presets.js'

/** The seeded posts end at the moment of seeding; older than this, the windows (`t=day`) hold other posts. */
const FRESH_FOR = '1 hour'

/** Seeds `preset` into the bench database unless its row counts already are that preset's and its newest post is fresh. */
export async function seedIfNeeded (db: pg.Client, url: string, preset: PresetName, log: (message: string) => void): Promise<void> {
  const { rows: [counts] } = await db.query<{ users: number, posts: number, votes: number, fresh: boolean }>(
    `select (select count(*) from users)::int as users, (select count(*) from posts)::int as posts, (select count(*) from votes)::int as votes,
            coalesce((select max(created_at) from posts) > now() - interval '${FRESH_FOR}', false) as fresh`)
  const want = PRESETS[preset]
  const same = counts!.users === want.users && counts!.posts === want.posts && counts!.votes === want.votes
  if (same && counts!.fresh) return
  log(same ? `the ${preset} preset's posts are over ${FRESH_FOR} old: seeding again` : `the data is not the ${preset} preset's: seeding`)
  const seed = spawnSync(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'seed.ts'), '--preset', preset], {
    stdio: 'inherit', env: { ...process.env, BENCH_DATABASE_URL: url }
  })
  if (seed.status !== 0) throw new Error('seeding failed')
}
