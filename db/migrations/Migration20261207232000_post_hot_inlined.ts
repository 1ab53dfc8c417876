import { Migration } from '@mikro-orm/migrations'
import { HOT } from './Migration20261206024914_ranked_feeds.js'

/**
 * Hand-written: the hot rank (`post_hot`, migration 20261206024914) computed in the statement
 * that calls it. It is declared immutable, but `extract(epoch from <timestamptz>)` is only
 * stable, so PostgreSQL would not inline it: every vote and every new post parsed and planned
 * its body again, at each of its calls. Taken in UTC, the epoch is the same number, and the
 * body is immutable, so it is inlined. The ranks already stored stay exact.
 */
export class Migration20261207232000_post_hot_inlined extends Migration {
  override async up (): Promise<void> {
    this.addSql(`create or replace function "post_hot"("votes" int, "created_at" timestamptz) returns double precision
  language sql immutable parallel safe as
$$ select log(greatest("votes", 1)::double precision) + (extract(epoch from "created_at" at time zone 'UTC')::double precision - 1134028003) / 45000 $$;`)
  }

  override async down (): Promise<void> {
    this.addSql(HOT.replace('create function', 'create or replace function'))
  }
}
