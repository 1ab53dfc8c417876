import { Migration } from '@mikro-orm/migrations'
import { WRITER_LOCK } from './Migration20261206153605_stream.js'
import { STREAM_VOTES_CHANGED_LEAN } from './Migration20261207234500_stream_votes_lean.js'
import { postEvents } from './Migration20261208001000_stream_owners_and_renumbered_posts.js'

/**
 * The writers' lock taken by the event's own insert, in its row filter: evaluated once the row is
 * found and before the event is numbered (the number is the insert's default, made as the row
 * goes in), so a reader that finds a gap still finds its writer. None is taken when there is no
 * event (the post or its counter went later in the same transaction).
 */
const locked = `pg_advisory_xact_lock_shared(${WRITER_LOCK}) is not null`

/**
 * Hand-written: a new post's and a vote count's event cost their transaction one statement less
 * (they are most of the events). The writers' lock was a statement of its own (`perform`) before
 * the event's insert; the insert takes it now. A new post's event has a function of its own,
 * without the branches for updates and deletions.
 */
export class Migration20261208030000_stream_lock_in_insert extends Migration {
  override async up (): Promise<void> {
    this.addSql(`create function "stream_post_created"() returns trigger language plpgsql as $$
begin
  -- The post as committed, with its owner: none when it was deleted (or renumbered) later in the
  -- same transaction (that change is the event).
  ${postEvents("'post.created'", `p.id = new.id and ${locked}`)};
  return null;
end $$;`)
    this.addSql('drop trigger "posts_stream_insert" on "posts";')
    this.addSql('create constraint trigger "posts_stream_insert" after insert on "posts" deferrable initially deferred for each row execute function stream_post_created();')
    this.addSql(`create or replace function "stream_votes_changed"() returns trigger language plpgsql as $$
begin
  if tg_op = 'UPDATE' then
    if old.votes is not distinct from new.votes then return null; end if;
  end if;
  -- None when the post was deleted in the same transaction: its counter went with it, and its deletion is the event.
  insert into stream_events (post_id, type, votes) select post_id, 'post.votes', votes from vote_counts where post_id = new.post_id and ${locked};
  return null;
end $$;`)
  }

  override async down (): Promise<void> {
    this.addSql(STREAM_VOTES_CHANGED_LEAN)
    this.addSql('drop trigger "posts_stream_insert" on "posts";')
    this.addSql('create constraint trigger "posts_stream_insert" after insert on "posts" deferrable initially deferred for each row execute function stream_post_changed();')
    this.addSql('drop function "stream_post_created"();')
  }
}
