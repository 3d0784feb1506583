import type { Context, MiddlewareHandler } from "hono";
import { deleteCookie, setCookie } from "hono/cookie";
import { HTTPException } from "hono/http-exception";
import { type CookieOptions, parse } from "hono/utils/cookie";
import { signSessionId, type VerifiedCookie, verifySessionCookie } from "./cookie.js";
import { misuse, PersistError } from "./errors.js";
import { defaultStore } from "./internal/default-store.js";
import { canEnterWith } from "./internal/enter-with.js";
import { release } from "./internal/instance.js";
import { cacheKeyOf, type Live } from "./internal/live.js";
import { acquire } from "./internal/load.js";
import { registry } from "./internal/registry.js";
import {
  Caller,
  type Config,
  cacheOf,
  expireCookie,
  type FoundCookie,
  issueCookie,
  openScope,
  type Scope,
  scopes,
} from "./internal/scope.js";
import { flush, needsFlush } from "./internal/writer.js";
import type { PersistSessionOptions } from "./types.js";

const MIN_SECRET_LENGTH = 32;
// Browsers cap a cookie's lifetime at 400 days.
const MAX_COOKIE_AGE = 400 * 24 * 3600;

/**
 * The middleware that gives `@persist` classes their per-browser instances: it reads each
 * key's signed cookie, loads the state before the handler runs, and saves every change (and
 * sets the cookies) before the response leaves.
 */
export function persistSession(options: PersistSessionOptions): MiddlewareHandler {
  const config = resolve(options);
  return async function persistSession(c, next) {
    const scope: Scope = {
      c,
      config,
      held: new Set(),
      lives: new Map(),
      issue: undefined,
      expire: undefined,
      stage: "open",
    };
    // The context of the code that called this middleware, once it returns: Hono's `onError`
    // runs there when the save below fails, and can still read the request's state through it.
    // (`scopes.run` below keeps a middleware inside `next()` from changing ours.)
    const caller = new Caller(openScope());
    if (canEnterWith) scopes.enterWith(caller);
    try {
      // Most requests need no promise of ours beyond next()'s (each costs on Node 20, whose
      // AsyncLocalStorage runs a hook per promise).
      const loading = preload(scope);
      if (loading) await loading;
      await scopes.run(scope, next);
      if (scope.held.size === 1) {
        for (const live of scope.held) if (needsFlush(live)) await flush(live);
      } else if (scope.held.size > 1) await settleAll([...scope.held].map(flush));
    } catch (error) {
      // For the error handler that runs next, in this turn of the event loop. Not longer: on
      // Node 20 the context may outlive the request (a kept-alive connection's next request).
      scope.stage = "failed";
      caller.failed = scope;
      setImmediate(() => {
        scope.stage = "closed";
        caller.failed = undefined;
      });
      // Hono moves these headers onto the error response: a state that was stored keeps its cookie.
      writeCookies(scope);
      throw error;
    } finally {
      if (scope.stage === "open") scope.stage = "closed";
      for (const live of scope.held) release(live);
    }
    writeCookies(scope);
  };
}

function resolve(options: PersistSessionOptions): Config {
  if (typeof options !== "object" || options === null) {
    throw misuse("persistSession() needs options with a `secret`");
  }
  const secrets = typeof options.secret === "string" ? [options.secret] : options.secret;
  if (!Array.isArray(secrets) || secrets.length === 0) {
    throw misuse(
      "option `secret` is required: a string of at least 32 characters, or an array of them",
    );
  }
  for (const secret of secrets) {
    if (typeof secret !== "string" || secret.length < MIN_SECRET_LENGTH) {
      throw misuse(`option \`secret\` must be at least ${MIN_SECRET_LENGTH} characters`);
    }
  }
  const {
    idleTimeout = 30 * 24 * 3600,
    maxAge = 365 * 24 * 3600,
    maxBytes = 1024 * 1024,
  } = options;
  positive("idleTimeout", idleTimeout);
  positive("maxAge", maxAge);
  positive("maxBytes", maxBytes);
  const { cacheSize = 1000 } = options;
  if (!Number.isSafeInteger(cacheSize) || cacheSize < 0) {
    throw misuse("option `cacheSize` must be a whole number, 0 or more");
  }
  if (maxAge > MAX_COOKIE_AGE)
    throw misuse(`option \`maxAge\` must be at most ${MAX_COOKIE_AGE} seconds (400 days)`);

  const { path = "/", sameSite = "Lax", hostPrefix = false, secure, domain } = options.cookie ?? {};
  if (!["Strict", "Lax", "None"].includes(sameSite)) {
    throw misuse('option `cookie.sameSite` must be "Strict", "Lax" or "None"');
  }
  if (hostPrefix && (secure === false || path !== "/" || domain !== undefined)) {
    throw misuse(
      'option `cookie.hostPrefix` needs a Secure cookie with `path` "/" and no `domain`',
    );
  }
  if (sameSite === "None" && secure === false) {
    throw misuse('option `cookie.sameSite` "None" needs a Secure cookie');
  }
  const store = options.store ?? defaultStore();
  const lock = options.lock === true ? {} : options.lock || undefined;
  if (lock !== undefined) {
    if (typeof store.lock !== "function") {
      throw misuse(
        "option `lock` needs a store that can lock (`FileStore`, `RedisStore`, or a store with `lock()`)",
      );
    }
    positive("lock.timeout", lock.timeout ?? 5);
  }
  return {
    secrets,
    store,
    idleTimeout,
    maxAge,
    maxBytes,
    lock: lock && (lock.timeout ?? 5),
    cookie: {
      path,
      sameSite,
      hostPrefix,
      ...(secure !== undefined && { secure }),
      ...(domain !== undefined && { domain }),
    },
    logger: options.logger ?? console,
    ...cacheOf(store),
    cacheSize,
    verified: new Map(),
    headers: new Map(),
  };
}

function positive(name: string, value: unknown): void {
  if (typeof value !== "number" || !(value > 0) || !Number.isFinite(value)) {
    throw misuse(`option \`${name}\` must be a positive number`);
  }
}

/** Loads the state of every key whose cookie verifies; tampered or unknown ids start fresh. */
function preload(scope: Scope): Promise<void> | undefined {
  const { c, config } = scope;
  const header = c.req.header("Cookie");
  if (!header) return;
  const found = cookiesOf(config, header);
  if (!found) return;
  const load = ({ info, verified, cacheKey }: FoundCookie): Promise<void> | undefined => {
    const attach = (live: Live | undefined) => {
      // Strict mode: a validly signed id with nothing stored is not adopted either.
      if (!live || !verified) {
        expireCookie(scope, info.key);
        return;
      }
      scope.held.add(live);
      scope.lives.set(info.key, live);
      if (verified.rotated) issueCookie(scope, live);
    };
    const live = verified && acquire(config, info, verified.id, cacheKey);
    if (live instanceof Promise) return live.then(attach, unavailable);
    attach(live);
    return undefined;
  };
  if (found.length === 1) return load(found[0] as FoundCookie);
  if (config.lock !== undefined) {
    // With `lock`, one at a time in key order: two processes locking two keys of one browser in
    // opposite orders would wait on each other until the timeout.
    const ordered = [...found].sort((a, b) => (a.info.key < b.info.key ? -1 : 1));
    return (async () => {
      for (const entry of ordered) await load(entry);
    })();
  }
  return settleAll(found.map(async (entry) => load(entry)));
}

// Only headers whose every cookie of ours verified are remembered (forged ones cannot fill the
// map), up to this many of up to this length: at most ~4 MB.
const MAX_HEADERS = 4096;
const MAX_HEADER_LENGTH = 1024;
// Valid signatures only are remembered: forged cookies cannot fill the map.
const MAX_VERIFIED = 10_000;

/**
 * The cookies of ours in a `Cookie` header. A browser sends the same header again and again:
 * a header seen before is answered from memory, without parsing it or checking signatures
 * (parsing alone cost ~6 µs of the ~30 a request takes on the 2-core bench machine).
 */
function cookiesOf(config: Config, header: string): readonly FoundCookie[] | undefined {
  const known = config.headers.get(header);
  // Classes decorated since then may have a cookie in it too.
  if (known && known.registered === registry.size) return known.found;
  const prefix = config.cookie.hostPrefix ? "__Host-" : "";
  let found: FoundCookie[] | undefined;
  let forged = false;
  for (const info of registry.values()) {
    const name = prefix + info.key;
    // Hono answers `{}` when the name is absent: `constructor` would be Object's.
    const value: unknown = parse(header, name)[name];
    if (typeof value !== "string") continue;
    const verified = verify(config, value);
    if (!verified) forged = true;
    found ??= [];
    found.push(
      verified
        ? { info, verified, cacheKey: cacheKeyOf(info, verified.id) }
        : { info, verified, cacheKey: undefined },
    );
  }
  if (found && !forged && header.length <= MAX_HEADER_LENGTH) {
    if (config.headers.size >= MAX_HEADERS) config.headers.clear();
    config.headers.set(header, { registered: registry.size, found });
  }
  return found;
}

function verify(config: Config, value: string): VerifiedCookie | undefined {
  const known = config.verified.get(value);
  if (known) return known;
  const verified = verifySessionCookie(value, config.secrets);
  if (verified) {
    if (config.verified.size >= MAX_VERIFIED) config.verified.clear();
    config.verified.set(value, verified);
  }
  return verified;
}

/** A lock that did not come in time answers 503, which says "try again", not 500. */
function unavailable(error: unknown): never {
  if (error instanceof PersistError && error.code === "LOCK_TIMEOUT") {
    throw new HTTPException(503, { message: error.message, cause: error });
  }
  throw error;
}

/** Waits for every promise, then throws the first failure: no work is left running behind an error. */
async function settleAll(promises: Promise<unknown>[]): Promise<void> {
  for (const result of await Promise.allSettled(promises)) {
    if (result.status === "rejected") throw result.reason;
  }
}

function writeCookies(scope: Scope): void {
  const { c, config, issue, expire } = scope;
  if (!issue && !expire) return;
  const issued = new Set<string>();
  for (const live of issue ?? []) {
    if (live.ended || live.saved === undefined) continue;
    const lifetime = Math.min(
      config.maxAge,
      Math.ceil((live.created + config.maxAge * 1000 - Date.now()) / 1000),
    );
    setCookie(c, live.info.key, signSessionId(live.id, config.secrets[0] as string), {
      ...attributes(c, config),
      maxAge: Math.max(0, lifetime),
    });
    issued.add(live.info.key);
  }
  for (const key of expire ?? []) {
    if (!issued.has(key)) deleteCookie(c, key, attributes(c, config));
  }
  // A shared cache that stored this response would hand the session cookie to other users.
  if ((issued.size > 0 || expire) && !c.res.headers.has("Cache-Control")) {
    c.header("Cache-Control", "private, no-store");
  }
}

function attributes(c: Context, config: Config): CookieOptions {
  const { path, sameSite, domain, hostPrefix } = config.cookie;
  const secure =
    config.cookie.secure ?? (hostPrefix || sameSite === "None" || c.req.url.startsWith("https:"));
  return {
    path,
    sameSite,
    httpOnly: true,
    secure,
    ...(domain !== undefined && { domain }),
    ...(hostPrefix && { prefix: "host" as const }),
  };
}
