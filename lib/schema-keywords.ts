// Shared by the schemas that use them, the validator that checks them and the 422s that explain them.

/** Text that PostgreSQL can store: anything but the NUL character. */
export const NO_NUL_PATTERN = '^[^\\u0000]*$'

/** A string keyword: at most this many UTF-8 bytes (bcrypt reads no more of a password). */
export const MAX_BYTES = 'x-max-bytes'
