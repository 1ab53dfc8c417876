import { Type, type Static } from 'typebox'

export const ReplicaStatusSchema = Type.Object({
  name: Type.String({ description: 'host:port/database (no credentials)', examples: ['10.0.0.12:5432/postline'] }),
  state: Type.Union([Type.Literal('starting'), Type.Literal('up'), Type.Literal('lagging'), Type.Literal('down')], {
    examples: ['up'],
    description: '`up` serves reads; `lagging` trails the primary by more than DATABASE_READ_MAX_LAG and `down` does not answer: reads skip both'
  }),
  lag_ms: Type.Optional(Type.Integer({ description: 'How far it trails the primary, in milliseconds', examples: [120] }))
}, { title: 'ReplicaStatus' })

export const CacheStatusSchema = Type.Object({
  serving: Type.Boolean({ examples: [true], description: 'Whether reads are answered from memory now: false until the change feed (started by the first read the cache could answer) is connected and read to the end, and while its connection is down' }),
  hits: Type.Integer({ examples: [91234], description: 'Reads answered from memory since the process started' }),
  unchecked: Type.Integer({ examples: [80112], description: 'Of the hits, those answered under load without waiting for a check of their own (README, "The read cache")' }),
  misses: Type.Integer({ examples: [812], description: 'Cacheable reads that asked the database while the cache served' }),
  entries: Type.Integer({ examples: [640], description: 'Posts and feed pages held' }),
  bytes: Type.Integer({ examples: [1048576], description: 'The memory they are reckoned to take' }),
  max_bytes: Type.Integer({ examples: [67108864], description: 'CACHE_MAX_MB, in bytes' })
}, { title: 'CacheStatus', description: 'This process\'s read cache (CACHE_MAX_MB above 0)' })

export const ReadySchema = Type.Object({
  status: Type.Literal('ready'),
  databases: Type.Optional(Type.Object({
    primary: Type.Literal('up'),
    replicas: Type.Array(ReplicaStatusSchema)
  }, { description: 'With DATABASE_READ_URLS only: each database\'s state' })),
  cache: Type.Optional(CacheStatusSchema)
}, { title: 'ReadyStatus', description: 'The primary database answers' })

export type ReplicaStatus = Static<typeof ReplicaStatusSchema>
export type ReplicaState = ReplicaStatus['state']
export type CacheStatus = Static<typeof CacheStatusSchema>
