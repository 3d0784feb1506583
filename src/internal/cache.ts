import type { Live } from "./live.js";

/*
 * The lives of one store in this process (`Config.lives`, by `Live.cacheKey`), least recently
 * released first, and the ids retired while their entry is deleted (`Config.retired`). Only
 * this module changes either.
 */

/** `live` is the state of its id in this process. */
export function remember(live: Live): void {
  live.config.lives.set(live.cacheKey, live);
}

/** `live` is no longer the state of its id here (a newer one may be). */
export function forget(live: Live): void {
  const { lives } = live.config;
  if (lives.get(live.cacheKey) === live) lives.delete(live.cacheKey);
}

/**
 * No request holds `live` any more and nothing is left to write: its lock goes (other
 * processes may now load the state), and it stays cached, idle, for the next request of this
 * browser, within `cacheSize`. A state never stored has nothing to reuse and ends.
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
  const { lives, cacheSize } = live.config;
  // Moved last: idle lives are evicted least recently released first.
  const key = live.cacheKey;
  if (lives.get(key) === live) {
    lives.delete(key);
    lives.set(key, live);
  }
  if (lives.size <= cacheSize) return;
  for (const cached of lives.values()) {
    if (lives.size <= cacheSize) break;
    // An evicted one stays `idle`: a late change to it can still be saved (background.ts).
    if (cached.stage === "idle" && !cached.dirty && !cached.writing) lives.delete(cached.cacheKey);
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
  live.config.retired.delete(key);
}
