import { Migration } from '@mikro-orm/migrations'

export class Migration20261121112924_indexes extends Migration {
  override async up (): Promise<void> {
    // Hand-edited to `if not exists`, so that adopting a database that has some of them never fails.
    this.addSql('create unique index if not exists "users_email_lower_unique" on "users" (lower("email"));')

    this.addSql('create index if not exists "posts_created_at_id_index" on "posts" ("created_at" desc, "id" desc);')
    this.addSql('create index if not exists "posts_owner_id_index" on "posts" ("owner_id");')

    this.addSql('create index if not exists "votes_post_id_index" on "votes" ("post_id");')
  }

  override async down (): Promise<void> {
    this.addSql('drop index if exists "users_email_lower_unique";')

    this.addSql('drop index if exists "posts_created_at_id_index";')
    this.addSql('drop index if exists "posts_owner_id_index";')

    this.addSql('drop index if exists "votes_post_id_index";')
  }
}
