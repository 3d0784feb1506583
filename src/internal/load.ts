import { PersistError } from "../errors.js";
import { decodeEnvelope, decodeState } from "../serialize.js";
import { savedNow } from "./background.js";
import { forget, remember, stored } from "./cache.js";
import { emit } from "./hooks.js";
import { FOUND, joinable, Live, storeFailure } from "./live.js";
import { read } from "./read-now.js";
import type { ClassInfo } from "./registry.js";
import type { Config } from "./scope.js";
import { formerIds } from "./user.js";

/**
 * The Live of stored state `id`, shared with concurrent requests, or `undefined` when nothing
 * usable is stored (absent, expired, unreadable, retired: the browser then starts fresh). A
 * value, not a promise, when nothing had to be waited for. `cacheKey` is `cacheKeyOf(info, id)`,
 * made once by the caller for a header it remembers. With `user` (a user's state, user.ts),
 * nothing stored gives a fresh Live under `id`, still locked: every device knows the id.
 */
export function acquire(
  config: Config,
  info: ClassInfo,
  id: string,
  cacheKey: string,
  user?: string,
): Live | undefined | Promise<Live | undefined> {
  // Cleared or regenerated, its entry not yet deleted: nothing may load it meanwhile.
  if (config.retired.size > 0 && config.retired.has(cacheKey)) return undefined;
  let live = config.lives.get(cacheKey);
  const use = live === undefined ? "no" : joinable(live, info);
  if (live !== undefined && use === "save") {
    return savedNow(live).then(() => acquire(config, info, id, cacheKey));
  }
  if (live === undefined || use === "no") {
    live = new Live(config, info, id, "loading", user);
    remember(live);
    if (!startLoad(live)) return undefined;
  } else if (use === "join") {
    live.hooks = config.hooks;
  } else if (use === "reload") {
    live.hooks = config.hooks;
    // The first request of this browser in this process (now): check that the cached instance
    // is still what the store holds. Later concurrent requests share that check.
    live.moveTo("loading");
    if (!startLoad(live)) return undefined;
  }
  live.refs++;
  return live.stage === "active" ? live : joinLoad(live);
}

/** Reads the store for `live` (now `loading`); false when it already ended up `gone`. */
function startLoad(live: Live): boolean {
  let found: boolean | Promise<boolean>;
  try {
    // After a background write of the instance, if one runs.
    found = live.background ? live.background.then(() => lockAndLoad(live)) : lockAndLoad(live);
  } catch (error) {
    ended(live);
    throw error;
  }
  if (found instanceof Promise) {
    live.ready = found.then(
      (value) => {
        // Cleared meanwhile (through an instance kept from an ended request): not under this id.
        if ((value || startsFresh(live)) && live.stage === "loading") live.moveTo("active");
        else ended(live);
        return value;
      },
      (error: unknown) => {
        ended(live);
        throw error;
      },
    );
    return true;
  }
  // The store answered at once (a cached state checked, most often).
  live.ready = FOUND;
  if (found || startsFresh(live)) live.moveTo("active");
  else ended(live);
  return live.stage === "active";
}

/**
 * A user's state never stored: it starts fresh under its id, keeping the lock. (One cached
 * with an entry gone since ends: its instance is of the old state, and a new Live starts.)
 */
function startsFresh(live: Live): boolean {
  return live.user !== undefined && live.data === undefined;
}

/** Nothing usable was stored, or the store failed: the next request starts over. */
function ended(live: Live): void {
  if (live.stage === "loading") {
    live.moveTo("gone");
    forget(live);
  }
  live.releaseLock();
}

async function joinLoad(live: Live): Promise<Live | undefined> {
  try {
    await live.ready;
  } catch (error) {
    live.refs--;
    throw error;
  }
  // Regenerated or cleared by the first request before this one got it: not under this id.
  if (live.stage === "active") return live;
  live.refs--;
  return undefined;
}

/** Takes the state's lock (option `lock`), then loads it; the lock goes with a state not found. */
function lockAndLoad(live: Live): boolean | Promise<boolean> {
  const { lock, store } = live.config;
  return lock !== undefined && store.lock ? lockedLoad(live, lock) : load(live);
}

async function lockedLoad(live: Live, timeout: number): Promise<boolean> {
  const start = live.hooks ? performance.now() : undefined;
  try {
    live.unlock = await live.config.store.lock?.(live.id, timeout);
  } catch (error) {
    // The request fails with the PersistError the hook gets (a store's own error is its cause).
    throw failed(live, start, storeFailure(live, "lock", error));
  }
  return load(live);
}

/** Whether stored state was found (and is now what the next `new` builds); at once when the store reads at once. */
function load(live: Live): boolean | Promise<boolean> {
  const { config, id } = live;
  const start = live.hooks ? performance.now() : undefined;
  let data: string | undefined | Promise<string | undefined>;
  try {
    data = read(config.store, id, config.idleTimeout, config.maxBytes);
  } catch (error) {
    return loadFailed(live, error, start);
  }
  if (data === undefined || typeof data === "string") return loaded(live, data, start);
  // Any thenable (another realm's promise, a library's) is made one of ours, which acquire()
  // tells apart from an answer.
  return Promise.resolve(data).then(
    (value) => loaded(live, value, start),
    (error: unknown) => loadFailed(live, error, start),
  );
}

/** `start`: when the read began, for hooks (undefined without them). */
function loaded(
  live: Live,
  data: string | undefined,
  start: number | undefined,
): boolean | Promise<boolean> {
  const { config, info, id } = live;
  try {
    if (data === undefined) {
      const former = formerIds(live);
      if (former.length > 0 && live.data === undefined) return adopt(live, former, start);
      // A user with no state yet: nothing expired.
      if (live.hooks && !startsFresh(live)) emit(live, "expired", start);
      return false;
    }
    // A user's state has no cookie, so no cookie's lifetime: only `idleTimeout` ends it.
    const maxAge = live.user === undefined ? config.maxAge * 1000 : Number.POSITIVE_INFINITY;
    if (live.raw && data === live.data) {
      if (live.created + maxAge <= Date.now()) return drop(live, start, data);
      if (live.hooks) emit(live, "loaded", start, data);
      return true;
    }
    if (live.dirty) {
      config.logger.error(
        `[hono-persist] a change to "${info.key}" ${id} made after its request ended was not saved: the stored state was changed since`,
      );
      live.dirty = false;
    }
    const size = data.length * 3 <= config.maxBytes ? 0 : Buffer.byteLength(data);
    if (size > config.maxBytes) {
      throw new PersistError(
        "INVALID_STATE",
        `stored state is ${size} bytes, over \`maxBytes\` (${config.maxBytes})`,
      );
    }
    const envelope = decodeEnvelope(info.key, data);
    // Another key's state: its cookie came under this key's name (a legacy cookie, signed
    // without its key). Nothing to load, and nothing corrupt to quarantine: it is not ours.
    if (!envelope) return false;
    if (envelope.created + maxAge <= Date.now()) return drop(live, start, data);
    let fields = decodeState(info.json, envelope.state);
    const migrated = envelope.version !== info.version;
    if (migrated) {
      const upgraded = migrateFields(live, fields, envelope.version);
      if (!upgraded) return drop(live, start);
      fields = upgraded;
    }
    // A clock stepped back (or another host's) must not make the lifetime outlast `maxAge`.
    live.created = Math.min(envelope.created, Date.now());
    live.saved = envelope.state;
    live.savedVersion = envelope.version;
    live.savedAt = envelope.saved;
    stored(live, data);
    // Built by the next `new` from what was loaded (it replaces an instance cached earlier).
    live.detach();
    live.pending = { fields, absent: envelope.absent ?? [], migrated };
    live.restored = true;
    if (live.hooks) emit(live, "loaded", start, data);
    return true;
  } catch (error) {
    // What decoding throws besides our own checks (a state nested too deeply for the stack) is
    // the entry's fault, not the store's: quarantined, and the browser starts fresh.
    return loadFailed(
      live,
      error instanceof PersistError
        ? error
        : new PersistError("INVALID_STATE", `stored state cannot be decoded: ${String(error)}`),
      start,
      data,
    );
  }
}

/**
 * A user's state stored under the id of a secret rotated out of first place since: moved to
 * its id under the first secret (whose lock the request holds), then loaded.
 */
async function adopt(
  live: Live,
  former: readonly string[],
  start: number | undefined,
): Promise<boolean> {
  const { store, idleTimeout } = live.config;
  for (const id of former) {
    let data: string | undefined;
    try {
      data = await store.get(id, idleTimeout);
      if (data === undefined) continue;
      await store.set(live.id, data, idleTimeout);
      await store.delete(id);
    } catch (error) {
      return loadFailed(live, error, start);
    }
    return loaded(live, data, start);
  }
  return false;
}

/**
 * Deletes a stored state that must not be used (past `maxAge`, or not migrated): not found.
 * `expired`: the entry past `maxAge`, reported as expired.
 */
function drop(live: Live, start: number | undefined, expired?: string): Promise<boolean> {
  return live.config.store.delete(live.id).then(
    () => {
      if (expired !== undefined && live.hooks) emit(live, "expired", start, expired);
      return false;
    },
    (error: unknown) => loadFailed(live, error, start),
  );
}

/** Invalid state is quarantined (the browser starts fresh); any other failure is the store's. */
async function loadFailed(
  live: Live,
  error: unknown,
  start: number | undefined,
  data?: string,
): Promise<boolean> {
  const { config, info, id } = live;
  if (!(error instanceof PersistError && error.code === "INVALID_STATE")) {
    throw failed(live, start, storeFailure(live, "read", error));
  }
  config.logger.warn(`[hono-persist] quarantined state "${info.key}" ${id}: ${error.message}`);
  try {
    await (config.store.quarantine?.(id, error.message) ?? config.store.delete(id));
  } catch (failure) {
    throw failed(live, start, storeFailure(live, "quarantine", failure));
  }
  if (live.hooks) emit(live, "quarantined", start, data, { reason: error.message });
  return false;
}

/** `error`, reported to hook `failed` first. */
function failed(live: Live, start: number | undefined, error: PersistError): PersistError {
  if (live.hooks) emit(live, "failed", start, undefined, { operation: "load", error });
  return error;
}

function migrateFields(
  live: Live,
  fields: Record<string, unknown>,
  from: number,
): Record<string, unknown> | undefined {
  const { key, version, migrate } = live.info;
  const drop = (why: string) => {
    live.config.logger.warn(`[hono-persist] dropped state "${key}" ${live.id}: ${why}`);
    return undefined;
  };
  if (from > version || !migrate) {
    return drop(
      `stored by version ${from}, the class is at version ${version} and has no \`migrate\``,
    );
  }
  try {
    const upgraded = migrate(fields, from);
    if (typeof upgraded !== "object" || upgraded === null)
      return drop("`migrate` returned no object");
    return upgraded;
  } catch (error) {
    return drop(`\`migrate\` from version ${from} threw: ${String(error)}`);
  }
}
