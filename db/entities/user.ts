import { defineEntity, p } from '@mikro-orm/core'

export const User = defineEntity({
  name: 'User',
  tableName: 'users',
  // Emails are compared without regard to letter case.
  uniques: [{ name: 'users_email_lower_unique', expression: 'create unique index "users_email_lower_unique" on "users" (lower("email"))' }],
  properties: {
    id: p.integer().primary().autoincrement(),
    email: p.string().columnType('varchar').unique(),
    password: p.string().columnType('varchar').lazy().hidden(),
    createdAt: p.datetime().columnType('timestamptz').defaultRaw('now()'),
    phoneNumber: p.string().columnType('varchar').nullable()
  }
})
