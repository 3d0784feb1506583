import { statSync } from "node:fs";
import { join } from "node:path";
import { FileStore, type PersistInfo, persistInfo, type Store } from "../src/index.js";
import type { Flash } from "./flash.js";

/** Everything the debug panel shows about one persisted key in this request. */
export interface StateFacts extends PersistInfo {
  /** The class decorated with this key. */
  className: string;
  /** Whether the store keeps files at all. */
  fileStore: boolean;
  /** The state file, when the store is a FileStore and the state is stored. */
  file: { path: string; size: number; expires: Date } | undefined;
  /** Whether this request carried the state's cookie, valid or not (a user's state has none). */
  sent: boolean;
  /** What the response to the last form post did to this cookie. */
  lastResponse: { action: string; cookie: "issued" | "expired" } | undefined;
}

export function stateFacts(
  instance: object,
  store: Store,
  cookies: Record<string, string>,
  flash: Flash | undefined,
): StateFacts {
  const info = persistInfo(instance);
  const file =
    store instanceof FileStore && info.stored ? fileFacts(join(store.dir, info.id)) : undefined;
  // A user's state (scope "user") has no cookie.
  const name = info.cookieName;
  const cookie =
    name === undefined
      ? undefined
      : flash?.issued.includes(name)
        ? "issued"
        : flash?.expired.includes(name)
          ? "expired"
          : undefined;
  return {
    ...info,
    className: instance.constructor.name,
    fileStore: store instanceof FileStore,
    file,
    sent: name !== undefined && Object.hasOwn(cookies, name),
    lastResponse: flash && cookie && { action: flash.action, cookie },
  };
}

function fileFacts(path: string): StateFacts["file"] {
  try {
    const stat = statSync(path);
    // FileStore keeps each file's expiry deadline as its modification time.
    return { path, size: stat.size, expires: stat.mtime };
  } catch {
    // Cleared or swept between the load and this look.
    return undefined;
  }
}
