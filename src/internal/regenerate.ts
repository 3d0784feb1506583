import { v4 as uuidv4 } from "uuid";
import { misuse, PersistError } from "../errors.js";
import type { Tracker } from "../tracking.js";
import { writeLater } from "./background.js";
import { forget, remember, retire, settle, unretire } from "./cache.js";
import { emit } from "./hooks.js";
import { type Live, releaseLater, storeFailure } from "./live.js";
import { issueCookie, openScope, type Scope } from "./scope.js";
import { unindexCleared } from "./sessions.js";
import { flush, settled } from "./writer.js";

/**
 * `regenerate()`: moves the state to a new id and cookie and deletes the old entry, so that an
 * id known before (session fixation) loads nothing. The old id is retired the moment it is
 * called; the move itself waits for the write in flight and the new id's lock.
 */
export function regenerate(live: Live, tracker: Tracker): Promise<void> {
  const scope = openScope();
  if (!scope) {
    return Promise.reject(
      misuse("`regenerate()` issues a cookie, so it must run inside a request"),
    );
  }
  if (live.user !== undefined) {
    return Promise.reject(
      misuse(
        "`regenerate()` gives a browser's state a new cookie; a user's state has none: regenerate the browser's state that carries the sign-in",
      ),
    );
  }
  if (live.ended) return Promise.resolve();
  // An instance kept from an earlier request (or replaced since by a newer load): the cookie
  // would go to this request, maybe another browser's, and the state may not be built yet.
  if (scope.lives.get(live.info.key) !== live || live.tracker !== tracker) {
    return Promise.reject(
      misuse("`regenerate()` must be called on an instance made in the current request"),
    );
  }
  if (live.stage !== "regenerating") begin(live);
  // Moves run one at a time; each gives the state an id of its own.
  const run = live.moved.then(() => move(live, scope));
  live.moved = run.catch(() => undefined);
  return run;
}

function begin(live: Live): void {
  retire(live);
  live.moveTo("regenerating");
}

async function move(live: Live, scope: Scope): Promise<void> {
  // A move before this one has ended: this one starts from the id it gave.
  if (live.stage === "active") begin(live);
  if (live.stage !== "regenerating") return;
  const { config } = live;
  const oldId = live.id;
  const oldKey = live.cacheKey;
  let oldUnlock = live.unlock;
  live.unlock = undefined;
  try {
    // The old id's write in flight ends first: it must not land after the old entry is deleted.
    await settled(live);
    // That write failed: the state did not move, and the caller must know.
    if (live.failure) throw live.failure;
    if (live.stage !== "regenerating") return;
    const newId = uuidv4();
    // Nobody knows the new id yet, but its lock must be held before a cookie names it.
    if (config.lock !== undefined && config.store.lock) {
      try {
        live.unlock = await config.store.lock(newId, config.lock);
      } catch (error) {
        // Nothing moved: the state stays under its old id, with its lock.
        live.unlock = oldUnlock;
        oldUnlock = undefined;
        remember(live);
        live.moveTo("active");
        throw storeFailure(live, "lock a new id for", error);
      }
    }
    live.id = newId;
    remember(live);
    live.moveTo("active");
    issueCookie(scope, live);
    if (live.saved === undefined) {
      // Never stored: nothing moves in the store.
      if (live.hooks) emit(live, "regenerated", undefined, undefined, { oldId });
      return;
    }
    const start = live.hooks ? performance.now() : undefined;
    live.saved = undefined;
    live.dirty = true;
    await flush(live);
    try {
      await config.store.delete(oldId);
    } catch (error) {
      // The old (maybe fixated) cookie would load the state as it was before: the request
      // fails instead, and the browser keeps its old cookie and state.
      const failure =
        error instanceof PersistError
          ? error
          : new PersistError(
              "STORE_FAILED",
              `could not delete state "${live.info.key}" ${oldId}, the id regenerate() replaced: ${error instanceof Error ? error.message : String(error)}`,
              { cause: error },
            );
      live.failure = failure;
      // Cleared meanwhile by another request: it stays cleared.
      if (!live.ended) live.moveTo("failed");
      forget(live);
      live.releaseLock();
      throw failure;
    }
    if (live.hooks) emit(live, "regenerated", start, live.data, { oldId });
    await unindexCleared(live, oldId);
  } finally {
    unretire(live, oldKey);
    if (oldUnlock) releaseLater(live, oldUnlock);
    idleIfReleased(live);
  }
}

/** Its requests ended while it moved: what `release` would have done then. */
function idleIfReleased(live: Live): void {
  if (live.refs > 0 || live.stage !== "active") return;
  settle(live);
  if (live.dirty) writeLater(live);
}
