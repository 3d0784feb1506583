import type { Context, MiddlewareHandler } from "hono";
import type { PersistError } from "./errors.js";

/**
 * Where serialized state lives. A store moves strings and expiry; validation, serialization and
 * cookies are the middleware's, so a new backend is a few dozen lines.
 *
 * Every `id` a store receives is a canonical UUIDv4 the middleware has already validated.
 */
export interface Store {
  /**
   * The data stored under `id`, or `undefined` when there is none or it has expired. Extends the
   * expiry to `ttl` seconds from now (sliding expiration) without rewriting the data.
   * Rejects with a `PersistError` of code `INVALID_STATE` for an entry that must not be read
   * (for example a symlink planted in a store directory); the middleware quarantines it.
   */
  get(id: string, ttl: number): Promise<string | undefined>;
  /** Replaces the data under `id` atomically: a reader sees the old data or the new, never a mix. */
  set(id: string, data: string, ttl: number): Promise<void>;
  /** Removes `id`; removing what is not there is not an error. */
  delete(id: string): Promise<void>;
  /** Moves an unreadable entry out of the way, keeping it for inspection. Falls back to `delete`. */
  quarantine?(id: string, reason: string): Promise<void>;
  /**
   * Locks `id` against other processes (or servers) until the returned function is called;
   * rejects with `PersistError` `LOCK_TIMEOUT` after `timeout` seconds. Needed by
   * `persistSession({ lock: true })`.
   */
  lock?(id: string, timeout: number): Promise<() => void | Promise<void>>;
  /**
   * The sessions index (`persistSession({ user })`, docs/sessions.md): records that browser
   * state `id` belongs to `user`, replacing any record of `id` under `user`. `user` is a
   * UUIDv4 the middleware derived from the app's user id (never the id itself); `entry` is
   * opaque JSON of at most 1 KiB. The record expires `ttl` seconds from now, on its own: a
   * shorter ttl of another record never shortens it. `index`, `indexed` and `unindex` come
   * together; a store without them still keeps user-scoped state, but cannot list or end a
   * user's sessions.
   */
  index?(user: string, id: string, entry: string, ttl: number): Promise<void>;
  /** The unexpired records of `user`, as `[id, entry]` pairs in any order. */
  indexed?(user: string): Promise<[id: string, entry: string][]>;
  /** Removes the records `ids` of `user`, or all of them without `ids`. */
  unindex?(user: string, ids?: readonly string[]): Promise<void>;
  /**
   * Removes expired entries (index records included) and returns how many; stores whose
   * backend expires entries by itself leave it out.
   */
  sweep?(): Promise<number>;
  /** Stops background work (sweep timers, connections). */
  close?(): Promise<void>;
}

/** Cookie attributes. `HttpOnly` is always set: no script ever needs the id. */
export interface PersistCookieOptions {
  /**
   * Send the cookie over HTTPS only.
   * @default true when the request URL is `https:`, else false
   */
  secure?: boolean;
  /** @default "Lax" */
  sameSite?: "Strict" | "Lax" | "None";
  /** @default "/" */
  path?: string;
  /** Share the cookie with subdomains; leave unset to keep it on this host. */
  domain?: string;
  /**
   * Name the cookie `__Host-<key>`, which browsers accept only from HTTPS, with `Path=/` and no
   * `Domain`, so a sibling subdomain cannot plant or overwrite it.
   * @default false
   */
  hostPrefix?: boolean;
}

/** Options of `persistSession()`. */
export interface PersistSessionOptions {
  /**
   * Secret for the cookie's HMAC-SHA256 signature, at least 32 characters. An array rotates:
   * the first signs, every one verifies, and cookies signed with an older one are re-signed.
   */
  secret: string | readonly string[];
  /**
   * Where state is stored.
   * @default new FileStore() (directory `.hono-persist` in the working directory)
   */
  store?: Store;
  /**
   * Seconds of inactivity after which a browser's state expires. Each request that carries the
   * cookie restarts the clock.
   * @default 2_592_000 (30 days)
   */
  idleTimeout?: number;
  /**
   * Seconds a state may live from its creation, however active; also the cookie's `Max-Age`.
   * At most 400 days, the longest browsers keep a cookie.
   * @default 31_536_000 (365 days)
   */
  maxAge?: number;
  /**
   * Largest serialized state, in bytes. A larger state is not saved (the request fails with
   * `STATE_TOO_LARGE` and the previous state stays); a larger stored entry is quarantined.
   * @default 1_048_576 (1 MiB)
   */
  maxBytes?: number;
  /**
   * How many instances no request is using stay cached in this process, so that the next
   * request of their browser skips parsing when the stored entry is unchanged (each request
   * still reads the store, so what another process wrote is always seen). `0` caches nothing.
   * @default 1000
   */
  cacheSize?: number;
  /**
   * How much state the cache may hold, counted as the length of its stored JSON: over it,
   * idle instances go, least recently used first. In memory a state takes 2 to 7 times its
   * JSON (measured: 2× for one long string, 3× once reloaded, 6.6× for a `Map` of `Set`s), so
   * the default holds about 32 to 105 MiB however many browsers come. `0` caches nothing.
   * @default 16_777_216 (16 MiB)
   */
  cacheBytes?: number;
  /** Cookie attributes. */
  cookie?: PersistCookieOptions;
  /**
   * What to do with a request from another site that may change state: any method but GET,
   * HEAD and OPTIONS, whose `Sec-Fetch-Site` is neither `same-origin` nor `none` (or, from a
   * browser that does not send it, whose `Origin` names another host). It arrives without the
   * `Lax` or `Strict` cookie, so its fresh state's cookie would replace the visitor's.
   * `"refuse"` answers 403 before any state is loaded; a function lets through the requests
   * it returns `true` for (an OAuth `form_post` callback); `"allow"` lets all through.
   * Requests without either header (curl, webhooks) are not cross-site.
   * @default "refuse"
   */
  crossSite?: CrossSite;
  /**
   * Lock each browser's state from load to save, across processes sharing the store, so that
   * concurrent requests served by different processes never lose an update. A request that
   * waits longer than `timeout` seconds answers 503. Needs a store with `lock` (`FileStore`,
   * `RedisStore`, `PostgresStore`).
   * @default false ({ timeout: 5 } when true)
   */
  lock?: boolean | { timeout?: number };
  /**
   * Receives warnings (quarantined state) and errors of writes made outside a request.
   * @default console
   */
  logger?: Pick<Console, "warn" | "error">;
  /**
   * Called as states are stored, read, cleared, moved, expire or fail, for metrics and logs
   * (docs/options.md#hooks). Called synchronously, never awaited; one that throws or rejects is
   * logged through `logger`, and the request goes on.
   */
  hooks?: PersistHooks;
  /**
   * Who is signed in, for classes persisted with `scope: "user"` (docs/users.md): the user's
   * id as your auth middleware left it in the context, e.g. `(c) => c.get("jwtPayload")?.sub`;
   * `undefined` or `null` for nobody. Runs once per request before the handler (and again after
   * it, when the store keeps the sessions index); it may read per-browser persisted classes. An
   * id that is not a string of 1 to 1024 characters is logged as a `TypeError` and the request
   * goes on as nobody's.
   */
  user?: (c: Context) => string | undefined | null | Promise<string | undefined | null>;
  /**
   * What the sessions list shows of each browser, e.g. `(c) => c.req.header("User-Agent")`
   * (cut to 200 characters). Off by default: a user agent is personal data.
   */
  device?: (c: Context) => string | undefined;
}

/**
 * Option `hooks` of `persistSession()`: one callback per event, each optional. Each event is one
 * store operation, reported once when it ends, whatever number of requests share it.
 */
export interface PersistHooks {
  /** A fresh state was written for the first time (the write that gives it an entry). */
  created?: (event: PersistEvent) => void | Promise<void>;
  /** A stored state was read for a request (once per read: concurrent requests share one). */
  loaded?: (event: PersistEvent) => void | Promise<void>;
  /** A stored state was written again (once per write: a group commit is one write). */
  saved?: (event: PersistEvent) => void | Promise<void>;
  /** `clearCookieState()` ended the state (its entry, if any, deleted). */
  cleared?: (event: PersistEvent) => void | Promise<void>;
  /** `regenerate()` moved the state from `oldId` to `id` (written there, old entry deleted). */
  regenerated?: (event: PersistEvent & { oldId: string }) => void | Promise<void>;
  /** A request's cookie named a state the store no longer has (idle timeout, deleted) or past `maxAge`. */
  expired?: (event: PersistEvent) => void | Promise<void>;
  /** An unreadable stored entry was moved aside (or deleted); the browser starts fresh. */
  quarantined?: (event: PersistEvent & { reason: string }) => void | Promise<void>;
  /** A load or a save failed with `error`, which the request (or the logger) gets too. */
  failed?: (
    event: PersistEvent & { operation: "load" | "save"; error: PersistError },
  ) => void | Promise<void>;
}

/** What every hook receives. */
export interface PersistEvent {
  /** The key given to `@persist`. */
  key: string;
  /** The state's id (for `regenerated`, the new one). */
  id: string;
  /** UTF-8 bytes of the stored text read or written; `undefined` where there is none. */
  size: number | undefined;
  /** Milliseconds the store operation took (`performance.now()`); 0 where none ran. */
  duration: number;
}

/** Option `crossSite` of `persistSession()`: a function answers `true` to let a request through. */
export type CrossSite = "refuse" | "allow" | ((c: Context) => boolean);

/** One browser a user is signed in on, as `persistSession().sessions(user)` lists it. */
export interface SessionInfo {
  /** The browser's id (its oldest state's): give it to `endSessions(user, { browsers })`. */
  browser: string;
  /** The `@persist` keys of its states. */
  keys: string[];
  /** When its oldest state was created. */
  created: Date;
  /** Its last signed-in request this process recorded (recorded at most every `min(idleTimeout / 8, 300)` s). */
  seen: Date;
  /** What option `device` said of it, if set. */
  device: string | undefined;
  /** Whether it is the browser of the request that asks. */
  current: boolean;
}

/** Options of `persistSession().endSessions(user, options)`. */
export interface EndSessionsOptions {
  /** `"current"`: all but the browser of the request that asks ("sign out everywhere else"). */
  except?: "current";
  /** Only these browsers (`SessionInfo.browser`). */
  browsers?: readonly string[];
}

/** What `persistSession()` returns: the middleware, and what a user can do with their sessions. */
export interface PersistSession extends MiddlewareHandler {
  /**
   * The browsers `user` is signed in on (option `user`), most recently seen first. Needs a store
   * with the sessions index (`FileStore`, `MemoryStore`, `RedisStore`, `PostgresStore`).
   */
  sessions(user: string): Promise<SessionInfo[]>;
  /**
   * Ends `user`'s sessions: deletes those browsers' states (and their records), so that their
   * next request, on any process, starts signed out. Resolves to how many browsers.
   */
  endSessions(user: string, options?: EndSessionsOptions): Promise<number>;
  /**
   * Deletes everything of `user`: their state of each `scope: "user"` class registered in this
   * process and of `keys`, under every secret, and all their sessions (a deleted account).
   */
  forgetUser(user: string, options?: { keys?: readonly string[] }): Promise<void>;
}

/** Options of `@persist(key, options)`. */
export interface PersistOptions {
  /**
   * Fields not stored: they get their constructor default when state is restored.
   * @default []
   */
  exclude?: readonly string[];
  /**
   * Classes of nested values to restore as instances (registered with superjson). Their
   * constructors are not run on restore.
   * @default []
   */
  classes?: readonly (abstract new (
    ...args: never[]
  ) => unknown)[];
  /**
   * The shape's version. Raise it when stored state would no longer fit the class.
   * @default 1
   */
  version?: number;
  /**
   * Upgrades state stored by an older `version`. Without it, or when it throws, older state is
   * dropped and the browser starts fresh.
   */
  migrate?: (state: Record<string, unknown>, fromVersion: number) => Record<string, unknown>;
  /**
   * Whose state this is: each browser's, or, with `"user"`, the signed-in user's (option `user`
   * of `persistSession()`), the same on every device; with nobody signed in, the browser's.
   * @default "browser"
   */
  scope?: "browser" | "user";
  /**
   * With `scope: "user"`: called once when a browser with an anonymous state of this class
   * signs in, at the first `new` of the request, to move what the visitor did before signing
   * in into the user's state (a cart). The anonymous state is then deleted. Runs under the
   * user's lock with option `lock`; without it, two processes may both merge one state, so
   * make it idempotent (a union). Without `merge`, the anonymous state is left as it is.
   */
  // biome-ignore lint/suspicious/noExplicitAny: the decorated class's instances
  merge?: (user: any, anonymous: any) => void;
}

/** What `@persist` adds to each instance. Merge it into the class's type: `interface AppState extends Persisted {}`. */
export interface Persisted {
  /** Deletes this browser's state and expires its cookie; the next `new` starts fresh with a new id. */
  clearCookieState(): Promise<void>;
  /**
   * Gives this state a new id and cookie and deletes the old entry, so an id known before
   * (session fixation) loads nothing. Call it when a user signs in.
   */
  regenerate(): Promise<void>;
}

/** What `persistInfo()` tells about an instance, for debug panels and logs. */
export interface PersistInfo {
  /** The key given to `@persist`. */
  key: string;
  /** The session id: a UUIDv4, also the store entry's name. */
  id: string;
  /** Whose state it is: the browser's, or the signed-in user's (`scope: "user"`). */
  scope: "browser" | "user";
  /** The cookie's name; `undefined` for a user's state, which no cookie names. */
  cookieName: string | undefined;
  /** Whether this state was restored from the store (false: created fresh in this process). */
  restored: boolean;
  /** Whether the state is in the store (a fresh state is stored at its first change). */
  stored: boolean;
  /** When the stored state was last written, if it is stored. */
  savedAt: Date | undefined;
}
