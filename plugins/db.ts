import { MikroORM, type EntityManager } from '@mikro-orm/postgresql'
import fp from 'fastify-plugin'
import { resolveDatabase } from '../lib/database.js'
import { migrate } from '../lib/migrate.js'
import { createOrmConfig } from '../lib/orm-config.js'
import type { AppOptions } from './config.js'

declare module 'fastify' {
  interface FastifyInstance {
    orm: MikroORM
  }
  interface FastifyRequest {
    /** This request's own fork of the EntityManager. */
    em: EntityManager
  }
}

/** MikroORM on PostgreSQL (embedded when none is configured), with an EntityManager forked per request. */
export default fp<AppOptions>(async function db (fastify, opts) {
  const { config, log } = fastify
  const database = await resolveDatabase(config, message => log.info(message))
  let orm: MikroORM
  try {
    orm = await MikroORM.init(createOrmConfig(database.url, { poolSize: config.DATABASE_POOL_SIZE, logger: message => log.debug(message) }))
    if (opts.migrate) {
      const applied = await migrate(orm, database.url)
      if (applied.length) log.info({ migrations: applied }, 'applied database migrations')
    }
  } catch (err) {
    await database.stop?.()
    throw err
  }

  fastify.decorate('orm', orm)
  fastify.decorateRequest('em', null as unknown as EntityManager)
  fastify.addHook('onRequest', async (request) => {
    request.em = orm.em.fork()
  })
  fastify.addHook('onClose', async () => {
    await orm.close()
    await database.stop?.()
  })
}, { name: 'db', dependencies: ['config'] })
