// What every entry exports: index.ts (Node, Bun, Deno) adds FileStore; workerd.ts does not.
export { isSessionId } from "./cookie.js";
export { PersistError, type PersistErrorCode } from "./errors.js";
export { persistSession } from "./middleware.js";
export { persist, persistInfo } from "./persist.js";
export { MemoryStore, type MemoryStoreOptions } from "./stores/memory.js";
export { toRaw } from "./tracking.js";
export type {
  CrossSite,
  EndSessionsOptions,
  PersistCookieOptions,
  PersistEvent,
  Persisted,
  PersistHooks,
  PersistInfo,
  PersistOptions,
  PersistSession,
  PersistSessionOptions,
  SessionInfo,
  Store,
} from "./types.js";
