import { remember, retire, unretire } from "./cache.js";
import { emit } from "./hooks.js";
import { Live, storeFailure } from "./live.js";
import { expireCookie, openScope, type Scope } from "./scope.js";
import { unindexCleared } from "./sessions.js";
import { settled } from "./writer.js";

/**
 * `clearCookieState()`: deletes the state and expires its cookie; the next `new` starts fresh.
 * A user's state is deleted for every device.
 */
export async function clear(live: Live): Promise<void> {
  const scope = openScope();
  // This request's instance of a user's state: its successor keeps the user's lock.
  let successor: Scope | undefined;
  if (scope) {
    if (scope.lives.get(live.info.key) === live) {
      scope.lives.delete(live.info.key);
      if (live.user !== undefined) successor = scope;
    }
    scope.issue?.delete(live);
    // A user's state has no cookie: the key's cookie, if any, is the browser's anonymous state.
    if (live.user === undefined) expireCookie(scope, live.info.key);
  }
  // Its old id is retired already, and nobody knows the new one until the move ends.
  if (live.stage === "regenerating") await live.moved;
  if (live.stage === "cleared") return;
  // From now on a request with this id starts fresh, without reading the entry being deleted.
  const key = retire(live);
  // Ended already (its request stored nothing, or its write failed): a call that deletes
  // nothing ends nothing, and reports nothing.
  const ending = !live.ended;
  if (ending) live.moveTo("cleared");
  try {
    await settled(live);
    const deleting = live.saved !== undefined;
    const start = live.hooks && deleting ? performance.now() : undefined;
    if (deleting) {
      live.saved = undefined;
      await live.config.store.delete(live.id);
    }
    if (live.hooks && (ending || deleting)) emit(live, "cleared", start, live.data);
    if (deleting) await unindexCleared(live, live.id);
  } catch (error) {
    successor = undefined;
    throw storeFailure(live, "delete", error);
  } finally {
    unretire(live, key);
    if (successor?.stage === "open" && !successor.lives.has(live.info.key)) {
      startAgain(successor, live);
    } else live.releaseLock();
  }
}

/**
 * A user's state cleared by this request starts again under the same id, which every device
 * knows: with the lock it held, so that no other process loads the state until this request
 * has saved what its next `new` makes.
 */
function startAgain(scope: Scope, cleared: Live): void {
  const live = new Live(cleared.config, cleared.info, cleared.id, "active", cleared.user);
  live.unlock = cleared.unlock;
  cleared.unlock = undefined;
  live.refs = 1;
  remember(live);
  scope.held.add(live);
  scope.lives.set(live.info.key, live);
}
