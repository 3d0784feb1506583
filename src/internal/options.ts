import { misuse } from "../errors.js";
import type { PersistSessionOptions } from "../types.js";
import { defaultStore } from "./default-store.js";
import { hooksOf } from "./hooks.js";
import { type Config, cacheOf } from "./scope.js";

const MIN_SECRET_LENGTH = 32;
// Browsers cap a cookie's lifetime at 400 days.
const MAX_COOKIE_AGE = 400 * 24 * 3600;

/** The options of `persistSession()`, checked (a `TypeError` for each misuse) and completed. */
export function resolve(options: PersistSessionOptions): Config {
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
  const { user, device } = options;
  if (user !== undefined && typeof user !== "function") {
    throw misuse("option `user` must be a function of the context, returning the user's id");
  }
  if (device !== undefined && typeof device !== "function") {
    throw misuse("option `device` must be a function of the context");
  }
  const store = options.store ?? defaultStore();
  const lock = options.lock === true ? {} : options.lock || undefined;
  if (lock !== undefined) {
    if (typeof store.lock !== "function") {
      throw misuse(
        "option `lock` needs a store that can lock (`FileStore`, `RedisStore`, `PostgresStore`, or a store with `lock()`)",
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
    hooks: hooksOf(options.hooks),
    user,
    device,
    userIds: new Map(),
    refused: new Set(),
    indexed: new Map(),
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
