import { v4 as uuidv4 } from "uuid";
import { misuse, PersistError } from "../errors.js";
import { decodeEnvelope, decodeState, encodeRecord } from "../serialize.js";
import { Tracker } from "../tracking.js";
import type { Persisted } from "../types.js";
import { read } from "./read-now.js";
import type { Class, ClassInfo } from "./registry.js";
import { type Config, expireCookie, issueCookie, type Scope, scopes } from "./scope.js";

// Stored keys that would reach the prototype or replace the instance's constructor.
const UNSAFE_KEYS: ReadonlySet<string> = new Set(["__proto__", "constructor", "prototype"]);

/** Proxy of a root instance → its Live. */
const livesByProxy = new WeakMap<object, Live>();

/**
 * One browser's state for one key, shared by every request of that browser that this process
 * serves at the same time, so that synchronous mutations of concurrent requests all land on one
 * object. Between requests it stays in `config.lives` (within `cacheSize`), to be reused by the
 * browser's next request when the store still holds what this process last read or wrote.
 */
export class Live {
  readonly info: ClassInfo;
  readonly config: Config;
  id: string;
  /** Requests using this instance now. */
  refs = 0;
  /** Changed since the last serialization. */
  dirty = false;
  /** Cleared or failed: writes are no longer saved. */
  detached = false;
  /** Why a write failed: every request holding the state then fails (see flush). */
  failure: Error | undefined;
  /** The write in flight: concurrent flushes wait for it and then write once for all (group commit). */
  writing: Promise<void> | undefined;
  /** That write waits for its turn, unserialized: it carries every change made until then. */
  queued = false;
  /** Resolves to whether stored state was found. */
  ready: Promise<boolean> = Promise.resolve(false);
  /** `ready` resolved to true: requests joining now need not wait. */
  loaded = false;
  /** Loaded from the store by this process (not created fresh in it). */
  restored = false;
  created = Date.now();
  /** The state JSON known to be in the store; `undefined` when nothing is stored. */
  saved: string | undefined;
  /** When that state was written (ms since the epoch). */
  savedAt: number | undefined;
  /**
   * The store's entry as this process last read or wrote it. A request that finds the same
   * entry reuses the instance; any other content (another process wrote) is loaded anew.
   */
  data: string | undefined;
  /** Stored fields waiting for the first `new` of a request, which supplies constructor arguments. */
  pending: { fields: Record<string, unknown>; migrated: boolean } | undefined;
  raw: object | undefined;
  proxy: object | undefined;
  /** Releases the cross-process lock held on `id` (option `lock`). */
  unlock: (() => void | Promise<void>) | undefined;
  /** Cleared, and its entry not yet deleted: stays cached so that no request reloads it meanwhile. */
  tombstone = false;
  /** Serializing: what superjson reads through a nested Proxy is not a change. */
  serializing = false;
  /** Regenerations of this state run one at a time. */
  regenerating: Promise<void> = Promise.resolve();
  #scheduled = false;
  /** Replaced when a newer state is loaded: Proxies of the replaced instance change nothing. */
  tracker = this.#newTracker();
  /** The background write of a change made outside any request, while it runs. */
  background: Promise<void> | undefined;

  constructor(config: Config, info: ClassInfo, id: string) {
    this.config = config;
    this.info = info;
    this.id = id;
  }

  get cacheKey(): string {
    return cacheKeyOf(this.info, this.id);
  }

  #newTracker(): Tracker {
    const tracker: Tracker = new Tracker(() => {
      if (this.tracker === tracker) this.#changed();
    });
    return tracker;
  }

  /** Forgets the instance: the next `new` builds one from the state loaded. */
  replaceInstance(): void {
    this.raw = undefined;
    this.proxy = undefined;
    this.tracker = this.#newTracker();
  }

  #changed(): void {
    if (this.serializing) return;
    this.dirty = true;
    // Inside a request the middleware flushes before responding; outside one (a timer, a
    // promise that settles late) nobody will, so write on the next turn of the event loop.
    if (this.refs === 0) this.scheduleFlush();
  }

  scheduleFlush(): void {
    if (this.detached || this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      // A request that took the instance meanwhile writes the change itself.
      if (this.refs > 0 || !this.dirty) return;
      this.background = this.#flushInBackground().finally(() => {
        this.background = undefined;
      });
    });
  }

  /**
   * Writes a change made outside any request as a request would: under the lock, and only over
   * the very entry this instance came from (another process may have written since).
   */
  async #flushInBackground(): Promise<void> {
    const { config } = this;
    const { lives, logger, store } = config;
    const dropped = (why: string) => {
      this.dirty = false;
      logger.error(
        `[hono-persist] a change to "${this.info.key}" ${this.id} made after its request ended was not saved: ${why}`,
      );
    };
    try {
      // A state never stored was never given a cookie (its request failed before saving it, or
      // never changed it): no browser can load it, so a write would only leave a file behind.
      if (this.saved === undefined) return dropped("its request ended without storing it");
      const cached = lives.get(this.cacheKey);
      if (cached && cached !== this) return dropped("a newer request holds this state");
      if (config.lock !== undefined && store.lock)
        this.unlock = await store.lock(this.id, config.lock);
      if (this.saved !== undefined) {
        const current = await store.get(this.id, config.idleTimeout);
        if (current === undefined || current !== this.data) {
          return dropped("the stored state was changed, cleared or expired since");
        }
      }
      if (lives.get(this.cacheKey) !== this) {
        if (lives.has(this.cacheKey)) return dropped("a newer request holds this state");
        lives.set(this.cacheKey, this);
      }
      await flush(this);
    } catch (error) {
      logger.error(`[hono-persist] background write failed: ${String(error)}`);
    } finally {
      if (this.refs === 0 && !this.dirty) settle(this);
      else unlock(this);
    }
  }
}

/** The key of state `id` of `info` in `Config.lives`. */
export function cacheKeyOf(info: ClassInfo, id: string): string {
  return `${info.key}:${id}`;
}

/** The Live behind a persisted instance, or `undefined` for any other value. */
export function liveOf(instance: unknown): Live | undefined {
  return typeof instance === "object" && instance !== null ? livesByProxy.get(instance) : undefined;
}

// A load that found its state: shared, so that a load answered at once allocates no promise.
const FOUND = Promise.resolve(true);

/**
 * The Live of stored state `id`, shared with concurrent requests, or `undefined` when nothing
 * usable is stored (absent, expired, unreadable: the browser then starts fresh). A value, not
 * a promise, when nothing had to be waited for. `cacheKey` is `cacheKeyOf(info, id)`, made
 * once by the caller for a header it remembers.
 */
export function acquire(
  config: Config,
  info: ClassInfo,
  id: string,
  cacheKey: string,
): Live | undefined | Promise<Live | undefined> {
  let live = config.lives.get(cacheKey);
  if (!live) {
    live = new Live(config, info, id);
    config.lives.set(cacheKey, live);
  }
  // The first request of this browser in this process (now): load, or check that the cached
  // instance is still what the store holds. Later concurrent requests share that load.
  if (live.refs === 0 && !live.detached) {
    live.loaded = false;
    let found: boolean | Promise<boolean>;
    try {
      found = reload(live);
    } catch (error) {
      remove(live);
      throw error;
    }
    if (found instanceof Promise) live.ready = found;
    else {
      // The store answered at once (a cached state checked, most often).
      if (!found || live.detached) {
        remove(live);
        return undefined;
      }
      live.ready = FOUND;
      live.loaded = true;
    }
  }
  live.refs++;
  // Joining requests of this browser whose load is done: nothing to wait for (no promise).
  if (live.loaded && !live.detached) return live;
  return joinLoad(live);
}

async function joinLoad(live: Live): Promise<Live | undefined> {
  const ready = live.ready;
  let found = false;
  try {
    found = await ready;
  } finally {
    if (!found || live.detached) {
      live.refs--;
      if (live.refs === 0) remove(live);
    }
  }
  if (found && live.ready === ready) live.loaded = true;
  return found && !live.detached ? live : undefined;
}

/** After a background write of the instance, if one runs: then as any first request. */
function reload(live: Live): boolean | Promise<boolean> {
  return live.background ? live.background.then(() => lockAndLoad(live)) : lockAndLoad(live);
}

/** Takes the state's lock (option `lock`), then loads it; the lock goes with a state not found. */
function lockAndLoad(live: Live): boolean | Promise<boolean> {
  const { lock, store } = live.config;
  return lock !== undefined && store.lock ? lockedLoad(live, lock) : load(live);
}

async function lockedLoad(live: Live, timeout: number): Promise<boolean> {
  live.unlock = await live.config.store.lock?.(live.id, timeout);
  let found = false;
  try {
    found = await load(live);
    return found;
  } finally {
    if (!found) unlock(live);
  }
}

/** Whether stored state was found (and is now what the next `new` builds); at once when the store reads at once. */
function load(live: Live): boolean | Promise<boolean> {
  const { config, id } = live;
  let data: string | undefined | Promise<string | undefined>;
  try {
    data = read(config.store, id, config.idleTimeout);
  } catch (error) {
    return loadFailed(live, error);
  }
  if (data === undefined || typeof data === "string") return loaded(live, data);
  // Any thenable (another realm's promise, a library's) is made one of ours, which acquire()
  // tells apart from an answer.
  return Promise.resolve(data).then(
    (value) => loaded(live, value),
    (error: unknown) => loadFailed(live, error),
  );
}

function loaded(live: Live, data: string | undefined): boolean | Promise<boolean> {
  const { config, info, id } = live;
  try {
    if (data === undefined) return false;
    if (live.raw && data === live.data) {
      if (live.created + config.maxAge * 1000 > Date.now()) return true;
      return drop(live);
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
    if (envelope.created + config.maxAge * 1000 <= Date.now()) return drop(live);
    let fields = decodeState(info.json, envelope.state);
    let migrated = false;
    if (envelope.version !== info.version) {
      const upgraded = migrateFields(live, fields, envelope.version);
      if (!upgraded) return drop(live);
      fields = upgraded;
      migrated = true;
    }
    // A clock stepped back (or another host's) must not make the lifetime outlast `maxAge`.
    live.created = Math.min(envelope.created, Date.now());
    live.saved = envelope.state;
    live.savedAt = envelope.saved;
    live.data = data;
    // Built by the next `new` from what was loaded (it replaces an instance cached earlier).
    live.replaceInstance();
    live.pending = { fields, migrated };
    live.restored = true;
    return true;
  } catch (error) {
    return loadFailed(live, error);
  }
}

/** Deletes a stored state that must not be used (past `maxAge`, or not migrated): not found. */
function drop(live: Live): Promise<boolean> {
  return live.config.store.delete(live.id).then(
    () => false,
    (error: unknown) => loadFailed(live, error),
  );
}

/** Invalid state is quarantined (the browser starts fresh); any other failure is the store's. */
async function loadFailed(live: Live, error: unknown): Promise<boolean> {
  const { config, info, id } = live;
  if (!(error instanceof PersistError && error.code === "INVALID_STATE")) {
    throw storeFailure(live, "read", error);
  }
  config.logger.warn(`[hono-persist] quarantined state "${info.key}" ${id}: ${error.message}`);
  try {
    await (config.store.quarantine?.(id, error.message) ?? config.store.delete(id));
  } catch (failure) {
    throw storeFailure(live, "quarantine", failure);
  }
  return false;
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

/** The instance of `info` for the current request: its live one, or a fresh one. */
export function instanceFor(info: ClassInfo, args: unknown[], newTarget: Class): object {
  const scope = scopes.getStore();
  if (!scope || scope.closed) {
    throw misuse(
      `\`${info.target.name}\` is persisted (@persist("${info.key}")): create it inside a request handled by the \`persistSession()\` middleware${scope ? ", not after the request has ended (in a timer or a stream)" : ""}`,
    );
  }
  const current = scope.lives.get(info.key);
  if (current?.proxy) return current.proxy;
  if (current) return materialize(current, args, newTarget);

  const live = new Live(scope.config, info, uuidv4());
  live.ready = FOUND;
  live.loaded = true;
  live.refs = 1;
  scope.config.lives.set(live.cacheKey, live);
  scope.held.add(live);
  scope.lives.set(info.key, live);
  issueCookie(scope, live);
  return materialize(live, args, newTarget);
}

function materialize(live: Live, args: unknown[], newTarget: Class): object {
  const raw = Reflect.construct(live.info.target, args, newTarget) as Record<string, unknown>;
  if (live.pending) {
    // Into a constructed instance, so fields the class gained since get their defaults.
    for (const [name, value] of Object.entries(live.pending.fields)) {
      if (!UNSAFE_KEYS.has(name) && !live.info.exclude.has(name)) Reflect.set(raw, name, value);
    }
    if (live.pending.migrated) live.dirty = true;
    live.pending = undefined;
  }
  const extras: Persisted & Record<PropertyKey, unknown> = {
    clearCookieState: () => clear(live),
    regenerate: () => regenerate(live),
  };
  live.raw = raw;
  live.proxy = live.tracker.root(raw, extras);
  livesByProxy.set(live.proxy, live);
  return live.proxy;
}

/** Writes what changed, and returns once it is in the store (or throws why not). */
export function flush(live: Live): Promise<void> {
  // Most concurrent requests of a browser end while its write waits for its turn: they await
  // that very write, with no promise of their own (each costs on Node 20's AsyncLocalStorage).
  if (live.queued && live.writing && !live.failure) return live.writing;
  return flushAll(live);
}

async function flushAll(live: Live): Promise<void> {
  for (;;) {
    if (live.failure) throw live.failure;
    if (live.detached) return;
    if (live.writing) {
      await live.writing;
      continue;
    }
    if (!live.dirty) return;
    live.writing = write(live);
    try {
      await live.writing;
    } finally {
      live.writing = undefined;
    }
  }
}

// Records longer than this (UTF-16 units) go to the store a turn after their serialization.
const SPLIT_LENGTH = 16 * 1024;

async function write(live: Live): Promise<void> {
  const { config, info } = live;
  // One turn of the event loop first: the concurrent requests of this browser that finish in
  // it are all carried by this one write (group commit), each still answered after it.
  live.queued = true;
  await new Promise((resolve) => setImmediate(resolve));
  live.queued = false;
  live.dirty = false;
  if (live.detached || !live.raw) return;
  try {
    const now = Date.now();
    let encoded: { data: string; state: string };
    live.serializing = true;
    try {
      encoded = encodeRecord(info.json, live.raw, info, {
        version: info.version,
        created: live.created,
        saved: now,
      });
    } finally {
      live.serializing = false;
    }
    const { data, state } = encoded;
    if (state === live.saved) return;
    // UTF-8 takes at most 3 bytes per UTF-16 unit: most states need no byte count at all.
    const size = data.length * 3 <= config.maxBytes ? 0 : Buffer.byteLength(data);
    if (size > config.maxBytes) {
      throw new PersistError(
        "STATE_TOO_LARGE",
        `state "${info.key}" is ${size} bytes, over \`maxBytes\` (${config.maxBytes}); it was not saved`,
      );
    }
    const ttl = Math.max(
      1,
      Math.min(config.idleTimeout, (live.created + config.maxAge * 1000 - now) / 1000),
    );
    const id = live.id;
    if (data.length > SPLIT_LENGTH) {
      // Serialized in this turn of the event loop, handed to the store in the next: other
      // requests are served in between, and the store's own work on a large record (a copy to
      // its writer thread, an encoding) does not lengthen the serialization's stretch (bench/ W4).
      await new Promise((resolve) => setImmediate(resolve));
      // Cleared meanwhile: nothing to write (a regeneration waits for this write to end).
      if (live.detached) return;
    }
    try {
      await config.store.set(id, data, ttl);
    } catch (error) {
      throw storeFailure(live, "save", error);
    }
    if (live.id !== id) return;
    live.saved = state;
    live.savedAt = now;
    live.data = data;
  } catch (error) {
    // The next request reloads the last good state instead of building on what was not saved.
    live.failure = error instanceof Error ? error : new Error(String(error));
    live.detached = true;
    remove(live);
    throw live.failure;
  }
}

/** One request is done with `live`. */
export function release(live: Live): void {
  live.refs--;
  if (live.refs > 0) return;
  // Changed after its request flushed (a promise settling late): write in the background.
  if (live.dirty && !live.detached) live.scheduleFlush();
  else settle(live);
}

/**
 * No request uses `live` any more: its lock goes (other processes may now load the state),
 * and it stays cached, idle, for the next request of this browser, within `cacheSize`.
 */
function settle(live: Live): void {
  // Nothing stored (a fresh state never changed): nothing to reuse.
  if (live.detached || live.saved === undefined) {
    remove(live);
    return;
  }
  unlock(live);
  const { lives, cacheSize } = live.config;
  // Moved last: idle instances are evicted least recently used first (one in use is never
  // evicted, so it is moved once a busy stretch ends, not on every request of it).
  const key = live.cacheKey;
  if (lives.get(key) === live) {
    lives.delete(key);
    lives.set(key, live);
  }
  if (lives.size <= cacheSize) return;
  for (const cached of lives.values()) {
    if (lives.size <= cacheSize) break;
    if (cached.refs === 0 && !cached.dirty && !cached.writing && !cached.tombstone) remove(cached);
  }
}

/**
 * Drops `live` from the cache, and its lock; except while it stands as a tombstone for an
 * entry being deleted.
 */
function remove(live: Live): void {
  if (live.tombstone) return;
  if (live.config.lives.get(live.cacheKey) === live) live.config.lives.delete(live.cacheKey);
  unlock(live);
}

function unlock(live: Live): void {
  const release = live.unlock;
  live.unlock = undefined;
  if (!release) return;
  Promise.resolve()
    .then(release)
    .catch((error: unknown) =>
      live.config.logger.error(
        `[hono-persist] could not release the lock of "${live.info.key}" ${live.id}: ${String(error)}`,
      ),
    );
}

async function settled(live: Live): Promise<void> {
  while (live.writing) await live.writing.catch(() => undefined);
}

/** The current request's scope, unless it has ended (a timer that inherited it). */
function openScope(): Scope | undefined {
  const scope = scopes.getStore();
  return scope && !scope.closed ? scope : undefined;
}

async function clear(live: Live): Promise<void> {
  const scope = openScope();
  live.detached = true;
  live.tombstone = true;
  if (scope) {
    if (scope.lives.get(live.info.key) === live) scope.lives.delete(live.info.key);
    scope.issue?.delete(live);
    expireCookie(scope, live.info.key);
  }
  try {
    await settled(live);
    if (live.saved === undefined) return;
    live.saved = undefined;
    await live.config.store.delete(live.id);
  } catch (error) {
    throw storeFailure(live, "delete", error);
  } finally {
    live.tombstone = false;
    remove(live);
  }
}

function regenerate(live: Live): Promise<void> {
  const scope = openScope();
  if (!scope) {
    return Promise.reject(
      misuse("`regenerate()` issues a cookie, so it must run inside a request"),
    );
  }
  const run = live.regenerating.then(() => regenerateNow(live, scope));
  live.regenerating = run.catch(() => undefined);
  return run;
}

async function regenerateNow(live: Live, scope: Scope): Promise<void> {
  const { config, info } = live;
  await settled(live);
  if (live.detached) return;
  const oldId = live.id;
  const stored = live.saved !== undefined;
  const newId = uuidv4();
  // Uncontended (nobody knows the id yet), but the lock must cover it before a cookie does.
  const newUnlock =
    config.lock !== undefined && config.store.lock
      ? await config.store.lock(newId, config.lock)
      : undefined;
  // The old entry stays unloadable until it is deleted: a request with the old (perhaps
  // fixated) cookie finds a tombstone and starts fresh.
  const tombstone = new Live(config, info, oldId);
  tombstone.detached = true;
  tombstone.tombstone = true;
  tombstone.ready = FOUND;
  tombstone.unlock = live.unlock;
  config.lives.set(tombstone.cacheKey, tombstone);
  live.id = newId;
  live.unlock = newUnlock;
  config.lives.set(live.cacheKey, live);
  issueCookie(scope, live);
  try {
    if (!stored) return;
    live.saved = undefined;
    live.dirty = true;
    await flush(live);
    await config.store.delete(oldId);
  } catch (error) {
    throw storeFailure(live, "delete", error);
  } finally {
    tombstone.tombstone = false;
    remove(tombstone);
  }
}

function storeFailure(live: Live, action: string, error: unknown): PersistError {
  if (error instanceof PersistError) return error;
  return new PersistError(
    "STORE_FAILED",
    `could not ${action} state "${live.info.key}" ${live.id}: ${error instanceof Error ? error.message : String(error)}`,
    { cause: error },
  );
}
