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
