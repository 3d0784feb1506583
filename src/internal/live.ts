import { PersistError } from "../errors.js";
import type { Tracker } from "../tracking.js";
import type { PersistHooks } from "../types.js";
import type { ClassInfo } from "./registry.js";
import type { Config } from "./scope.js";

/**
 * Where one browser's state is in its life in this process. `stage` changes only through
 * `Live.moveTo`, which refuses a move this table does not list:
 *
 * ```
 *            found                      last request ends
 *  loading ────────▶ active ─────────────────────────────▶ idle ──▶ saving (a change made
 *     │    ◀──────────────────────────────── a request ────┘  ◀──┘   outside any request)
 *     │ nothing usable   │ regenerate()      │ clearCookieState()   │ a write fails
 *     ▼ stored           ▼                   ▼                      ▼
 *   gone            regenerating ──▶ active    cleared                failed
 * ```
 *
 * - `loading`: its first request reads the store; requests of the same browser that arrive
 *   meanwhile wait for that read (`ready`) and share what it found.
 * - `active`: one request or more hold it (`refs`); they all change the one instance, and
 *   their writes are grouped (writer.ts).
 * - `idle`: no request holds it; it may stay in the cache (cache.ts) and is checked against
 *   the store again before the next request uses it.
 * - `saving`: idle, writing a change made after its requests ended (background.ts).
 * - `regenerating`: moving to a new id (regenerate.ts); its old id is retired at once.
 * - `cleared`, `failed`, `gone`: ended. Their instance is inert (changes are not saved); a
 *   request with their id starts fresh or, for `failed`, reloads the last good state.
 */
export type Stage =
  | "loading"
  | "active"
  | "idle"
  | "saving"
  | "regenerating"
  | "cleared"
  | "failed"
  | "gone";

const MOVES: Readonly<Record<Stage, readonly Stage[]>> = {
  loading: ["active", "cleared", "gone"],
  active: ["idle", "regenerating", "cleared", "failed", "gone"],
  idle: ["loading", "saving", "cleared"],
  saving: ["idle", "loading", "cleared", "failed", "gone"],
  regenerating: ["active", "cleared", "failed"],
  cleared: [],
  failed: [],
  gone: [],
};

// Shared settled promises: a Live that never loads or moves allocates none of its own.
export const FOUND = Promise.resolve(true);
const SETTLED = Promise.resolve();

/** Proxy of a root instance → its Live. */
const livesByProxy = new WeakMap<object, Live>();

/**
 * One browser's state for one key, shared by every request of that browser that this process
 * serves at the same time, so that synchronous changes of concurrent requests all land on one
 * object. Its stage is the one field that says what may happen to it; the other fields are
 * data: what is stored, the instance, the writer's bookkeeping.
 */
export class Live {
  readonly info: ClassInfo;
  readonly config: Config;
  id: string;
  #stage: Stage;

  // What requests use.
  /** Requests holding this state now. */
  refs = 0;
  /** While `loading`: resolves to whether stored state was found. */
  ready: Promise<boolean> = FOUND;
  /** While `regenerating`: resolves once the state has its new id. */
  moved: Promise<void> = SETTLED;
  /** While `saving`: the background write. */
  background: Promise<void> | undefined;
  /** A background write waits for the next turn of the event loop. */
  scheduled = false;
  /**
   * The hooks of the middleware whose request took this state last: the cache is shared by
   * every middleware over one store, each with its own option `hooks`.
   */
  hooks: PersistHooks | undefined;
  /**
   * Whose state this is, for a user-scoped class with someone signed in (user.ts): the app's
   * id of the user, kept in memory only; `undefined` for a browser's state.
   */
  readonly user: string | undefined;
  /** Releases the cross-process lock held on `id` (option `lock`). */
  unlock: (() => void | Promise<void>) | undefined;

  // What the store holds.
  /** Loaded from the store by this process (not created fresh in it). */
  restored = false;
  created = Date.now();
  /** The state JSON known to be in the store; `undefined` when nothing is stored. */
  saved: string | undefined;
  /**
   * Nothing stored yet: the state's JSON as it was before the first getter or method ran on it
   * (instance.ts). Such a call may change what the Proxy cannot see, so it counts as a change;
   * the writer skips a state that is still this, so a visitor who only reads gets no entry and
   * no cookie.
   */
  pristine: string | undefined;
  /** The class version that JSON was stored by. */
  savedVersion = 0;
  /** When that state was written (ms since the epoch). */
  savedAt: number | undefined;
  /**
   * The store's entry as this process last read or wrote it. A request that finds the same
   * entry reuses the instance; any other content (another process wrote) is loaded anew.
   * Set by `stored()` (cache.ts), which counts its length against `cacheBytes`.
   */
  data: string | undefined;

  // The instance.
  /** Stored fields waiting for the first `new` of a request, which supplies constructor arguments. */
  pending: Pending | undefined;
  raw: object | undefined;
  proxy: object | undefined;
  tracker: Tracker | undefined;
  /** The fields the constructor made: those missing at a write were deleted. */
  constructed: readonly string[] = [];

  // The writer's (writer.ts).
  /** Changed since the last serialization. */
  dirty = false;
  /** The write in flight: flushes that arrive meanwhile wait for it, then write once for all. */
  writing: Promise<void> | undefined;
  /** Serializing: what superjson reads through a nested Proxy is not a change. */
  serializing = false;
  /** Why a write failed: every request holding the state then fails. */
  failure: Error | undefined;

  constructor(config: Config, info: ClassInfo, id: string, stage: Stage, user?: string) {
    this.config = config;
    this.info = info;
    this.id = id;
    this.#stage = stage;
    this.user = user;
    this.hooks = config.hooks;
  }

  get stage(): Stage {
    return this.#stage;
  }

  /** The one place `stage` changes. */
  moveTo(stage: Stage): void {
    // A move the design does not allow is a bug of ours: fail loudly, not in a later request.
    if (!MOVES[this.#stage].includes(stage)) {
      throw new Error(
        `[hono-persist] internal: state "${this.info.key}" cannot move from ${this.#stage} to ${stage}`,
      );
    }
    this.#stage = stage;
  }

  /** Ended: nothing it does is saved any more. */
  get ended(): boolean {
    const stage = this.#stage;
    return stage === "cleared" || stage === "failed" || stage === "gone";
  }

  get cacheKey(): string {
    return cacheKeyOf(this.info, this.id);
  }

  /** Lets other processes have the state (option `lock`). */
  releaseLock(): void {
    const release = this.unlock;
    this.unlock = undefined;
    if (release) releaseLater(this, release);
  }

  /** Makes `proxy` (over `raw`) this state's instance. */
  attach(raw: object, proxy: object, tracker: Tracker): void {
    this.raw = raw;
    this.proxy = proxy;
    this.tracker = tracker;
    livesByProxy.set(proxy, this);
  }

  /** Forgets the instance: the next `new` builds one from the state loaded. */
  detach(): void {
    this.raw = undefined;
    this.proxy = undefined;
    this.tracker = undefined;
  }
}

/** Stored fields, as `load` decoded them, for the next `new`. */
export interface Pending {
  fields: Record<string, unknown>;
  /** Fields the constructor makes that the stored instance did not have (deleted). */
  absent: readonly string[];
  /** Upgraded by `migrate`: written at the class's version once an instance is built. */
  migrated: boolean;
}

/**
 * May a request for class `info` with this state's id use it now? `active` and `loading` ones
 * are joined; an `idle` or `saving` one is checked against the store first, or, when its class
 * was decorated again since, asked again once its change is saved (`save`); any other is no
 * longer under that id.
 */
export function joinable(live: Live, info: ClassInfo): "join" | "reload" | "save" | "no" {
  switch (live.stage) {
    case "active":
    case "loading":
      return "join";
    case "idle":
    case "saving":
      if (live.info === info) return "reload";
      // A dev server re-ran the class's module: the state is loaded anew into the new class,
      // after the old instance's change made since its request, if any, is saved.
      return live.stage === "saving" || live.dirty ? "save" : "no";
    default:
      return "no";
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

export function releaseLater(live: Live, release: () => void | Promise<void>): void {
  Promise.resolve()
    .then(release)
    .catch((error: unknown) =>
      live.config.logger.error(
        `[hono-persist] could not release the lock of "${live.info.key}" ${live.id}: ${String(error)}`,
      ),
    );
}

/** A store's failure, as the `PersistError` requests see. */
export function storeFailure(live: Live, action: string, error: unknown): PersistError {
  if (error instanceof PersistError) return error;
  return new PersistError(
    "STORE_FAILED",
    `could not ${action} state "${live.info.key}" ${live.id}: ${error instanceof Error ? error.message : String(error)}`,
    { cause: error },
  );
}
