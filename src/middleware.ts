import type { MiddlewareHandler } from "hono";
import { HTTPException } from "hono/http-exception";
import { PersistError } from "./errors.js";
import { refuseCrossSite } from "./internal/cross-site.js";
import { canEnterWith } from "./internal/enter-with.js";
import { release } from "./internal/instance.js";
import type { Live } from "./internal/live.js";
import { acquire } from "./internal/load.js";
import { resolve } from "./internal/options.js";
import { cookiesOf } from "./internal/read-cookies.js";
import {
  Caller,
  expireCookie,
  type FoundCookie,
  issueCookie,
  openScope,
  type Scope,
  scopes,
} from "./internal/scope.js";
import { endSessions, forgetUser, indexBrowser, sessions } from "./internal/sessions.js";
import { loadUser } from "./internal/user.js";
import { writeCookies } from "./internal/write-cookies.js";
import { flush, needsFlush } from "./internal/writer.js";
import type { EndSessionsOptions, PersistSession, PersistSessionOptions } from "./types.js";

/**
 * The middleware that gives `@persist` classes their per-browser instances: it reads each
 * key's signed cookie, loads the state before the handler runs, and saves every change (and
 * sets the cookies) before the response leaves.
 */
export function persistSession(options: PersistSessionOptions): PersistSession {
  const config = resolve(options);
  const middleware: MiddlewareHandler = async function persistSession(c, next) {
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
      if (config.user) {
        // After the browser's states: the resolver may read them (a sign-in kept in one).
        const user = loadUser(scope);
        if (user) await user.catch(unavailable);
      }
      await scopes.run(scope, next);
      if (scope.pending) await settleAll(scope.pending);
      if (scope.held.size === 1) {
        for (const live of scope.held) if (needsFlush(live)) await flush(live);
      } else if (scope.held.size > 1) await settleAll([...scope.held].map(flush));
      if (config.user && config.store.index) await indexBrowser(scope);
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
      // The request failed after `endSessions()`: its locked pass still runs, behind the error.
      if (scope.after && scope.stage === "failed") {
        runAfter(scope).catch((error: unknown) => config.logger.error(error));
      }
    }
    if (scope.after) {
      try {
        await runAfter(scope);
      } finally {
        writeCookies(scope);
      }
      return;
    }
    writeCookies(scope);
  };
  return Object.assign(middleware, {
    sessions: (user: string) => sessions(config, user),
    endSessions: (user: string, options?: EndSessionsOptions) => endSessions(config, user, options),
    forgetUser: (user: string, options?: { keys?: readonly string[] }) =>
      forgetUser(config, user, options),
  });
}

/** What the request left for once its locks are released (sessions.ts), one at a time. */
async function runAfter(scope: Scope): Promise<void> {
  for (const task of scope.after ?? []) await task();
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
