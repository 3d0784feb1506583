import { v4 as uuidv4 } from "uuid";
import { misuse } from "../errors.js";
import { encodeState } from "../serialize.js";
import { Tracker } from "../tracking.js";
import type { Persisted } from "../types.js";
import { writeLater } from "./background.js";
import { forget, remember, settle } from "./cache.js";
import { clear } from "./clear.js";
import { canEnterWith } from "./enter-with.js";
import { Live } from "./live.js";
import { regenerate } from "./regenerate.js";
import type { Class, ClassInfo } from "./registry.js";
import { currentScope, issueCookie, RESOLVING, type Scope } from "./scope.js";
import { userIds } from "./user.js";

// Stored keys that would reach the prototype or replace the instance's constructor.
const UNSAFE_KEYS: ReadonlySet<string> = new Set(["__proto__", "constructor", "prototype"]);

// Where the middleware cannot hand its context to its caller, a scope-less `new` may well be
// the error handler's, after the middleware's own failure: say what to do there.
const NO_ENTER_WITH =
  "; `app.onError` cannot use persisted classes on this runtime (no `AsyncLocalStorage.enterWith`, as on Cloudflare Workers): read what the error page needs from the error";

/** The instance of `info` for the current request: its live one, or a fresh one. */
export function instanceFor(info: ClassInfo, args: unknown[], newTarget: Class): object {
  const scope = currentScope();
  if (!scope || scope.stage === "closed") {
    throw misuse(
      `\`${info.target.name}\` is persisted (@persist("${info.key}")): create it inside a request handled by the \`persistSession()\` middleware${scope ? ", not after the request has ended (in a timer or a stream)" : canEnterWith ? "" : NO_ENTER_WITH}`,
    );
  }
  if (info.scope === "user" && scope.user === RESOLVING) {
    throw misuse(
      `\`${info.target.name}\` is the signed-in user's (@persist("${info.key}", { scope: "user" })): it cannot be made in option \`user\`'s resolver, which says who that is`,
    );
  }
  const current = scope.lives.get(info.key);
  if (scope.anonymous !== undefined && current !== undefined) {
    const anonymous = scope.anonymous.get(info.key);
    if (anonymous) return merged(scope, current, anonymous, args, newTarget);
  }
  if (current?.proxy) return current.proxy;
  if (current) return materialize(current, args, newTarget);
  if (scope.stage === "failed") {
    // The error page of a request whose state could not be saved or loaded: the class's
    // defaults, never stored.
    const unsaved = new Live(scope.config, info, uuidv4(), "gone");
    scope.lives.set(info.key, unsaved);
    return materialize(unsaved, args, newTarget);
  }
  // A user's state cleared earlier in this request starts again under the user's id, without a
  // cookie. Any other starts under a new random id, named by its cookie.
  const user = info.scope === "user" && typeof scope.user === "string" ? scope.user : undefined;
  const live =
    user === undefined
      ? new Live(scope.config, info, uuidv4(), "active")
      : new Live(
          scope.config,
          info,
          userIds(scope.config, info.key, user)[0] as string,
          "active",
          user,
        );
  live.refs = 1;
  remember(live);
  scope.held.add(live);
  scope.lives.set(info.key, live);
  if (user === undefined) issueCookie(scope, live);
  return materialize(live, args, newTarget);
}

/**
 * The user's instance, into which the browser's anonymous state of the class was merged by
 * option `merge`, once: that state is then deleted and its cookie expired (a concurrent request
 * of the browser that gets here second finds it cleared, and merges nothing).
 */
function merged(
  scope: Scope,
  live: Live,
  anonymous: Live,
  args: unknown[],
  newTarget: Class,
): object {
  scope.anonymous?.delete(live.info.key);
  const proxy = live.proxy ?? materialize(live, args, newTarget);
  if (anonymous.stage !== "active" || live.stage !== "active") return proxy;
  const from = anonymous.proxy ?? materialize(anonymous, args, newTarget);
  try {
    live.info.merge?.(proxy, from);
  } catch (error) {
    // Half a merge is never saved: the requests holding the user's state fail, the next one
    // reloads what is stored, and the anonymous state stays for another try.
    live.failure = error instanceof Error ? error : new Error(String(error));
    live.moveTo("failed");
    forget(live);
    live.releaseLock();
    throw error;
  }
  scope.pending ??= [];
  scope.pending.push(clear(anonymous));
  return proxy;
}

function materialize(live: Live, args: unknown[], newTarget: Class): object {
  const raw = Reflect.construct(live.info.target, args, newTarget) as Record<string, unknown>;
  live.constructed = Object.keys(raw).filter((name) => typeof raw[name] !== "function");
  const pending = live.pending;
  if (pending) {
    // Into a constructed instance, so fields the class gained since get their defaults.
    // Not over a method: methods are never stored, so a stored field of that name is from a
    // version of the class where it was data.
    for (const [name, value] of Object.entries(pending.fields)) {
      if (UNSAFE_KEYS.has(name) || live.info.exclude.has(name)) continue;
      if (typeof raw[name] !== "function") Reflect.set(raw, name, value);
    }
    // Deleted from the stored instance, unless `migrate` gave it back.
    for (const name of pending.absent) {
      if (!live.info.exclude.has(name) && !Object.hasOwn(pending.fields, name)) {
        Reflect.deleteProperty(raw, name);
      }
    }
    if (pending.migrated) live.dirty = true;
    live.pending = undefined;
  }
  const extras: Persisted & Record<PropertyKey, unknown> = {
    clearCookieState: () => clear(live),
    regenerate: () => regenerate(live, tracker),
  };
  const tracker: Tracker = new Tracker(() => {
    // A change came first: the state is written as it is, with no snapshot to compare.
    tracker.beforeUnseen = undefined;
    // Proxies of an instance replaced since (a newer state was loaded) change nothing.
    if (live.tracker === tracker) changed(live);
  });
  // Nothing stored: a getter read or a method call that changes nothing must not save it.
  // Taken lazily, as most requests without a state only read its fields (bench: A/B).
  if (live.saved === undefined && live.stage === "active") {
    tracker.beforeUnseen = () => {
      live.pristine = pristineOf(live, raw);
    };
  }
  live.attach(raw, tracker.root(raw, extras), tracker);
  return live.proxy as object;
}

function pristineOf(live: Live, raw: object): string | undefined {
  try {
    return encodeState(live.info.json, raw, live.info.exclude, live.info.classes);
  } catch {
    // Not storable as constructed: the first write says why.
    return undefined;
  }
}

function changed(live: Live): void {
  if (live.serializing) return;
  live.dirty = true;
  // Inside a request the middleware flushes before responding; outside one (a timer, a
  // promise that settles late) nobody will.
  if (live.refs === 0) writeLater(live);
}

/** One request is done with `live`. */
export function release(live: Live): void {
  live.refs--;
  // Regenerating: the move settles it. Ended: nothing to keep.
  if (live.refs > 0 || live.stage !== "active") return;
  settle(live);
  // Changed after its request flushed (a promise settling late), or never flushed (a throw
  // that escaped Hono): written in the background, or dropped with a message.
  if (live.dirty) writeLater(live);
}
