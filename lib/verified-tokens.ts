/**
 * Tokens whose signature and claims were verified, by their text, until they expire: a
 * repeat is answered by one map lookup, without hashing the token (as a keyed cache must),
 * decoding it or computing its HMAC. At most `max` are kept; the oldest goes first.
 */
export class VerifiedTokens<T extends { exp?: number }> {
  readonly #claims = new Map<string, T>()

  constructor (private readonly max: number) {}

  /** The claims of a token verified before and not yet expired (expired once `exp` is reached, as the verifier reads it). */
  get (token: string, nowMs = Date.now()): T | undefined {
    const claims = this.#claims.get(token)
    if (claims === undefined) return undefined
    if (claims.exp !== undefined && claims.exp * 1000 > nowMs) return claims
    this.#claims.delete(token)
    return undefined
  }

  set (token: string, claims: T): void {
    if (this.max <= 0) return
    if (this.#claims.size >= this.max) this.#claims.delete(this.#claims.keys().next().value!)
    this.#claims.set(token, claims)
  }
}
