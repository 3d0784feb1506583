// Node's entry (Bun's and Deno's too): FileStore is the default store. The Workers entry,
// workerd.ts, exports the same but FileStore, and sets no default.
import "./internal/file-default.js";

export { isSessionId } from "./cookie.js";
export { PersistError, type PersistErrorCode } from "./errors.js";
export { persistSession } from "./middleware.js";
export { persist, persistInfo } from "./persist.js";
export { FileStore, type FileStoreOptions } from "./stores/file.js";
export { MemoryStore, type MemoryStoreOptions } from "./stores/memory.js";
export { toRaw } from "./tracking.js";
export type {
  CrossSite,
  PersistCookieOptions,
  Persisted,
  PersistInfo,
  PersistOptions,
  PersistSessionOptions,
  Store,
} from "./types.js";
