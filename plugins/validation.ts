import { Ajv, type Options, type SchemaValidateFunction, type ValidateFunction } from 'ajv'
import addFormats from 'ajv-formats'
import fp from 'fastify-plugin'
import { MAX_BYTES } from '../lib/schema-keywords.js'

// strictNumbers: Infinity (JSON's 1e400, or the text 'Infinity') is not a number, let alone an integer.
const shared: Options = { allErrors: true, useDefaults: true, removeAdditional: false, strict: false, strictNumbers: true, code: { esm: true } }

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

interface ObjectSchema { properties?: Record<string, { type?: unknown, items?: { type?: unknown } }> }
type Validator = ((data: unknown) => boolean) & { errors?: ValidateFunction['errors'] }

/** A decimal integer as pydantic reads one from text: a sign, digits, and zeros after a point ('2.0'). */
const DECIMAL_INTEGER = /^[+-]?\d+(\.0*)?$/

/** A text as an integer field's value: a decimal integer's number, else NaN (anything not text is left as it is). */
function readInteger (value: unknown): unknown {
  if (typeof value !== 'string') return value
  const text = value.trim()
  const number = DECIMAL_INTEGER.test(text) ? Number(text) : NaN
  return Number.isFinite(number) ? number : NaN
}

/**
 * Integer fields of text (paths, query strings) are read here rather than by Ajv's coercion,
 * which takes a blank text for 0 (in JavaScript ' ' == 0) and hex ('0x10'), exponent ('1e2')
 * or 'Infinity' forms for numbers. As pydantic does, the whitespace around an integer is
 * ignored; anything else that is not a decimal integer becomes NaN, which the schema then
 * refuses as not an integer.
 */
function readingIntegers (schema: ObjectSchema, validate: ValidateFunction): Validator {
  const fields = Object.entries(schema.properties ?? {})
  const integers = fields.filter(([, field]) => field.type === 'integer').map(([name]) => name)
  // Repeated parameters (`?post_id=1&post_id=2`): each item is read alike.
  const integerLists = fields.filter(([, field]) => field.type === 'array' && field.items?.type === 'integer').map(([name]) => name)
  if (integers.length === 0 && integerLists.length === 0) return validate
  const read: Validator = (data: unknown) => {
    if (data !== null && typeof data === 'object') {
      const values = data as Record<string, unknown>
      for (const name of integers) values[name] = readInteger(values[name])
      for (const name of integerLists) {
        const value = values[name]
        values[name] = Array.isArray(value) ? value.map(readInteger) : readInteger(value)
      }
    }
    const valid = validate(data)
    read.errors = validate.errors
    return valid
  }
  return read
}

// Made once per process: Ajv keeps what it compiled by schema object (the routes' schemas are
// module constants), so a process that builds the app again, as each test does, compiles each
// schema, and Ajv's meta-schema, once.
// verbose: a problem's message may need its schema (which fields a `minProperties` is about).
const forBody = createAjv({ coerceTypes: false, verbose: true })
const forText = createAjv({ coerceTypes: 'array' })

/**
 * Bodies are validated as sent (a number is not a string), as pydantic does; query strings,
 * paths and headers arrive as text and are coerced. Every problem is reported, not just the first.
 */
export default fp(async function validation (fastify) {
  fastify.setValidatorCompiler(({ schema, httpPart }) =>
    httpPart === 'body' ? forBody.compile(schema) : readingIntegers(schema as ObjectSchema, forText.compile(schema)))
}, { name: 'validation' })
