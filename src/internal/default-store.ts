import { misuse } from "../errors.js";
import type { Store } from "../types.js";

/*
 * The store `persistSession()` uses without a `store` option. Node's entry (index.ts) sets
 * FileStore; the Workers entry (workerd.ts) sets none, so that no module of it imports `node:fs`
 * and a missing `store` is refused when the middleware is made, not on the first request.
 */
let makeDefault: (() => Store) | undefined;

export function setDefaultStore(make: () => Store): void {
  makeDefault = make;
}

export function defaultStore(): Store {
  if (makeDefault) return makeDefault();
  throw misuse(
    'option `store` is required on this runtime, which has no file system for the default `FileStore`: on Cloudflare Workers pass `store: new DurableObjectStore(env.PERSIST)` from "hono-persist/cloudflare"',
  );
}
