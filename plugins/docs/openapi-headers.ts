interface Header { required?: boolean, schema?: Record<string, unknown> }
interface Document {
  paths?: Record<string, Record<string, { responses?: Record<string, { headers?: Record<string, Header> }> }>>
}

/**
 * A route schema's response header is written `{ type, description, required }`, and
 * @fastify/swagger puts all but the description into the header's schema. `required`
 * belongs to the header itself (OpenAPI's Header Object): an always-sent header says so,
 * one sent only sometimes (`Link` on a full page) does not.
 */
export function liftHeaderRequired<D extends object> (document: D): D {
  for (const item of Object.values((document as Document).paths ?? {})) {
    for (const operation of Object.values(item)) {
      for (const response of Object.values(operation.responses ?? {})) {
        for (const header of Object.values(response.headers ?? {})) {
          if (header.schema && 'required' in header.schema) {
            header.required = header.schema.required === true
            delete header.schema.required
          }
        }
      }
    }
  }
  return document
}
