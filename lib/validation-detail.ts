import type { FastifySchemaValidationError } from 'fastify'
import { MAX_BYTES, NO_NUL_PATTERN } from './schema-keywords.js'

export interface ValidationDetail {
  loc: (string | number)[]
  msg: string
  type: string
}

const LOCATIONS: Record<string, string> = { body: 'body', querystring: 'query', params: 'path', headers: 'header' }

const TYPE_NAMES: Record<string, [type: string, msg: string]> = {
  integer: ['int_parsing', 'Input should be a valid integer'],
  number: ['float_parsing', 'Input should be a valid number'],
  string: ['string_type', 'Input should be a valid string'],
  boolean: ['bool_type', 'Input should be a valid boolean'],
  object: ['model_attributes_type', 'Input should be a valid dictionary or object'],
  array: ['list_type', 'Input should be a valid list']
}

const listed = (names: string[]) => names.length > 1 ? `${names.slice(0, -1).join(', ')} and ${names.at(-1)}` : names.join('')

/** The problem with a body that has none of the fields that may be changed. */
export const atLeastOneOf = (names: string[]) => `At least one of ${listed(names)} must be given`

function describe (error: FastifySchemaValidationError): [type: string, msg: string] {
  const params = error.params as Record<string, unknown>
  switch (error.keyword) {
    case 'required': return ['missing', 'Field required']
    case 'type': return TYPE_NAMES[String(params.type)] ?? ['type_error', `Input should be of type ${String(params.type)}`]
    case 'minLength': return ['string_too_short', `String should have at least ${params.limit} character${params.limit === 1 ? '' : 's'}`]
    case 'maxLength': return ['string_too_long', `String should have at most ${params.limit} characters`]
    case MAX_BYTES: return ['string_too_long', `String should have at most ${params.limit} bytes`]
    case 'pattern': return params.pattern === NO_NUL_PATTERN
      ? ['string_pattern_mismatch', 'String should not contain the NUL character']
      : ['string_pattern_mismatch', `String should match pattern '${params.pattern}'`]
    case 'minimum': return ['greater_than_equal', `Input should be greater than or equal to ${params.limit}`]
    case 'maximum': return ['less_than_equal', `Input should be less than or equal to ${params.limit}`]
    case 'minProperties': {
      // The schema comes with the error when its validator is verbose (request bodies).
      const names = Object.keys((error as { parentSchema?: { properties?: object } }).parentSchema?.properties ?? {})
      return ['missing', names.length > 0 ? atLeastOneOf(names) : 'At least one field must be given']
    }
    case 'format': return params.format === 'email'
      ? ['value_error', 'value is not a valid email address']
      : ['value_error', `Input should be a valid ${params.format}`]
    case 'enum': return ['enum', `Input should be ${(params.allowedValues as unknown[]).map(v => JSON.stringify(v)).join(' or ')}`]
    default: return ['value_error', error.message ?? 'Invalid value']
  }
}

/** Turns Ajv's errors into FastAPI's `detail` list: where (`loc`), what (`msg`) and a machine-readable `type`. */
export function toValidationDetail (errors: FastifySchemaValidationError[], context: string): ValidationDetail[] {
  // An `enum` that lists what a field's type and bounds already allow (`dir`: 0 or 1) restates
  // their problem: it is reported only when it is the field's only one.
  const restated = (error: FastifySchemaValidationError) => error.keyword === 'enum' &&
    errors.some(other => other !== error && other.instancePath === error.instancePath && other.keyword !== 'enum')
  return errors.filter(error => !restated(error)).map(error => {
    const loc: (string | number)[] = [LOCATIONS[context] ?? context]
    for (const segment of error.instancePath.split('/').slice(1)) {
      const key = segment.replace(/~1/g, '/').replace(/~0/g, '~')
      loc.push(/^\d+$/.test(key) ? Number(key) : key)
    }
    const missing = (error.params as { missingProperty?: string }).missingProperty
    if (error.keyword === 'required' && missing) loc.push(missing)
    const [type, msg] = describe(error)
    return { loc, msg, type }
  })
}

export const missingBody: ValidationDetail[] = [{ loc: ['body'], msg: 'Field required', type: 'missing' }]
export const invalidJson: ValidationDetail[] = [{ loc: ['body'], msg: 'JSON decode error', type: 'json_invalid' }]
