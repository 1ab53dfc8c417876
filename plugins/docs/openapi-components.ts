type Schema = Record<string, unknown>
interface Operation {
  parameters?: { schema?: Schema }[]
  requestBody?: { content?: Record<string, { schema?: Schema }> }
  responses?: Record<string, { content?: Record<string, { schema?: Schema }>, headers?: Record<string, { schema?: Schema }> }>
}
interface Document {
  paths?: Record<string, Record<string, Operation>>
  components?: { schemas?: Record<string, Schema> }
}

const SUBSCHEMA = ['items', 'additionalProperties', 'not', 'if', 'then', 'else', 'contains', 'propertyNames']
const SUBSCHEMA_LISTS = ['prefixItems', 'allOf', 'anyOf', 'oneOf']
const SUBSCHEMA_MAPS = ['properties', 'patternProperties', '$defs']

/** JSON with sorted keys, so that two equal schemas give the same text whatever their key order. */
function canonical (value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`
  if (value === null || typeof value !== 'object') return JSON.stringify(value)
  return `{${Object.keys(value).sort().map(key => `${JSON.stringify(key)}:${canonical((value as Schema)[key])}`).join(',')}}`
}

/**
 * Moves every schema that has a `title` into `components.schemas` under that title, and
 * leaves a `$ref` to it where it was, so that tools (generated clients, ReDoc) show one named
 * type. Nested titled schemas are moved first, so a component refers to the ones inside it.
 * Two different schemas with one title throw: one name must mean one shape.
 */
export function hoistTitledSchemas<D extends object> (document: D): D {
  const doc = document as Document
  const components = ((doc.components ??= {}).schemas ??= {})
  const sources = new Map<string, string>()

  function hoist (node: unknown, where: string): unknown {
    if (node === null || typeof node !== 'object' || Array.isArray(node)) return node
    const schema = node as Schema
    for (const key of SUBSCHEMA) if (key in schema) schema[key] = hoist(schema[key], `${where}/${key}`)
    for (const key of SUBSCHEMA_LISTS) {
      if (Array.isArray(schema[key])) schema[key] = (schema[key] as unknown[]).map((item, index) => hoist(item, `${where}/${key}/${index}`))
    }
    for (const key of SUBSCHEMA_MAPS) {
      const map = schema[key] as Schema | undefined
      if (map && typeof map === 'object') for (const name of Object.keys(map)) map[name] = hoist(map[name], `${where}/${key}/${name}`)
    }
    const title = schema.title
    if (typeof title !== 'string') return schema
    if (!/^[A-Za-z0-9._-]+$/.test(title)) throw new Error(`The schema at ${where} is titled "${title}", which cannot name a component (letters, digits, ".", "_" and "-" only)`)
    const existing = components[title]
    if (existing === undefined) {
      components[title] = schema
      sources.set(title, where)
    } else if (canonical(existing) !== canonical(schema)) {
      throw new Error(`Two different schemas are titled "${title}": at ${sources.get(title) ?? `components/schemas/${title}`} and at ${where}`)
    }
    return { $ref: `#/components/schemas/${title}` }
  }

  for (const [path, item] of Object.entries(doc.paths ?? {})) {
    for (const [method, operation] of Object.entries(item)) {
      const at = `paths/${path}/${method}`
      for (const [index, parameter] of (operation.parameters ?? []).entries()) {
        if (parameter.schema) parameter.schema = hoist(parameter.schema, `${at}/parameters/${index}`) as Schema
      }
      for (const [type, media] of Object.entries(operation.requestBody?.content ?? {})) {
        if (media.schema) media.schema = hoist(media.schema, `${at}/requestBody/${type}`) as Schema
      }
      for (const [status, response] of Object.entries(operation.responses ?? {})) {
        for (const [type, media] of Object.entries(response.content ?? {})) {
          if (media.schema) media.schema = hoist(media.schema, `${at}/responses/${status}/${type}`) as Schema
        }
      }
    }
  }
  // In name order, as readers and generated code list them, whatever order the routes were added in.
  doc.components.schemas = Object.fromEntries(Object.entries(components).sort(([a], [b]) => a.localeCompare(b)))
  return document
}
