import { derivedId } from "../cookie.js";
import { misuse } from "../errors.js";
import { unretired } from "./cache.js";
import type { Live } from "./live.js";
import { cacheKeyOf } from "./live.js";
import { acquire } from "./load.js";
import { type ClassInfo, registrations, registry } from "./registry.js";
import { type Config, RESOLVING, type Scope, scopes } from "./scope.js";

/*
 * User-scoped state (`@persist(key, { scope: "user" })`): the signed-in user's state of a class
 * is stored under an id derived from the secret, the key and the user's id, so that every
 * device finds it without a cookie, and requests of all of them share it as requests of one
 * browser do (one Live per process, the lock across processes).
 */

// Users' ids are often e-mail addresses: bounded, and well-formed (a lone surrogate would
// become U+FFFD in UTF-8, and two users one id).
export const MAX_USER_LENGTH = 1024;
export const LONE_SURROGATE =
  /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
const MAX_MEMO = 10_000;

let cachedAt = -1;
let cached: readonly ClassInfo[] = [];

/** The user-scoped classes, in key order (the order their locks are taken in). */
function userClasses(): readonly ClassInfo[] {
  if (cachedAt !== registrations) {
    cached = [...registry.values()]
      .filter((info) => info.scope === "user")
      .sort((a, b) => (a.key < b.key ? -1 : 1));
    cachedAt = registrations;
  }
  return cached;
}

/**
 * The ids of `user`'s state of `key`, one per secret: the first is where it is stored; the
 * others are where a secret since rotated out of first place stored it (see `formerIds`).
 */
export function userIds(config: Config, key: string, user: string): readonly string[] {
  return derivedIds(config, `state\0${key}\0${user}`);
}

/** The ids under which the store indexes `user`'s sessions, one per secret (sessions.ts). */
export function indexIds(config: Config, user: string): readonly string[] {
  return derivedIds(config, `sessions\0${user}`);
}

function derivedIds(config: Config, name: string): readonly string[] {
  let ids = config.userIds.get(name);
  if (!ids) {
    ids = config.secrets.map((secret) => derivedId(secret, name));
    if (config.userIds.size >= MAX_MEMO) config.userIds.clear();
    config.userIds.set(name, ids);
  }
  return ids;
}

/** Where an older secret stored the state of `live` (a user's): searched when its id holds nothing. */
export function formerIds(live: Live): readonly string[] {
  return live.user === undefined ? [] : userIds(live.config, live.info.key, live.user).slice(1);
}

/**
 * Asks option `user` who is signed in, and loads that user's state of every user-scoped
 * class, in key order, after the browser's (preload): the request then uses those.
 */
export function loadUser(scope: Scope): Promise<void> | undefined {
  const classes = userClasses();
  // Asked anyway when the store keeps the sessions index: a browser state cleared or
  // regenerated in the request leaves the user's index (sessions.ts).
  if (classes.length === 0 && !scope.config.store.unindex) return;
  const user = resolveUser(scope);
  if (user instanceof Promise) {
    return user.then((value) =>
      value === undefined || classes.length === 0 ? undefined : loadAll(scope, classes, value),
    );
  }
  return user === undefined || classes.length === 0 ? undefined : loadAll(scope, classes, user);
}

async function loadAll(scope: Scope, classes: readonly ClassInfo[], user: string): Promise<void> {
  const { config } = scope;
  for (const info of classes) {
    const id = userIds(config, info.key, user)[0] as string;
    const cacheKey = cacheKeyOf(info, id);
    // Being cleared by another device's request (clear.ts): what it starts again is this
    // user's state, shared; starting one of our own would overwrite it, or be deleted.
    const clearing = unretired(config, cacheKey);
    if (clearing) await clearing;
    // A cached instance whose entry is gone (cleared on another device) ends, and a fresh one
    // is made under the same id.
    const live =
      (await acquire(config, info, id, cacheKey, user)) ??
      (await acquire(config, info, id, cacheKey, user));
    // Retired: being cleared meanwhile; the first `new` starts fresh.
    if (!live) continue;
    scope.held.add(live);
    const anonymous = scope.lives.get(info.key);
    if (anonymous && info.merge) {
      scope.anonymous ??= new Map();
      scope.anonymous.set(info.key, anonymous);
    }
    scope.lives.set(info.key, live);
  }
}

/**
 * Option `user`'s answer, run in the request's context (it may read per-browser persisted
 * classes); `undefined` for nobody, and for an id that is not one (logged once per kind).
 */
export function resolveUser(scope: Scope): string | undefined | Promise<string | undefined> {
  const { c, config } = scope;
  const resolver = config.user;
  if (!resolver) return undefined;
  scope.user = RESOLVING;
  let answer: unknown;
  try {
    answer = scopes.run(scope, () => resolver(c));
  } catch (error) {
    scope.user = undefined;
    throw error;
  }
  if (typeof (answer as PromiseLike<unknown> | null)?.then === "function") {
    return Promise.resolve(answer).then(
      (value) => settle(scope, value),
      (error: unknown) => {
        scope.user = undefined;
        throw error;
      },
    );
  }
  return settle(scope, answer);
}

function settle(scope: Scope, value: unknown): string | undefined {
  const user = valid(scope.config, value) ? value : undefined;
  scope.user = user;
  return user;
}

function valid(config: Config, value: unknown): value is string {
  if (value === undefined || value === null) return false;
  let kind: string | undefined;
  if (typeof value !== "string") kind = typeof value;
  else if (value.length === 0) kind = "an empty string";
  else if (value.length > MAX_USER_LENGTH) kind = `a string over ${MAX_USER_LENGTH} characters`;
  else if (LONE_SURROGATE.test(value)) kind = "a string with a lone surrogate";
  else return true;
  // The visitor is not at fault: the request goes on as nobody's, and the app's log says why.
  if (!config.refused.has(kind)) {
    config.refused.add(kind);
    config.logger.error(
      misuse(
        `option \`user\` returned ${kind}: return the signed-in user's id as a string of 1 to ${MAX_USER_LENGTH} characters, or undefined for nobody (the request went on as nobody's)`,
      ),
    );
  }
  return false;
}
