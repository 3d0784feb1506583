/** What went wrong, for code that wants to react to one failure and not another. */
export type PersistErrorCode =
  /** The store could not read, write or delete (disk full, read-only, Redis down …). */
  | "STORE_FAILED"
  /**
   * The store's directory cannot be created or written to, or is not safe to use: a symlink, or
   * owned by another user.
   */
  | "STORE_DIR"
  /** Another process held the state's lock for longer than the `lock` timeout. */
  | "LOCK_TIMEOUT"
  /** The serialized state is larger than `maxBytes`; it was not saved. */
  | "STATE_TOO_LARGE"
  /** The state cannot be serialized (a value superjson does not know). */
  | "UNSERIALIZABLE"
  /**
   * A stored state is unreadable or must not be read: not ours, torn, malformed, not a regular
   * file, owned by another user, or larger than any file holding a state of `maxBytes`.
   */
  | "INVALID_STATE";

/**
 * The one error class hono-persist throws at run time. Misuse of the API throws `TypeError`
 * instead, and bad client input (cookies) is never an error.
 */
export class PersistError extends Error {
  override readonly name = "PersistError";
  readonly code: PersistErrorCode;

  constructor(code: PersistErrorCode, message: string, options?: { cause?: unknown }) {
    super(`[hono-persist] ${message}`, options);
    this.code = code;
  }
}

/** The prefix every `TypeError` for misuse carries. */
export function misuse(message: string): TypeError {
  return new TypeError(`[hono-persist] ${message}`);
}
