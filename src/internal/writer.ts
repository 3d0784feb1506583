import { PersistError } from "../errors.js";
import { encodeRecord } from "../serialize.js";
import { forget, stored } from "./cache.js";
import { emit } from "./hooks.js";
import { type Live, storeFailure } from "./live.js";

// Records longer than this (UTF-16 units) go to the store a turn after their serialization.
const SPLIT_LENGTH = 16 * 1024;

const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

/** Whether a request ending with `live` must wait for `flush` before it answers. */
export function needsFlush(live: Live): boolean {
  return (
    live.dirty ||
    live.writing !== undefined ||
    live.failure !== undefined ||
    live.stage === "regenerating"
  );
}

/**
 * Writes what changed, and returns once it is in the store (or throws why not). Flushes that
 * arrive while a write waits for its turn are carried by that write (group commit): the
 * requests of a browser that finish in one turn of the event loop cost one write.
 */
export async function flush(live: Live): Promise<void> {
  for (;;) {
    if (live.failure) throw live.failure;
    if (live.writing) {
      await live.writing;
      continue;
    }
    if (live.stage === "regenerating") {
      await live.moved;
      continue;
    }
    // Ended, or a request took over a background write's change (it writes it itself).
    if (!writable(live) || !live.dirty) return;
    live.writing = write(live);
    try {
      await live.writing;
    } finally {
      live.writing = undefined;
    }
  }
}

/** Waits for the write in flight, if any, whatever its outcome. */
export async function settled(live: Live): Promise<void> {
  while (live.writing) await live.writing.catch(() => undefined);
}

async function write(live: Live): Promise<void> {
  const { config, info } = live;
  await nextTurn();
  // Moving to a new id: the move writes the change there (flush waits for it).
  if (!writable(live)) return;
  live.dirty = false;
  if (!live.raw) return;
  // A snapshot taken while serializing would be of the state being written.
  if (live.tracker) live.tracker.beforeUnseen = undefined;
  // When the store's write began, for hooks.
  let start: number | undefined;
  try {
    const now = Date.now();
    const absent = live.constructed.filter(
      (name) => !Object.hasOwn(live.raw as object, name) && !info.exclude.has(name),
    );
    let encoded: { data: string; state: string };
    live.serializing = true;
    try {
      encoded = encodeRecord(info.json, live.raw, info, {
        version: info.version,
        created: live.created,
        saved: now,
        ...(absent.length > 0 && { absent }),
      });
    } catch (error) {
      // The class's own code run while serializing (a getter) threw: a state that cannot be
      // stored, failed as such, so that the request and hook `failed` get one PersistError.
      if (error instanceof PersistError) throw error;
      throw new PersistError(
        "UNSERIALIZABLE",
        `state "${info.key}" cannot be serialized: ${error instanceof Error ? error.message : String(error)}`,
        { cause: error },
      );
    } finally {
      live.serializing = false;
    }
    const { data, state } = encoded;
    const unchanged =
      live.saved === undefined
        ? state === live.pristine && live.tracker?.pending === 0
        : state === live.saved && live.savedVersion === info.version;
    if (unchanged) return;
    // UTF-8 takes at most 3 bytes per UTF-16 unit: most states need no byte count at all.
    const size = data.length * 3 <= config.maxBytes ? 0 : Buffer.byteLength(data);
    if (size > config.maxBytes) {
      throw new PersistError(
        "STATE_TOO_LARGE",
        `state "${info.key}" is ${size} bytes, over \`maxBytes\` (${config.maxBytes}); it was not saved`,
      );
    }
    // A user's state has no cookie, so no cookie's lifetime (`maxAge`) to outlive.
    const ttl =
      live.user !== undefined
        ? config.idleTimeout
        : Math.max(
            1,
            Math.min(config.idleTimeout, (live.created + config.maxAge * 1000 - now) / 1000),
          );
    if (data.length > SPLIT_LENGTH) {
      // Serialized in this turn of the event loop, handed to the store in the next: other
      // requests are served in between, and the store's own work on a large record (a copy to
      // its writer thread, an encoding) does not lengthen the serialization's stretch (bench/ W4).
      await nextTurn();
      if (!writable(live)) {
        live.dirty = true;
        return;
      }
    }
    if (live.hooks) start = performance.now();
    try {
      await config.store.set(live.id, data, ttl);
    } catch (error) {
      throw storeFailure(live, "save", error);
    }
    // A state that was never written has no `savedAt` (regenerate() keeps it: not created).
    if (live.hooks) emit(live, live.savedAt === undefined ? "created" : "saved", start, data);
    live.saved = state;
    live.pristine = undefined;
    live.savedVersion = info.version;
    live.savedAt = now;
    stored(live, data);
  } catch (error) {
    const failure = error instanceof Error ? error : new Error(String(error));
    if (live.hooks && failure instanceof PersistError) {
      emit(live, "failed", start, undefined, { operation: "save", error: failure });
    }
    if (live.stage === "loading") {
      // A background write failed while a request waits to take the state over: that request
      // loads the last good state, not this instance's unsaved change.
      live.detach();
      throw failure;
    }
    // The next request reloads the last good state instead of building on what was not saved.
    live.failure = failure;
    if (!live.ended) live.moveTo("failed");
    forget(live);
    live.releaseLock();
    throw live.failure;
  }
}

function writable(live: Live): boolean {
  return live.stage === "active" || live.stage === "saving";
}
