import { derivedId, isSessionId } from "../cookie.js";
import { misuse, PersistError } from "../errors.js";
import type { EndSessionsOptions, SessionInfo, Store } from "../types.js";
import { forget, unretireKey } from "./cache.js";
import type { Live } from "./live.js";
import { registry } from "./registry.js";
import { type Config, openScope, type Scope } from "./scope.js";
import { indexIds, LONE_SURROGATE, MAX_USER_LENGTH, resolveUser, userIds } from "./user.js";

/*
 * Sessions a user can see and end (option `user`, a store with `index`): each browser state a
 * signed-in request holds is recorded in the store's index of that user, so that the app can
 * list where the user is signed in and end those browsers' states ("sign out everywhere").
 * A record is written at a browser's first signed-in request in this process, then at most
 * every `refresh` seconds; it expires on its own a little after the state would.
 */

/** What a record of the index holds (opaque JSON to the store). */
interface Entry {
  key: string;
  /** The browser's id: its oldest state's, the same for all its keys. */
  browser: string;
  created: number;
  seen: number;
  device?: string;
}

const MAX_DEVICE_LENGTH = 200;
const MAX_MEMO = 10_000;

/** Seconds between two records of one browser state by one process. */
function refreshOf(config: Config): number {
  return Math.min(config.idleTimeout / 8, 300);
}

/**
 * Records the browser states of a request whose user is signed in (asked again now, so that
 * the sign-in request counts). Runs after the states are saved (their ids are final); a
 * browser state's first record must be written, or "sign out everywhere" could miss it, so
 * its failure fails the request; a later one is only logged.
 */
export async function indexBrowser(scope: Scope): Promise<void> {
  const { config } = scope;
  const store = config.store as Required<Pick<Store, "index">>;
  let lives: Live[] | undefined;
  for (const live of scope.lives.values()) {
    if (live.user !== undefined || live.saved === undefined || live.ended) continue;
    lives ??= [];
    lives.push(live);
  }
  if (!lives) return;
  const before = scope.user;
  const user = await resolveUser(scope);
  // Signed out, or another user signed in: the browser is no longer the first user's, who
  // must neither see it listed nor end it.
  if (typeof before === "string" && user !== before) await leave(config, before, lives);
  if (user === undefined) return;
  const indexId = indexIds(config, user)[0] as string;
  let oldest = lives[0] as Live;
  for (const live of lives) if (live.created < oldest.created) oldest = live;
  const browser = oldest.id;
  const now = Date.now();
  const refresh = refreshOf(config);
  const device = deviceOf(config, scope);
  const writes: Promise<void>[] = [];
  for (const live of lives) {
    const known = config.indexed.get(live.id);
    const fresh = known?.user === indexId && known.browser === browser;
    if (fresh && now - (known?.at ?? 0) < refresh * 1000) continue;
    const entry: Entry = {
      key: live.info.key,
      browser,
      created: live.created,
      seen: now,
      ...(device && { device }),
    };
    // No longer than the state may live, a refresh longer than it slides.
    const ttl = Math.max(
      1,
      Math.min(config.idleTimeout + refresh, (live.created + config.maxAge * 1000 - now) / 1000),
    );
    // The record under the user, and the state's owner: the user last recorded for it, so
    // that a browser that changed hands (a token expired, another user signed in) is no
    // longer the first user's to list or end, though no request saw both.
    const write = Promise.all([
      store.index(indexId, live.id, JSON.stringify(entry), ttl),
      store.index(ownerId(config, live.id), live.id, indexId, ttl),
    ]).then(
      () => {
        if (config.indexed.size >= MAX_MEMO) config.indexed.clear();
        config.indexed.set(live.id, { at: now, browser, user: indexId });
      },
      (error: unknown) => {
        const failure = indexFailure(live.info.key, live.id, error);
        // The first record for this user must be written; a refresh may fail.
        if (known?.user !== indexId) throw failure;
        config.logger.error(failure);
      },
    );
    writes.push(write);
  }
  if (writes.length === 0) return;
  const results = await Promise.allSettled(writes);
  for (const result of results) if (result.status === "rejected") throw result.reason;
}

/**
 * Removes the records of a browser's states `lives` from `user`'s index. Its failure fails the
 * request: the browser would stay listed, and ended by `user`'s "sign out everywhere".
 */
async function leave(config: Config, user: string, lives: readonly Live[]): Promise<void> {
  // Recorded again at once if the user signs back in.
  for (const live of lives) config.indexed.delete(live.id);
  try {
    await unindexAll(
      config,
      user,
      lives.map((live) => live.id),
    );
  } catch (error) {
    const first = lives[0] as Live;
    throw new PersistError(
      "STORE_FAILED",
      `could not remove state "${first.info.key}" ${first.id} from the sessions index: ${error instanceof Error ? error.message : String(error)}`,
      { cause: error },
    );
  }
}

/** Option `device`'s answer; one that is no string is the app's mistake (logged once), not the visitor's. */
function deviceOf(config: Config, scope: Scope): string | undefined {
  const device: unknown = config.device?.(scope.c);
  if (typeof device === "string") return device.slice(0, MAX_DEVICE_LENGTH);
  if (device !== undefined && device !== null && !config.refused.has("device")) {
    config.refused.add("device");
    config.logger.error(
      misuse(
        `option \`device\` returned ${typeof device}: return a string, or undefined (the session was recorded without one)`,
      ),
    );
  }
  return undefined;
}

function indexFailure(key: string, id: string, error: unknown): PersistError {
  return new PersistError(
    "STORE_FAILED",
    `could not record state "${key}" ${id} in the sessions index: ${error instanceof Error ? error.message : String(error)}`,
    { cause: error },
  );
}

/** The records of `user` over every secret, by state id. */
async function recordsOf(config: Config, user: string): Promise<Map<string, Entry>> {
  const store = indexing(config);
  const records = new Map<string, Entry>();
  const now = Date.now();
  const mine = indexIds(config, checked(user));
  for (const indexId of mine) {
    for (const [id, text] of await store.indexed(indexId)) {
      const entry = parse(text);
      // Its state idle longer than it may be: gone, whatever the record's own expiry says.
      if (!entry || entry.seen + config.idleTimeout * 1000 <= now) continue;
      const known = records.get(id);
      if (!known || known.seen < entry.seen) records.set(id, entry);
    }
  }
  // Recorded for another user since: theirs now, and off this user's list.
  const others: string[] = [];
  for (const id of records.keys()) {
    const owner = (await store.indexed(ownerId(config, id))).find(([of]) => of === id)?.[1];
    if (owner !== undefined && !mine.includes(owner)) others.push(id);
  }
  for (const id of others) records.delete(id);
  if (others.length > 0) await unindexAll(config, user, others);
  return records;
}

/** The one-record index naming the user a browser state was last recorded for. */
function ownerId(config: Config, id: string): string {
  return derivedId(config.secrets[0] as string, `owner\0${id}`);
}

/** `persistSession().sessions(user)`: the browsers `user` is signed in on, most recent first. */
export async function sessions(config: Config, user: string): Promise<SessionInfo[]> {
  const records = await recordsOf(config, user);
  const current = currentIds();
  const browsers = new Map<string, SessionInfo>();
  for (const [id, entry] of records) {
    let session = browsers.get(entry.browser);
    if (!session) {
      session = {
        browser: entry.browser,
        keys: [],
        created: new Date(entry.created),
        seen: new Date(entry.seen),
        device: entry.device,
        current: false,
      };
      browsers.set(entry.browser, session);
    }
    session.keys.push(entry.key);
    if (entry.created < session.created.getTime()) session.created = new Date(entry.created);
    if (entry.seen > session.seen.getTime()) {
      session.seen = new Date(entry.seen);
      session.device = entry.device ?? session.device;
    }
    if (current.has(id)) session.current = true;
  }
  for (const session of browsers.values()) session.keys.sort();
  return [...browsers.values()].sort((a, b) => b.seen.getTime() - a.seen.getTime());
}

/**
 * `persistSession().endSessions(user, options)`: deletes the states of the browsers `user` is
 * signed in on (all, all but the current request's, or those named), and their records;
 * returns how many browsers. Their next request, on any process, finds nothing and starts
 * fresh.
 */
export async function endSessions(
  config: Config,
  user: string,
  options: EndSessionsOptions = {},
): Promise<number> {
  const { except, browsers } = options;
  if (except !== undefined && except !== "current") {
    throw misuse('option `except` of endSessions() must be "current"');
  }
  if (browsers !== undefined && !Array.isArray(browsers)) {
    throw misuse("option `browsers` of endSessions() must be an array of browser ids");
  }
  const scope = openScope();
  if (except === "current" && !scope) {
    throw misuse('endSessions(user, { except: "current" }) must run inside a request');
  }
  const records = await recordsOf(config, user);
  const current = currentIds();
  const keep = new Set<string>();
  if (except === "current") {
    for (const [id, entry] of records) if (current.has(id)) keep.add(entry.browser);
  }
  const ending: [key: string, id: string][] = [];
  const ended = new Set<string>();
  for (const [id, entry] of records) {
    if (keep.has(entry.browser)) continue;
    if (browsers && !browsers.includes(entry.browser)) continue;
    ending.push([entry.key, id]);
    ended.add(entry.browser);
  }
  await endEntries(config, scope, user, ending);
  return ended.size;
}

/**
 * `persistSession().forgetUser(user, options)`: deletes `user`'s state of every user-scoped
 * class (those registered in this process, and `keys`), under every secret, and ends all the
 * user's sessions.
 */
export async function forgetUser(
  config: Config,
  user: string,
  options: { keys?: readonly string[] } = {},
): Promise<void> {
  const { keys = [] } = options;
  if (!Array.isArray(keys) || !keys.every((key) => typeof key === "string")) {
    throw misuse("option `keys` of forgetUser() must be an array of @persist keys");
  }
  checked(user);
  const all = new Set(keys);
  for (const info of registry.values()) if (info.scope === "user") all.add(info.key);
  const states: [key: string, id: string][] = [];
  for (const key of all) for (const id of userIds(config, key, user)) states.push([key, id]);
  await endEntries(config, openScope(), undefined, states);
  if (config.store.index) await endSessions(config, user);
}

/**
 * Deletes each state: none loads it meanwhile (retired), a cached instance ends, and, with
 * option `lock`, the delete waits for the lock, so that a request under way on another process
 * cannot save it back. Inside a request (which holds locks another request may be waiting
 * behind) the locked delete runs again once this request has let its own locks go.
 */
async function endEntries(
  config: Config,
  scope: Scope | undefined,
  user: string | undefined,
  states: readonly [key: string, id: string][],
): Promise<void> {
  const locking = config.lock !== undefined && config.store.lock !== undefined;
  const deleteAll = async (locked: boolean) => {
    for (const [key, id] of states) {
      const cacheKey = `${key}:${id}`;
      config.retired.add(cacheKey);
      try {
        const cached = config.lives.get(cacheKey);
        if (cached) end(cached);
        if (locked) await lockedDelete(config, id);
        else await config.store.delete(id);
      } catch (error) {
        throw endFailure(key, id, error);
      } finally {
        unretireKey(config, cacheKey);
      }
      config.indexed.delete(id);
    }
    // Records go after their states: a record without a state is harmless, the reverse is not.
    if (user !== undefined)
      await unindexAll(
        config,
        user,
        states.map(([, id]) => id),
      );
  };
  await deleteAll(locking && !scope);
  if (locking && scope) {
    scope.after ??= [];
    scope.after.push(() => deleteAll(true));
  }
}

function end(live: Live): void {
  if (!live.ended) live.moveTo("cleared");
  forget(live);
  live.releaseLock();
}

async function lockedDelete(config: Config, id: string): Promise<void> {
  const unlock = await config.store.lock?.(id, config.lock as number);
  try {
    await config.store.delete(id);
  } finally {
    if (unlock) await unlock();
  }
}

function endFailure(key: string, id: string, error: unknown): PersistError {
  if (error instanceof PersistError) return error;
  return new PersistError(
    "STORE_FAILED",
    `could not end state "${key}" ${id}: ${error instanceof Error ? error.message : String(error)}`,
    { cause: error },
  );
}

/** Removes the records `ids` of `user` (all without `ids`) under every secret. */
export async function unindexAll(
  config: Config,
  user: string,
  ids?: readonly string[],
): Promise<void> {
  const store = config.store;
  if (!store.unindex) return;
  for (const indexId of indexIds(config, user)) await store.unindex(indexId, ids);
}

/**
 * After `clearCookieState()` or `regenerate()` of a browser state in a signed-in request: its
 * old id is no longer that browser's. A failure only leaves the record listed until it expires.
 */
export function unindexCleared(live: Live, id: string): Promise<void> | undefined {
  const scope = openScope();
  const { config } = live;
  if (typeof scope?.user !== "string" || live.user !== undefined || !config.store.unindex) return;
  return unindexAll(config, scope.user, [id]).catch((error: unknown) =>
    config.logger.error(
      `[hono-persist] could not remove state "${live.info.key}" ${id} from the sessions index: ${String(error)}`,
    ),
  );
}

/** The ids of the browser states the current request holds. */
function currentIds(): Set<string> {
  const ids = new Set<string>();
  const scope = openScope();
  if (scope) for (const live of scope.lives.values()) if (live.user === undefined) ids.add(live.id);
  return ids;
}

function indexing(config: Config): Required<Pick<Store, "index" | "indexed" | "unindex">> {
  const { store } = config;
  if (!store.index || !store.indexed || !store.unindex) {
    throw misuse(
      `the store (${store.constructor.name}) keeps no sessions index (\`index\`, \`indexed\`, \`unindex\`): listing and ending sessions needs one (FileStore, MemoryStore, RedisStore, PostgresStore)`,
    );
  }
  return store as Required<Pick<Store, "index" | "indexed" | "unindex">>;
}

/** As option `user`'s answer must be: a lone surrogate would be U+FFFD, another user's id. */
function checked(user: unknown): string {
  if (
    typeof user !== "string" ||
    user.length === 0 ||
    user.length > MAX_USER_LENGTH ||
    LONE_SURROGATE.test(user)
  ) {
    throw misuse(
      `a user's id must be a string of 1 to ${MAX_USER_LENGTH} characters, without a lone surrogate`,
    );
  }
  return user;
}

function parse(text: string): Entry | undefined {
  try {
    const entry = JSON.parse(text) as Partial<Entry> | null;
    if (
      typeof entry?.key === "string" &&
      typeof entry.browser === "string" &&
      isSessionId(entry.browser) &&
      typeof entry.created === "number" &&
      typeof entry.seen === "number"
    ) {
      return entry as Entry;
    }
  } catch {
    // A record not of ours: not listed.
  }
  return undefined;
}
