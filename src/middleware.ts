import type { Context, MiddlewareHandler } from "hono";
import { deleteCookie, setCookie } from "hono/cookie";
import { HTTPException } from "hono/http-exception";
import type { CookieOptions } from "hono/utils/cookie";
import { signSessionId, type VerifiedCookie, verifySessionCookie } from "./cookie.js";
import { misuse, PersistError } from "./errors.js";
import { refuseCrossSite } from "./internal/cross-site.js";
import { defaultStore } from "./internal/default-store.js";
import { canEnterWith } from "./internal/enter-with.js";
import { release } from "./internal/instance.js";
import { cacheKeyOf, type Live } from "./internal/live.js";
import { acquire } from "./internal/load.js";
import { type ClassInfo, registrations, registry } from "./internal/registry.js";
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
    // Before anything is loaded: a refused request neither reads nor extends a state.
    refuseCrossSite(config.crossSite, c);
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
    if (guessable(secret)) {
      throw misuse(
        `option \`secret\` is easy to guess (fewer than ${MIN_DISTINCT} different characters, or one pattern repeated): generate one with \`openssl rand -base64 32\``,
      );
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
  const { cacheSize = 1000, cacheBytes = 16 * 1024 * 1024, crossSite = "refuse" } = options;
  if (!Number.isSafeInteger(cacheSize) || cacheSize < 0) {
    throw misuse("option `cacheSize` must be a whole number, 0 or more");
  }
  if (!Number.isSafeInteger(cacheBytes) || cacheBytes < 0) {
    throw misuse("option `cacheBytes` must be a whole number, 0 or more");
  }
  if (crossSite !== "refuse" && crossSite !== "allow" && typeof crossSite !== "function") {
    throw misuse('option `crossSite` must be "refuse", "allow" or a function');
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
    crossSite,
    ...cacheOf(store),
    cacheSize,
    cacheBytes,
    verified: new Map(),
    headers: new Map(),
  };
}

// What no random generator makes. Of random 32-character secrets, fewer than 6 different
// characters has probability 3.0e-13 in hex, 2.8e-29 in base64 (5.9e-8 for decimal digits);
// a pattern of at most 16 characters repeated, under 16^-16 ≈ 5.8e-20 in hex, 64^-16 in base64.
// Length says nothing of entropy: `"a".repeat(32)` passed the length check alone.
const MIN_DISTINCT = 6;

function guessable(secret: string): boolean {
  if (new Set(secret).size < MIN_DISTINCT) return true;
  // `secret` repeats its first `period` characters (the last repeat may be cut short).
  for (let period = 1; period <= secret.length / 2; period++) {
    if (secret.startsWith(secret.slice(period))) return true;
  }
  return false;
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
  const load = ({ info, verified, cacheKey, alone }: FoundCookie): Promise<void> | undefined => {
    const attach = (live: Live | undefined) => {
      // Strict mode: a validly signed id with nothing stored is not adopted either.
      if (!live || !verified) {
        // Of several cookies of one name, none is expired: Max-Age=0 with our Path and Domain
        // removes whichever of them has those, perhaps the good one.
        if (alone) expireCookie(scope, info.key);
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

// Only headers whose every cookie of ours came once and verified are remembered (forged ones
// cannot fill the map), up to this many of up to this length: at most ~4 MB.
const MAX_HEADERS = 4096;
const MAX_HEADER_LENGTH = 1024;
// Valid signatures only are remembered: forged cookies cannot fill the map.
const MAX_VERIFIED = 10_000;
// A browser sends a name once, or a few times (cookies of other paths or domains); values past
// this many are not checked, so that a long header of forged ones costs few HMACs.
const MAX_VALUES = 8;

/**
 * The cookies of ours in a `Cookie` header; of a name sent several times, the first value that
 * verifies. A browser sends the same header again and again: a header seen before is answered
 * from memory, without parsing it or checking signatures (parsing alone cost ~6 µs of the ~30 a
 * request takes on the 2-core bench machine).
 */
function cookiesOf(config: Config, header: string): readonly FoundCookie[] | undefined {
  const known = config.headers.get(header);
  // Classes decorated since then (or again) may have a cookie in it too.
  if (known && known.registered === registrations) return known.found;
  const values = valuesOf(header, config.cookie.hostPrefix ? "__Host-" : "");
  if (!values) return undefined;
  const found: FoundCookie[] = [];
  let remember = header.length <= MAX_HEADER_LENGTH;
  for (const [info, list] of values) {
    let verified: VerifiedCookie | undefined;
    for (const value of list) {
      verified = verify(config, info.key, value);
      if (verified) break;
    }
    const alone = list.length === 1;
    if (!verified || !alone) remember = false;
    if (verified) found.push({ info, verified, cacheKey: cacheKeyOf(info, verified.id), alone });
    // Several values, none ours: left alone, as if none had come (see `alone` in preload).
    else if (alone) found.push({ info, verified, cacheKey: undefined, alone });
  }
  if (found.length === 0) return undefined;
  if (remember) {
    if (config.headers.size >= MAX_HEADERS) config.headers.clear();
    config.headers.set(header, { registered: registrations, found });
  }
  return found;
}

/**
 * Every value of each cookie of ours in a `Cookie` header, in the order sent (Hono's `parse`
 * keeps one value of a name, and a forged one sent first would hide ours).
 */
function valuesOf(header: string, prefix: string): Map<ClassInfo, string[]> | undefined {
  let values: Map<ClassInfo, string[]> | undefined;
  for (const pair of header.split(";")) {
    const equals = pair.indexOf("=");
    if (equals === -1) continue;
    const name = pair.slice(0, equals).trim();
    const info = name.startsWith(prefix) ? registry.get(name.slice(prefix.length)) : undefined;
    if (!info) continue;
    values ??= new Map();
    const list = values.get(info);
    const value = decoded(pair.slice(equals + 1).trim());
    if (!list) values.set(info, [value]);
    else if (list.length < MAX_VALUES) list.push(value);
  }
  return values;
}

/** A cookie value as `setCookie` encoded it; a malformed escape is left as it is (and refused). */
function decoded(value: string): string {
  if (!value.includes("%")) return value;
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

function verify(config: Config, key: string, value: string): VerifiedCookie | undefined {
  // A signature is of a key and an id: a value verified for one key is not for another.
  const memo = `${key}=${value}`;
  const known = config.verified.get(memo);
  if (known) return known;
  const verified = verifySessionCookie(key, value, config.secrets);
  if (verified) {
    if (config.verified.size >= MAX_VERIFIED) config.verified.clear();
    config.verified.set(memo, verified);
  }
  return verified;
}

/**
 * A lock that did not come in time answers 503, which says "try again", not 500. The body is
 * the visitor's: it names no path or id. The PersistError that does is the `cause`, for logs.
 */
function unavailable(error: unknown): never {
  if (error instanceof PersistError && error.code === "LOCK_TIMEOUT") {
    throw new HTTPException(503, { message: "state is busy, try again", cause: error });
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
    const { key } = live.info;
    setCookie(c, key, signSessionId(key, live.id, config.secrets[0] as string), {
      ...attributes(c, config),
      maxAge: Math.max(0, lifetime),
    });
    issued.add(key);
  }
  for (const key of expire ?? []) {
    if (!issued.has(key)) deleteCookie(c, key, attributes(c, config));
  }
  // A shared cache that stored this response would hand the state cookie to other visitors:
  // whatever the handler said about caching, not there.
  if (issued.size > 0 || expire) {
    const control = c.res.headers.get("Cache-Control");
    c.header("Cache-Control", control ? privately(control) : "private, no-store");
  }
}

// What lets a shared cache store a response: `public`, `s-maxage`, and a `private` that names
// fields (the rest of the response could be stored).
const SHARED = /^(public|s-maxage\s*=.*|private\s*=.*)$/i;

/** `Cache-Control` directives for a private response: the handler's others are kept. */
function privately(control: string): string {
  const kept = control
    .split(",")
    .map((directive) => directive.trim())
    .filter((directive) => directive !== "" && !SHARED.test(directive));
  if (!kept.some((directive) => directive.toLowerCase() === "private")) kept.unshift("private");
  return kept.join(", ");
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
