import { remember, settle } from "./cache.js";
import type { Live } from "./live.js";
import { flush } from "./writer.js";

/*
 * A change made to a state after its requests ended (a timer, a promise that settled late):
 * no request will flush it, so it is written on the next turn of the event loop, as a request
 * would write it, under the lock and only over the very entry this instance came from.
 */

/** Writes the change of an idle `live` on the next turn, unless a request takes it first. */
export function writeLater(live: Live): void {
  // Evicted from the cache: it is the state again, so that the browser's next request joins it
  // (and writes the change itself) instead of loading the entry without it.
  if (live.stage === "idle" && !live.config.lives.has(live.cacheKey)) remember(live);
  if (live.scheduled) return;
  live.scheduled = true;
  setImmediate(() => {
    live.scheduled = false;
    if (!live.dirty) return;
    // A state never stored was never given a cookie: no browser can load it, so a write would
    // only leave a file behind.
    if (live.stage === "gone" && live.saved === undefined) {
      return dropped(live, "its request ended without storing it");
    }
    // A request that took the state meanwhile writes the change itself.
    if (live.stage === "idle") startWrite(live);
  });
}

/**
 * Settles once the change of an idle `live` is written (or dropped, with a message), the
 * write started now if it was only scheduled: a request that cannot take the instance over
 * (another class has its key now) then loads what it wrote.
 */
export function savedNow(live: Live): Promise<void> {
  if (live.stage === "idle" && live.dirty) startWrite(live);
  return live.background ?? Promise.resolve();
}

function startWrite(live: Live): void {
  live.moveTo("saving");
  live.background = writeNow(live).finally(() => {
    live.background = undefined;
  });
}

function dropped(live: Live, why: string): void {
  live.dirty = false;
  live.config.logger.error(
    `[hono-persist] a change to "${live.info.key}" ${live.id} made after its request ended was not saved: ${why}`,
  );
}

async function writeNow(live: Live): Promise<void> {
  const { config } = live;
  const { lives, logger, store } = config;
  try {
    const cached = lives.get(live.cacheKey);
    if (cached && cached !== live) return dropped(live, "a newer request holds this state");
    if (config.lock !== undefined && store.lock)
      live.unlock = await store.lock(live.id, config.lock);
    const current = await store.get(live.id, config.idleTimeout);
    if (current === undefined || current !== live.data) {
      return dropped(live, "the stored state was changed, cleared or expired since");
    }
    if (lives.get(live.cacheKey) !== live) {
      if (lives.has(live.cacheKey)) return dropped(live, "a newer request holds this state");
      // Evicted from the cache, and still what is stored: it is the state again.
      remember(live);
    }
    await flush(live);
  } catch (error) {
    logger.error(`[hono-persist] background write failed: ${String(error)}`);
  } finally {
    // A request that arrived meanwhile waits for this write, then loads under its own lock.
    if (live.stage === "saving") settle(live);
    else live.releaseLock();
  }
}
