type Schema = Record<string, unknown>
interface MediaType { schema?: Schema, example?: unknown, examples?: unknown }
interface Operation {
  requestBody?: { content?: Record<string, MediaType> }
  responses?: Record<string, { content?: Record<string, MediaType> }>
}

function resolve (document: Schema, schema: Schema): Schema {
  const ref = schema.$ref
  if (typeof ref !== 'string' || !ref.startsWith('#/')) return schema
  const target = ref.slice(2).split('/').reduce<unknown>((node, key) => (node as Schema | undefined)?.[key.replace(/~1/g, '/').replace(/~0/g, '~')], document)
  return resolve(document, target as Schema)
}

/**
 * A value of `schema` made of its fields' own examples (or defaults): a body as a client
 * would send or get it. A field with neither is left out, so a test can find it.
 */
export function exampleOf (document: Schema, node: Schema): unknown {
  const schema = resolve(document, node)
  if (Array.isArray(schema.examples) && schema.examples.length > 0) return schema.examples[0]
  if ('example' in schema) return schema.example
  if ('const' in schema) return schema.const
  if ('default' in schema) return schema.default
  if (Array.isArray(schema.enum)) return schema.enum[0]
  const variants = (schema.anyOf ?? schema.oneOf) as Schema[] | undefined
  if (variants?.[0]) return exampleOf(document, variants[0])
  if (schema.type === 'array' && schema.items) {
    const item = exampleOf(document, schema.items as Schema)
    return item === undefined ? [] : [item]
  }
  if (schema.type === 'object' && schema.properties) {
    const example: Record<string, unknown> = {}
    for (const [name, property] of Object.entries(schema.properties as Record<string, Schema>)) {
      const value = exampleOf(document, property)
      if (value !== undefined) example[name] = value
    }
    return example
  }
  return undefined
}

/** Gives every request and response body in the OpenAPI document an example, built from its schema's field examples. */
export function addExamples<D extends object> (document: D): D {
  const paths = (document as { paths?: Record<string, Record<string, Operation>> }).paths ?? {}
  for (const item of Object.values(paths)) {
    for (const operation of Object.values(item)) {
      const bodies = [operation.requestBody?.content, ...Object.values(operation.responses ?? {}).map(response => response.content)]
      for (const media of bodies.flatMap(content => Object.values(content ?? {}))) {
        if (media.schema && media.example === undefined && media.examples === undefined) {
          media.example = exampleOf(document as Schema, media.schema)
        }
      }
    }
  }
  return document
}
