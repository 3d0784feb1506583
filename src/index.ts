// Node's entry (Bun's and Deno's too): FileStore is the default store. The Workers entry,
// workerd.ts, exports the same but FileStore, and sets no default.
import "./internal/file-default.js";

export * from "./portable.js";
export { FileStore, type FileStoreOptions } from "./stores/file.js";
