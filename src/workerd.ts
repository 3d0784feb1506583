// The entry for runtimes without a file system, chosen by the `workerd` and `worker` export
// conditions (Cloudflare Workers through wrangler or its Vite plugin): index.ts without
// FileStore, whose `node:fs` and `worker_threads` these runtimes lack. `persistSession()`
// needs a `store` here.
import { misuse } from "./errors.js";

// Workers give `setImmediate` and `Buffer`, which the middleware uses, only with
// `nodejs_compat` from compatibility date 2024-09-23; without them a request would fail
// midway. (Without `nodejs_compat` at all, the Worker does not even link: `node:async_hooks`.)
if (typeof setImmediate !== "function" || typeof Buffer !== "function") {
  throw misuse(
    'this runtime lacks `setImmediate` and `Buffer`: enable `nodejs_compat` in wrangler.toml (compatibility_flags = ["nodejs_compat"]) with a compatibility_date of 2024-09-23 or later',
  );
}

export * from "./portable.js";
