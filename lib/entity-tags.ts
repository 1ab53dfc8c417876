import { hash } from 'node:crypto'

/** A strong entity tag for a representation: 128 bits of its bytes' SHA-256, quoted (one-shot: no Hash object per answer). */
export const entityTag = (body: string): string => `"${hash('sha256', body, 'base64url').slice(0, 22)}"`

/**
 * Whether an If-None-Match or If-Match field (`*`, or a list of tags) names `tag`. If-None-Match
 * compares weakly (a `W/` tag matches its strong twin), If-Match strongly (a weak tag never
 * matches), as RFC 9110 says.
 */
export function namesTag (field: string, tag: string, comparison: 'weak' | 'strong'): boolean {
  if (field.trim() === '*') return true
  for (const listed of field.split(',')) {
    const candidate = listed.trim()
    if (candidate === tag) return true
    if (comparison === 'weak' && candidate.startsWith('W/') && candidate.slice(2) === tag) return true
  }
  return false
}
