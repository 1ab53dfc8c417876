import { Migration } from '@mikro-orm/migrations'
import { WRITER_LOCK } from './Migration20261206153605_stream.js'

// The function as this migration made it (a later one restores it when it is undone).
export const STREAM_VOTE_COUNTS_TRUNCATED = `create function "stream_vote_counts_truncated"() returns trigger language plpgsql as $$
begin
  perform pg_advisory_xact_lock_shared(${WRITER_LOCK});
  insert into stream_events (post_id, type, data)
    select c.post_id, 'post.votes', json_build_object('id', c.post_id, 'votes', 0)::text
      from vote_counts c join posts p on p.id = c.post_id
     where c.votes <> 0
       -- Not for a post this statement truncates too: its deletion, numbered already, says all.
       and not exists (select from stream_events e where e.post_id = c.post_id and e.type = 'post.deleted' and e.xmin = pg_current_xact_id()::xid)
     order by c.post_id;
  return null;
end $$;`

/**
 * Hand-written: a truncate of `vote_counts` (alone, or with `votes` in one statement) fires
 * no row trigger, and the recount after it inserts a zero count without an event, so the
 * change feed never said that those counts went to zero (the streams and every process's read
 * cache kept the old ones). Before such a truncate, each post with a count says it is now 0;
 * the recount's own events (deferred to commit, so numbered after) then give any count the
 * votes left still make. (`truncate posts, votes, vote_counts` has already said, just
 * before, that the posts are deleted.)
 */
export class Migration20261207050000_vote_counts_truncate_events extends Migration {
  override async up (): Promise<void> {
    this.addSql(STREAM_VOTE_COUNTS_TRUNCATED)
    this.addSql('create trigger "vote_counts_stream_truncate" before truncate on "vote_counts" for each statement execute function stream_vote_counts_truncated();')
  }

  override async down (): Promise<void> {
    this.addSql('drop trigger if exists "vote_counts_stream_truncate" on "vote_counts";')
    this.addSql('drop function if exists "stream_vote_counts_truncated"();')
  }
}
