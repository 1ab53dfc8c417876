/**
 * PostgreSQL prints timestamptz as `2026-11-21 10:23:00.123456+00`; clients expect RFC 3339
 * (`2026-11-21T10:23:00.123456+00:00`), microseconds kept.
 */
export function toRfc3339 (value: string | Date): string {
  if (value instanceof Date) return value.toISOString()
  return value.replace(' ', 'T').replace(/([+-]\d\d)$/, '$1:00')
}
