import { Type, type Static } from 'typebox'

export const ReplicaStatusSchema = Type.Object({
  name: Type.String({ description: 'host:port/database (no credentials)', examples: ['10.0.0.12:5432/postline'] }),
  state: Type.Union([Type.Literal('starting'), Type.Literal('up'), Type.Literal('lagging'), Type.Literal('down')], {
    examples: ['up'],
    description: '`up` serves reads; `lagging` trails the primary by more than DATABASE_READ_MAX_LAG and `down` does not answer: reads skip both'
  }),
  lag_ms: Type.Optional(Type.Integer({ description: 'How far it trails the primary, in milliseconds', examples: [120] }))
}, { title: 'ReplicaStatus' })

export const ReadySchema = Type.Object({
  status: Type.Literal('ready'),
  databases: Type.Optional(Type.Object({
    primary: Type.Literal('up'),
    replicas: Type.Array(ReplicaStatusSchema)
  }, { description: 'With DATABASE_READ_URLS only: each database\'s state' }))
}, { title: 'ReadyStatus', description: 'The primary database answers' })

export type ReplicaStatus = Static<typeof ReplicaStatusSchema>
export type ReplicaState = ReplicaStatus['state']
