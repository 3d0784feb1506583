import type { Live } from "./live.js";
import type { Config } from "./scope.js";

/*
 * The lives of one store in this process (`Config.lives`, by `Live.cacheKey`), least recently
 * released first, the length of their stored JSON (`Config.total`), and the ids retired while
 * their entry is deleted (`Config.retired`). Only this module changes them.
 */

/** `live` is the state of its id in this process. */
export function remember(live: Live): void {
  const { lives, total } = live.config;
  const key = live.cacheKey;
  const before = lives.get(key);
  if (before === live) return;
  if (before) total.bytes -= sizeOf(before);
  lives.set(key, live);
  total.bytes += sizeOf(live);
}

/** `live` is no longer the state of its id here (a newer one may be). */
export function forget(live: Live): void {
  const { lives, total } = live.config;
  if (lives.get(live.cacheKey) !== live) return;
  lives.delete(live.cacheKey);
  total.bytes -= sizeOf(live);
}

/** The store's entry for `live` is now `data` (read or written). */
export function stored(live: Live, data: string): void {
  const { lives, total } = live.config;
  if (lives.get(live.cacheKey) === live) total.bytes += data.length - sizeOf(live);
  live.data = data;
}

/**
 * No request holds `live` any more and nothing is left to write: its lock goes (other
 * processes may now load the state), and it stays cached, idle, for the next request of this
 * browser, within `cacheSize` and `cacheBytes`. A state never stored has nothing to reuse and
 * ends.
 */
export function settle(live: Live): void {
  if (live.saved === undefined) {
    live.moveTo("gone");
    forget(live);
    live.releaseLock();
    return;
  }
  live.moveTo("idle");
  live.releaseLock();
  const { lives, total, cacheSize, cacheBytes } = live.config;
  // Moved last: idle lives are evicted least recently released first.
  const key = live.cacheKey;
  if (lives.get(key) === live) {
    lives.delete(key);
    lives.set(key, live);
  }
  if (lives.size <= cacheSize && total.bytes <= cacheBytes) return;
  for (const cached of lives.values()) {
    if (lives.size <= cacheSize && total.bytes <= cacheBytes) break;
    // An evicted one stays `idle`: a late change to it can still be saved (background.ts).
    if (cached.stage === "idle" && !cached.dirty && !cached.writing) forget(cached);
  }
}

/** Requests with `key` start fresh, without reading the store, until `unretire`. */
export function retire(live: Live): string {
  const key = live.cacheKey;
  forget(live);
  live.config.retired.add(key);
  return key;
}

export function unretire(live: Live, key: string): void {
  unretireKey(live.config, key);
}

/**
 * Requests waiting for a retired key to be given back (users' states, user.ts), by key, for
 * each store's retired set.
 */
const waitingBy = new WeakMap<
  ReadonlySet<string>,
  Map<string, { promise: Promise<void>; resolve: () => void }>
>();

/** Requests with `key` read the store again (its entry is deleted, or its move ended). */
export function unretireKey(config: Pick<Config, "retired">, key: string): void {
  config.retired.delete(key);
  const waiting = waitingBy.get(config.retired);
  const waiter = waiting?.get(key);
  if (waiter) {
    waiting?.delete(key);
    waiter.resolve();
  }
}

/** Resolves once `key` is no longer retired; `undefined` when it is not. */
export function unretired(config: Pick<Config, "retired">, key: string): Promise<void> | undefined {
  if (!config.retired.has(key)) return undefined;
  let waiting = waitingBy.get(config.retired);
  if (!waiting) {
    waiting = new Map();
    waitingBy.set(config.retired, waiting);
  }
  let waiter = waiting.get(key);
  if (!waiter) {
    let resolve!: () => void;
    const promise = new Promise<void>((done) => {
      resolve = done;
    });
    waiter = { promise, resolve };
    waiting.set(key, waiter);
  }
  return waiter.promise;
}

/**
 * What a cached state counts for: the length of its stored JSON. Measured with states of
 * ~1 MiB, the heap holds 2 (one long string) to 7 (many small objects) times that for each.
 */
function sizeOf(live: Live): number {
  return live.data?.length ?? 0;
}
