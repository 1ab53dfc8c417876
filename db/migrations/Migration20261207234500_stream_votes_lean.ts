import { Migration } from '@mikro-orm/migrations'
import { VOTE_COUNTS_STREAM_UPDATE, WRITER_LOCK } from './Migration20261206153605_stream.js'
import { STREAM_VOTES_CHANGED_COLUMNS } from './Migration20261207211508_stream_event_columns.js'

// The votes' function as this migration made it (a later one restores it when it is undone).
export const STREAM_VOTES_CHANGED_LEAN = `create or replace function "stream_votes_changed"() returns trigger language plpgsql as $$
begin
  if tg_op = 'UPDATE' then
    if old.votes is not distinct from new.votes then return null; end if;
  end if;
  perform pg_advisory_xact_lock_shared(${WRITER_LOCK});
  -- None when the post was deleted in the same transaction: its counter went with it, and its deletion is the event.
  insert into stream_events (post_id, type, votes) select post_id, 'post.votes', votes from vote_counts where post_id = new.post_id;
  return null;
end $$;`

/**
 * Hand-written: a vote's event costs its transaction less. Its count is read from `vote_counts`
 * alone: a post deleted in the same transaction has taken its counter with it already
 * (`vote_counts_forget_posts`), so the join with `posts` only repeated that. And the update
 * trigger has no WHEN clause, which PostgreSQL parsed again for every statement that updates a
 * counter; the function tells a count that did not change (a post moved in time) itself.
 */
export class Migration20261207234500_stream_votes_lean extends Migration {
  override async up (): Promise<void> {
    this.addSql(STREAM_VOTES_CHANGED_LEAN)
    this.addSql('drop trigger "vote_counts_stream_update" on "vote_counts";')
    this.addSql('create constraint trigger "vote_counts_stream_update" after update on "vote_counts" deferrable initially deferred for each row execute function stream_votes_changed();')
  }

  override async down (): Promise<void> {
    this.addSql('drop trigger "vote_counts_stream_update" on "vote_counts";')
    this.addSql(VOTE_COUNTS_STREAM_UPDATE)
    this.addSql(STREAM_VOTES_CHANGED_COLUMNS)
  }
}
