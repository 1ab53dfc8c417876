/**
 * A map that holds at most `maxBytes` of values (by the size each was stored with), dropping
 * the least recently used first. Map keeps insertion order: a hit is moved to the end.
 */
export class SizedLru<K, V> {
  readonly #entries = new Map<K, { value: V, bytes: number }>()
  #bytes = 0

  constructor (readonly maxBytes: number) {}

  get size (): number { return this.#entries.size }
  get bytes (): number { return this.#bytes }

  get (key: K): V | undefined {
    const entry = this.#entries.get(key)
    if (entry === undefined) return undefined
    this.#entries.delete(key)
    this.#entries.set(key, entry)
    return entry.value
  }

  /** Looks without making the entry recent. */
  peek (key: K): V | undefined {
    return this.#entries.get(key)?.value
  }

  set (key: K, value: V, bytes: number): void {
    this.delete(key)
    if (bytes > this.maxBytes) return
    this.#entries.set(key, { value, bytes })
    this.#bytes += bytes
    for (const [oldest, entry] of this.#entries) {
      if (this.#bytes <= this.maxBytes) break
      this.#entries.delete(oldest)
      this.#bytes -= entry.bytes
    }
  }

  delete (key: K): void {
    const entry = this.#entries.get(key)
    if (entry === undefined) return
    this.#entries.delete(key)
    this.#bytes -= entry.bytes
  }

  /** Drops each entry `drop` says to. */
  deleteWhere (drop: (value: V, key: K) => boolean): void {
    for (const [key, entry] of this.#entries) {
      if (drop(entry.value, key)) {
        this.#entries.delete(key)
        this.#bytes -= entry.bytes
      }
    }
  }

  * values (): Generator<V> {
    for (const entry of this.#entries.values()) yield entry.value
  }

  clear (): void {
    this.#entries.clear()
    this.#bytes = 0
  }
}
