import { Migration } from '@mikro-orm/migrations'
import { WRITER_LOCK } from './Migration20261206153605_stream.js'
import { STREAM_POST_CHANGED_COLUMNS } from './Migration20261207211508_stream_event_columns.js'

/** An event of `type` (an SQL expression) for each post `p` that `where` picks, as committed, with its owner `u`. */
export const postEvents = (type: string, where: string) => `insert into stream_events (post_id, type, title, content, published, post_created_at, owner_id, owner_email, owner_created_at)
    select p.id, ${type}, p.title, p.content, p.published, p.created_at, p.owner_id, u.email, u.created_at
      from posts p join users u on u.id = p.owner_id
     where ${where}`

/**
 * Hand-written: two changes made in plain SQL that the change feed did not tell.
 * - A post shows its owner's email and `created_at`, and a change to them in `users` made no
 *   event: the streams and every process's read cache kept the old owner. Each of the owner's
 *   posts now has a `post.updated`, numbered at commit like the others.
 * - A post given another id said `post.updated` for the new id only: to a client (and to the
 *   read cache) the old id lived on. It now says `post.deleted` for the old id first.
 */
export class Migration20261208001000_stream_owners_and_renumbered_posts extends Migration {
  override async up (): Promise<void> {
    this.addSql(`create or replace function "stream_post_changed"() returns trigger language plpgsql as $$
begin
  perform pg_advisory_xact_lock_shared(${WRITER_LOCK});
  if tg_op = 'DELETE' then
    insert into stream_events (post_id, type) values (old.id, 'post.deleted');
    return null;
  end if;
  if tg_op = 'UPDATE' then
    if old.id <> new.id then insert into stream_events (post_id, type) values (old.id, 'post.deleted'); end if;
  end if;
  -- The post as committed, with its owner: none when it was deleted (or renumbered again) later
  -- in the same transaction (that change is the event).
  ${postEvents("case tg_op when 'INSERT' then 'post.created' else 'post.updated' end", 'p.id = new.id')};
  return null;
end $$;`)
    this.addSql(`create function "stream_owner_changed"() returns trigger language plpgsql as $$
begin
  perform pg_advisory_xact_lock_shared(${WRITER_LOCK});
  ${postEvents("'post.updated'", 'p.owner_id = new.id order by p.id')};
  return null;
end $$;`)
    // A new id for a user reaches its posts by the foreign key's cascade, and their own trigger.
    this.addSql(`create constraint trigger "users_stream_update" after update on "users" deferrable initially deferred for each row
  when (old.email is distinct from new.email or old.created_at is distinct from new.created_at) execute function stream_owner_changed();`)
  }

  override async down (): Promise<void> {
    this.addSql('drop trigger if exists "users_stream_update" on "users";')
    this.addSql('drop function if exists "stream_owner_changed"();')
    this.addSql(STREAM_POST_CHANGED_COLUMNS)
  }
}
