import { Migration } from '@mikro-orm/migrations'

export class Migration20261121112919_initial extends Migration {
  override async up (): Promise<void> {
    // Hand-added: a database made by the course's Alembic migrations already has these
    // tables; it is adopted in place (data untouched) and only later migrations apply.
    const [existing] = await this.execute('select to_regclass(\'users\') is not null as adopted')
    if (existing?.adopted) {
      this.addSql('alter table "users" add column if not exists "phone_number" varchar null;')
      return
    }

    this.addSql('create table "users" ("id" serial primary key, "email" varchar not null, "password" varchar not null, "created_at" timestamptz not null default now(), "phone_number" varchar null);')
    this.addSql('alter table "users" add constraint "users_email_unique" unique ("email");')

    this.addSql('create table "posts" ("id" serial primary key, "title" varchar not null, "content" varchar not null, "published" boolean not null default true, "created_at" timestamptz not null default now(), "owner_id" int not null);')

    this.addSql('create table "votes" ("user_id" int not null, "post_id" int not null, constraint "votes_pkey" primary key ("user_id", "post_id"));')

    this.addSql('alter table "posts" add constraint "posts_owner_id_foreign" foreign key ("owner_id") references "users" ("id") on update cascade on delete cascade;')

    this.addSql('alter table "votes" add constraint "votes_user_id_foreign" foreign key ("user_id") references "users" ("id") on update cascade on delete cascade;')
    this.addSql('alter table "votes" add constraint "votes_post_id_foreign" foreign key ("post_id") references "posts" ("id") on update cascade on delete cascade;')
  }

  override async down (): Promise<void> {
    this.addSql('drop table if exists "votes" cascade;')
    this.addSql('drop table if exists "posts" cascade;')
    this.addSql('drop table if exists "users" cascade;')
  }
}
