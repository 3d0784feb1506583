import { AsyncLocalStorage } from "node:async_hooks";
import type { Context } from "hono";
import type { VerifiedCookie } from "../cookie.js";
import type {
  CrossSite,
  PersistCookieOptions,
  PersistHooks,
  PersistSessionOptions,
  Store,
} from "../types.js";
import type { Live } from "./live.js";
import type { ClassInfo } from "./registry.js";

/**
 * A cookie of ours in a request: its class, and its id if the signature verified, with the
 * id's key in `Config.lives`, made once for a remembered header (the same string again is
 * looked up without being built and hashed anew). `alone`: the only value of its name in the
 * header, the only case where a bad or unknown one may be expired.
 */
export type FoundCookie = { readonly info: ClassInfo; readonly alone: boolean } & (
  | { readonly verified: VerifiedCookie; readonly cacheKey: string }
  | { readonly verified: undefined; readonly cacheKey: undefined }
);

/** `persistSession()`'s options, checked and with defaults applied. */
export interface Config {
  readonly secrets: readonly string[];
  readonly store: Store;
  readonly idleTimeout: number;
  readonly maxAge: number;
  readonly maxBytes: number;
  /** Seconds to wait for a state's cross-process lock; `undefined`: no locking. */
  readonly lock: number | undefined;
  readonly cookie: Readonly<PersistCookieOptions> & {
    readonly path: string;
    readonly sameSite: "Strict" | "Lax" | "None";
  };
  readonly logger: Pick<Console, "warn" | "error">;
  /** What becomes of a state-changing request from another site (cross-site.ts). */
  readonly crossSite: CrossSite;
  /** Option `hooks`; `undefined` when it sets none, the one check on the hot path (hooks.ts). */
  readonly hooks: PersistHooks | undefined;
  /** Option `user`: who is signed in (user.ts). */
  readonly user: PersistSessionOptions["user"];
  /** Option `device`. */
  readonly device: PersistSessionOptions["device"];
  /** What ids are derived from (a user and a key, user.ts) → those ids, one per secret. */
  readonly userIds: Map<string, readonly string[]>;
  /** Kinds of bad ids option `user` returned, each logged once. */
  readonly refused: Set<string>;
  /**
   * Browser state id → when this process last recorded it in the sessions index, under which
   * browser and for which user (the user's index id) (sessions.ts).
   */
  readonly indexed: Map<string, { at: number; browser: string; user: string }>;
  /** The live instances of this store in this process, by `Live.cacheKey`, least recently released first (cache.ts). */
  readonly lives: Map<string, Live>;
  /** Keys of states cleared or regenerated whose entry is being deleted: nothing loads them (cache.ts). */
  readonly retired: Set<string>;
  /**
   * The length of the stored JSON (`Live.data`) of the lives in `lives`, which `cacheBytes`
   * bounds. Shared, like `lives`, by every middleware over the store; only cache.ts changes it.
   */
  readonly total: { bytes: number };
  /** How many instances no request uses may stay cached. */
  readonly cacheSize: number;
  /** How long the stored JSON of the cached instances may be in all. */
  readonly cacheBytes: number;
  /** Cookie values whose signature verified, with their id: HMACs are not computed twice. */
  readonly verified: Map<string, VerifiedCookie>;
  /** `Cookie` headers whose every cookie of ours verified: the classes found in them, and ids. */
  readonly headers: Map<string, { registered: number; found: readonly FoundCookie[] }>;
}

/** What one request handled by `persistSession()` knows. */
export interface Scope {
  readonly c: Context;
  readonly config: Config;
  /** Every instance this request holds a reference on, released when it ends. */
  readonly held: Set<Live>;
  /** The instance of each key this request uses. */
  readonly lives: Map<string, Live>;
  /** Instances whose cookie must be (re)issued once they are stored (made when first needed). */
  issue: Set<Live> | undefined;
  /** Keys whose cookie must be removed: tampered, unknown or cleared (made when first needed). */
  expire: Set<string> | undefined;
  /**
   * `open` while the middleware runs. Then `closed`: what still runs in this context (a timer)
   * runs outside the request. Or `failed`: the middleware's own load or save failed, and the
   * app's `onError` (which runs in this context) gets the request's instances, unsaved.
   */
  stage: "open" | "closed" | "failed";
  /**
   * Option `user`'s answer for this request (user.ts): `undefined` before it is asked or with
   * nobody signed in, `RESOLVING` while the resolver runs.
   */
  user?: string | typeof RESOLVING | undefined;
  /**
   * Anonymous states of user-scoped classes with `merge`, by key, replaced in `lives` by the
   * user's: merged at the class's first `new` (made when first needed).
   */
  anonymous?: Map<string, Live>;
  /** Work the request started that must end before its states are saved (made when first needed). */
  pending?: Promise<void>[];
  /**
   * Work that must wait until the request has let its locks go, before the response leaves:
   * the locked deletes of `endSessions()` (sessions.ts).
   */
  after?: (() => Promise<void>)[];
}

/** `Scope.user` while option `user` runs. */
export const RESOLVING: unique symbol = Symbol("resolving");

/**
 * What the code that called the middleware sees once the middleware returns (its context
 * reaches there, see persistSession): the request whose load or save failed, while the error
 * handler that runs next may use it; else the request it was called from, if any.
 */
export class Caller {
  failed: Scope | undefined;
  readonly parent: Scope | undefined;

  constructor(parent: Scope | undefined) {
    this.parent = parent;
  }
}

/** The request whose code runs now. */
export function currentScope(): Scope | undefined {
  const store = scopes.getStore();
  if (!(store instanceof Caller)) return store;
  // Called from another request's handler (`app.request()` in it): that handler goes on here,
  // and must never see the other request's state.
  return store.parent?.stage === "open" ? store.parent : (store.failed ?? store.parent);
}

/** The current request's scope, unless it has ended (a timer that inherited it). */
export function openScope(): Scope | undefined {
  const scope = currentScope();
  return scope?.stage === "open" ? scope : undefined;
}

/** `live`'s cookie is (re)issued once it is stored. */
export function issueCookie(scope: Scope, live: Live): void {
  scope.issue ??= new Set();
  scope.issue.add(live);
}

/** The cookie of `key` is removed, unless one is issued for it. */
export function expireCookie(scope: Scope, key: string): void {
  scope.expire ??= new Set();
  scope.expire.add(key);
}

/** Live instances by store, so two middlewares over one store still share them. */
const caches = new WeakMap<Store, Pick<Config, "lives" | "retired" | "total">>();

/** The live instances of `store` in this process, their size, and its retired keys. */
export function cacheOf(store: Store): Pick<Config, "lives" | "retired" | "total"> {
  let cache = caches.get(store);
  if (!cache) {
    cache = { lives: new Map(), retired: new Set(), total: { bytes: 0 } };
    caches.set(store, cache);
  }
  return cache;
}

/** The live instances of `store` in this process. */
export function livesOf(store: Store): Map<string, Live> {
  return cacheOf(store).lives;
}

/** The request being handled, across `await`s and into helpers that never see `c`. */
export const scopes = new AsyncLocalStorage<Scope | Caller>();
