import { Ajv, type Options, type SchemaValidateFunction } from 'ajv'
import addFormats from 'ajv-formats'
import fp from 'fastify-plugin'

export const MAX_BYTES = 'x-max-bytes'

const shared: Options = { allErrors: true, useDefaults: true, removeAdditional: false, strict: false, code: { esm: true } }

const maxBytes: SchemaValidateFunction = function validateMaxBytes (limit: number, data: string) {
  const valid = Buffer.byteLength(data) <= limit
  maxBytes.errors = valid ? undefined : [{ keyword: MAX_BYTES, message: `must have at most ${limit} bytes`, params: { limit } }]
  return valid
}

function createAjv (options: Options): Ajv {
  const ajv = new Ajv({ ...shared, ...options })
  addFormats.default(ajv)
  // bcrypt reads at most 72 bytes; a longer password must be refused, not silently cut.
  ajv.addKeyword({ keyword: MAX_BYTES, type: 'string', schemaType: 'number', errors: true, validate: maxBytes })
  return ajv
}

/**
 * Bodies are validated as sent (a number is not a string), as pydantic does; query strings,
 * paths and headers arrive as text and are coerced. Every problem is reported, not just the first.
 */
export default fp(async function validation (fastify) {
  const forBody = createAjv({ coerceTypes: false })
  const forText = createAjv({ coerceTypes: 'array' })
  fastify.setValidatorCompiler(({ schema, httpPart }) =>
    (httpPart === 'body' ? forBody : forText).compile(schema))
}, { name: 'validation' })
