import type { Store } from "../types.js";

/**
 * A store's `get` that answers at once when it can: a value, not a promise. Most requests of
 * a browser whose state is cached only check that the store still holds it; for the stores
 * that answer from memory or a synchronous `lstat`, that check then costs no promise (each
 * costs a few µs per request: bench/ W1). Other stores are read through `get`.
 */
export const readNow = Symbol("hono-persist.readNow");

interface ReadsNow {
  [readNow](
    id: string,
    ttl: number,
    maxBytes: number,
  ): string | undefined | Promise<string | undefined>;
}

/**
 * `store.get(id, ttl)`, answered at once when the store can. `maxBytes` lets it refuse an entry
 * too large to hold such a state without reading it.
 */
export function read(
  store: Store,
  id: string,
  ttl: number,
  maxBytes: number,
): string | undefined | Promise<string | undefined> {
  const now = (store as Partial<ReadsNow>)[readNow];
  return now ? now.call(store, id, ttl, maxBytes) : store.get(id, ttl);
}
