import fastJsonStringify from 'fast-json-stringify'
import fp from 'fastify-plugin'

/** Each response schema's serializer, by schema object (the routes' schemas are module constants). */
const compiled = new WeakMap<object, (data: unknown) => string>()

/**
 * Responses serialized as Fastify's default serializes them (fast-json-stringify, with no shared
 * schemas), each schema compiled once per process: a process that builds the app again, as each
 * test does, reuses what the first build compiled.
 */
export default fp(async function serialization (fastify) {
  fastify.setSerializerCompiler(({ schema }) => {
    let serialize = compiled.get(schema)
    if (serialize === undefined) compiled.set(schema, serialize = fastJsonStringify(schema))
    return serialize
  })
}, { name: 'serialization' })
