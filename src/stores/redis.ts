// Built on the official `redis` package (node-redis) rather than ioredis: Redis recommends it
// for new projects, ioredis is maintained on a best-effort basis, and connect-redis (from v9)
// supports node-redis alone. It also gives the two bounds this store relies on: a connect
// timeout, and a per-command timeout that withdraws a command still queued while the client
// reconnects, so that a write is never sent after its request was told it failed.
import { randomBytes } from "node:crypto";
import { setTimeout as delay } from "node:timers/promises";
import { createClient } from "redis";
import { isSessionId } from "../cookie.js";
import { misuse, PersistError } from "../errors.js";
import type { Store } from "../types.js";

/**
 * The part of a node-redis client (v5 or v6) that `RedisStore` uses: what `createClient()`
 * returns, whatever its modules, scripts or RESP version.
 */
export interface RedisClientLike {
  sendCommand(
    args: string[],
    options?: { timeout?: number; typeMapping?: Record<never, never> },
  ): Promise<unknown>;
  on(event: "error", listener: (error: Error) => void): unknown;
  on(event: "ready", listener: () => void): unknown;
  off(event: "error", listener: (error: Error) => void): unknown;
  off(event: "ready", listener: () => void): unknown;
}

/** A Redis Cluster node, as a node-redis cluster client names it in its events. */
export interface RedisNodeAddress {
  host: string;
  port: number;
}

/**
 * The part of a node-redis cluster client (v5 or v6) that `RedisStore` uses: what
 * `createCluster()` returns. Each command goes to the master of its key's hash slot.
 */
export interface RedisClusterLike {
  /** Tells a cluster client from a single one. */
  readonly masters: readonly { address: string }[];
  /** Which master holds each hash slot, to name the node a failed command was meant for. */
  readonly slots: readonly ({ master: { address: string } } | undefined)[];
  sendCommand(
    firstKey: string | undefined,
    isReadonly: boolean | undefined,
    args: string[],
    options?: { timeout?: number; typeMapping?: Record<never, never> },
  ): Promise<unknown>;
  on(event: "error", listener: (error: Error) => void): unknown;
  on(event: "node-error", listener: (error: Error, node: RedisNodeAddress) => void): unknown;
  on(event: "node-ready", listener: (node: RedisNodeAddress) => void): unknown;
  off(event: "error", listener: (error: Error) => void): unknown;
  off(event: "node-error", listener: (error: Error, node: RedisNodeAddress) => void): unknown;
  off(event: "node-ready", listener: (node: RedisNodeAddress) => void): unknown;
}

/** Options of `RedisStore`: give `url` (the store makes its own client) or `client`. */
export interface RedisStoreOptions {
  /**
   * `redis[s]://[[user][:password]@]host[:port][/db]`: the store creates a client, connects it
   * (reconnecting by itself after an outage) and quits it on `close()`.
   */
  url?: string;
  /**
   * A node-redis client you created and connect yourself: `createClient()`, or `createCluster()`
   * for a Redis Cluster; `close()` leaves it open. Its socket options (connect timeout,
   * reconnection) are yours to set.
   */
  client?: RedisClientLike | RedisClusterLike;
  /**
   * Prepended to every key: state lives at `<prefix><id>`, its lock at `<prefix><id>.lock`
   * (with a cluster client, `<prefix>{<id>}` and `<prefix>{<id>}.lock`: one hash slot).
   * @default "hono-persist:"
   */
  prefix?: string;
  /**
   * Seconds a connection attempt may take before it is abandoned and retried (only for the
   * client made from `url`).
   * @default 2
   */
  connectTimeout?: number;
  /**
   * Seconds a command may wait, queued while Redis is unreachable or unanswered by a Redis that
   * hangs, before it fails with `PersistError` `STORE_FAILED`: the bound on how long a request
   * waits for a Redis that is down.
   * @default 2
   */
  commandTimeout?: number;
  /**
   * Told when the connection to Redis is lost (once per outage) and when it is back, and when a
   * lock expired while held.
   * @default console
   */
  logger?: Pick<Console, "warn" | "error">;
}

// A lock outlives a crashed holder by this long; a live holder refreshes it every third of it.
const LOCK_TTL_MS = 10_000;
// Quarantined entries are kept this long for inspection, then Redis evicts them.
const QUARANTINE_MS = 7 * 24 * 3600 * 1000;
// Our own deadline comes a little after node-redis's, so that a command still queued during a
// reconnection is withdrawn by node-redis (never sent late) before we give up on it; ours only
// catches commands already sent to a Redis that does not answer.
const TIMEOUT_GRACE_MS = 50;

// Compare-and-delete / compare-and-extend: only the holder's token may release or refresh a
// lock, never a lock that expired and was taken by someone else since.
const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;
const REFRESH = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0`;
const QUARANTINE = `if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end redis.call('RENAME', KEYS[1], KEYS[2]) return redis.call('PEXPIRE', KEYS[2], ARGV[1])`;

// The sessions index: one hash per user, a field per record holding `<deadline ms>:<entry>`.
// Redis 6.2 has neither HPEXPIRE (7.4) nor PEXPIRE GT (7.0), so each record keeps its own
// deadline, on Redis's clock (TIME) like the states' PX, and the hash lives as long as its
// longest record: a shorter ttl never shortens it.
const NOW = `local t = redis.call('TIME') local now = t[1] * 1000 + math.floor(t[2] / 1000)`;
const INDEX = `${NOW}
local ttl = tonumber(ARGV[3])
redis.call('HSET', KEYS[1], ARGV[1], string.format('%d', now + ttl) .. ':' .. ARGV[2])
if redis.call('PTTL', KEYS[1]) < ttl then redis.call('PEXPIRE', KEYS[1], ttl) end
return 0`;
// The live records as [id, entry, …]; past-deadline (or unreadable) fields are removed.
const INDEXED = `${NOW}
local all, live = redis.call('HGETALL', KEYS[1]), {}
for i = 1, #all, 2 do
  local value = all[i + 1]
  local colon = string.find(value, ':', 1, true)
  local deadline = colon and tonumber(string.sub(value, 1, colon - 1))
  if deadline and deadline > now then
    live[#live + 1] = all[i]
    live[#live + 1] = string.sub(value, colon + 1)
  else
    redis.call('HDEL', KEYS[1], all[i])
  end
end
return live`;

/**
 * State in Redis, one string per session at `<prefix><id>`, shared by every server that uses
 * the same Redis: a write through one is read by the next request through another.
 *
 * Expiry is Redis's own (`PX`): reads slide it with `GETEX`, and Redis evicts what expires, so
 * there is no `sweep()`. Each write is a single `SET`, atomic. `lock()` is a `SET NX PX` key
 * with a random token, released and refreshed only by its holder.
 *
 * A command waits at most `commandTimeout` seconds for a Redis that is down or hangs, then
 * fails with `STORE_FAILED`; the client reconnects by itself, and the next request after Redis
 * is back works without a restart.
 *
 * With a Redis Cluster client, each browser's keys carry its id as a hash tag, so that its
 * state, lock and quarantined copy live in one slot of one master; states spread over all of
 * them, and a master that is down fails only the requests for its own states.
 *
 * Needs Redis 6.2 or later (`GETEX`), or a server that speaks its protocol (Valkey).
 */
export class RedisStore implements Store {
  /** The key prefix. */
  readonly prefix: string;
  readonly #client: RedisClientLike | RedisClusterLike;
  /** Whether `#client` is a cluster client: commands are routed by key, keys are hash-tagged. */
  readonly #cluster: boolean;
  readonly #owned: ReturnType<typeof createClient> | undefined;
  readonly #timeout: number;
  readonly #logger: Pick<Console, "warn" | "error">;
  readonly #locks = new Set<NodeJS.Timeout>();
  /**
   * Each Redis the store cannot reach (`""` for a single Redis, `host:port` for a cluster
   * node), with its last connection error until it is ready again: why commands time out.
   */
  readonly #down = new Map<string, string>();
  /** The client's events the store listens to, removed again by `close()`. */
  readonly #listeners: [string, (...args: never[]) => void][];

  constructor(options: RedisStoreOptions) {
    if (typeof options !== "object" || options === null) {
      throw misuse("RedisStore needs options with a `url` or a `client`");
    }
    const {
      url,
      client,
      prefix = "hono-persist:",
      connectTimeout,
      commandTimeout = 2,
      logger = console,
    } = options;
    if (url !== undefined && client !== undefined) {
      throw misuse("options `url` and `client` exclude each other: give one");
    }
    if (typeof prefix !== "string") throw misuse("option `prefix` must be a string");
    this.#cluster = Array.isArray((client as Partial<RedisClusterLike> | undefined)?.masters);
    // A brace in the prefix would become the hash tag (or void ours), and a state and its
    // quarantined copy could land in two slots, which the QUARANTINE script cannot span.
    if (this.#cluster && /[{}]/.test(prefix)) {
      throw misuse(
        "option `prefix` must not contain { or } with a cluster client: the store tags keys with {<id>}",
      );
    }
    seconds("commandTimeout", commandTimeout);
    if (typeof logger?.warn !== "function" || typeof logger.error !== "function") {
      throw misuse("option `logger` must have `warn` and `error` methods");
    }
    this.prefix = prefix;
    this.#timeout = commandTimeout * 1000;
    this.#logger = logger;
    if (client !== undefined) {
      if (typeof client?.sendCommand !== "function" || typeof client.on !== "function") {
        throw misuse(
          "option `client` must be a node-redis client, from `createClient()` or `createCluster()`",
        );
      }
      if (connectTimeout !== undefined) {
        throw misuse(
          "option `connectTimeout` applies to the client made from `url`; set `socket.connectTimeout` on your own client",
        );
      }
      this.#client = client;
    } else {
      if (typeof url !== "string" || !/^rediss?:\/\//.test(url)) {
        throw misuse(
          "option `url` must be a redis:// or rediss:// URL (or give a connected `client`)",
        );
      }
      seconds("connectTimeout", connectTimeout ?? 2);
      this.#owned = createClient({
        url,
        socket: {
          connectTimeout: (connectTimeout ?? 2) * 1000,
          // Never give up: a store that stopped reconnecting would need a restart. The jitter
          // keeps many servers from reconnecting in step after an outage.
          reconnectStrategy: (retries) => Math.min(50 * 2 ** retries, 500) + Math.random() * 50,
        },
      });
      this.#client = this.#owned;
    }
    const lost = (error: Error) => this.#lost("", error);
    // A cluster client reports each node's connection apart; its own 'error' is a failed
    // discovery of the cluster's layout.
    this.#listeners = this.#cluster
      ? [
          ["error", lost],
          [
            "node-error",
            (error: Error, node: RedisNodeAddress) => this.#lost(address(node), error),
          ],
          [
            "node-ready",
            (node: RedisNodeAddress) => {
              this.#back(address(node));
              this.#back(""); // a node answers: the cluster's layout can be read again
            },
          ],
        ]
      : [
          ["error", lost],
          ["ready", () => this.#back("")],
        ];
    // An unhandled 'error' event would crash the process at the first outage.
    for (const [event, listener] of this.#listeners) (this.#client as Emitter).on(event, listener);
    // Commands issued before the connection is ready wait in node-redis's queue (bounded by
    // `commandTimeout`); a failure to connect is reported through the 'error' event.
    this.#owned?.connect().catch(() => undefined);
  }

  async get(id: string, ttl: number): Promise<string | undefined> {
    const key = this.#key(id);
    try {
      const data = await this.#send("read", key, ["GETEX", key, "PX", px(ttl)]);
      return data === null ? undefined : String(data);
    } catch (error) {
      // Something other than a string at our key (a hash planted there): not ours to read.
      if (error instanceof PersistError && /^WRONGTYPE/.test(reason(error.cause))) {
        throw new PersistError("INVALID_STATE", `${key} is not a Redis string`, {
          cause: error.cause,
        });
      }
      throw error;
    }
  }

  async set(id: string, data: string, ttl: number): Promise<void> {
    const key = this.#key(id);
    await this.#send("write", key, ["SET", key, data, "PX", px(ttl)]);
  }

  async delete(id: string): Promise<void> {
    const key = this.#key(id);
    await this.#send("delete", key, ["DEL", key]);
  }

  /** Renames the entry to `<prefix><id>.corrupt`, which Redis evicts after a week. */
  async quarantine(id: string): Promise<void> {
    const key = this.#key(id);
    await this.#send("quarantine", key, [
      "EVAL",
      QUARANTINE,
      "2",
      key,
      `${key}.corrupt`,
      String(QUARANTINE_MS),
    ]);
  }

  /**
   * Records `id` in the hash `<prefix>sessions:<user>` (cluster: `<prefix>sessions:{<user>}`),
   * with its deadline in the value.
   */
  async index(user: string, id: string, entry: string, ttl: number): Promise<void> {
    const key = this.#indexKey(user);
    uuid(id);
    await this.#send("index", key, ["EVAL", INDEX, "1", key, id, entry, px(ttl)]);
  }

  async indexed(user: string): Promise<[id: string, entry: string][]> {
    const key = this.#indexKey(user);
    const flat = (await this.#send("list", key, ["EVAL", INDEXED, "1", key])) as string[];
    const records: [string, string][] = [];
    for (let i = 0; i < flat.length; i += 2) {
      records.push([String(flat[i]), String(flat[i + 1])]);
    }
    return records;
  }

  async unindex(user: string, ids?: readonly string[]): Promise<void> {
    const key = this.#indexKey(user);
    if (ids === undefined) {
      await this.#send("unindex", key, ["DEL", key]);
      return;
    }
    for (const id of ids) uuid(id);
    if (ids.length > 0) await this.#send("unindex", key, ["HDEL", key, ...ids]);
  }

  /**
   * An exclusive lock on `id` across every server sharing this Redis, held from load to save
   * when `persistSession({ lock: true })`. A holder that crashed stops refreshing it, and Redis
   * evicts it within 10 s.
   */
  async lock(id: string, timeout: number): Promise<() => Promise<void>> {
    const key = `${this.#key(id)}.lock`;
    const token = randomBytes(16).toString("hex");
    const deadline = Date.now() + timeout * 1000;
    for (let attempt = 0; ; attempt++) {
      const set = ["SET", key, token, "NX", "PX", String(LOCK_TTL_MS)];
      if ((await this.#send("lock", key, set)) !== null) break;
      // Negated so that a NaN timeout fails at once instead of polling forever.
      if (!(Date.now() < deadline)) {
        throw new PersistError(
          "LOCK_TIMEOUT",
          `${key} is still locked by another request after ${timeout} s`,
        );
      }
      // Waiters poll: a holder in another process has no way to wake them.
      await delay(Math.min(1 + attempt, 20) * (0.5 + Math.random()));
    }
    const refresh = setInterval(() => {
      this.#send("refresh", key, ["EVAL", REFRESH, "1", key, token, String(LOCK_TTL_MS)]).then(
        (refreshed) => {
          if (refreshed !== 0 || !this.#locks.has(refresh)) return;
          this.#stopRefresh(refresh);
          this.#logger.error(
            `[hono-persist] the lock ${key} expired while held (Redis unreachable or the event loop blocked for ${LOCK_TTL_MS / 1000} s): another request may have changed this state meanwhile`,
          );
        },
        // Redis unreachable: already logged; the next refresh tries again.
        () => undefined,
      );
    }, LOCK_TTL_MS / 3).unref();
    this.#locks.add(refresh);
    return async () => {
      this.#stopRefresh(refresh);
      await this.#send("unlock", key, ["EVAL", RELEASE, "1", key, token]);
    };
  }

  /** Stops refreshing held locks, and quits the client if the store created it. */
  async close(): Promise<void> {
    for (const refresh of this.#locks) this.#stopRefresh(refresh);
    const owned = this.#owned;
    if (!owned) {
      for (const [event, listener] of this.#listeners) {
        (this.#client as Emitter).off(event, listener);
      }
      return;
    }
    // The 'error' listener stays: a late socket error must not crash the process either.
    if (!owned.isOpen) return;
    // Gracefully when Redis answers (pending commands complete), at once when it does not.
    const closed = owned.close().then(
      () => true,
      () => false,
    );
    const timer = delay(this.#timeout, false, { ref: false });
    if (!(await Promise.race([closed, timer]))) owned.destroy();
  }

  #stopRefresh(refresh: NodeJS.Timeout): void {
    clearInterval(refresh);
    this.#locks.delete(refresh);
  }

  /** `key` is the command's first key: a cluster client sends the command to its master. */
  async #send(action: string, key: string, args: string[]): Promise<unknown> {
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Unanswered()), this.#timeout + TIMEOUT_GRACE_MS);
    });
    try {
      // `typeMapping: {}`: plain strings, whatever mapping the caller's client was given.
      const options = { timeout: this.#timeout, typeMapping: {} };
      const reply = this.#cluster
        ? (this.#client as RedisClusterLike).sendCommand(key, false, args, options)
        : (this.#client as RedisClientLike).sendCommand(args, options);
      return await Promise.race([reply, timedOut]);
    } catch (cause) {
      let why = reason(cause);
      if (cause instanceof Unanswered || (cause as Error)?.constructor?.name === "TimeoutError") {
        const node = this.#cluster ? this.#nodeOf(key) : "";
        const last = node === undefined ? undefined : this.#down.get(node);
        why = `Redis${node ? ` node ${node}` : ""} did not answer within ${this.#timeout / 1000} s${last ? ` (${last})` : ""}`;
      }
      throw new PersistError("STORE_FAILED", `could not ${action} ${key}: ${why}`, { cause });
    } finally {
      clearTimeout(timer);
    }
  }

  /** The cluster master that holds `key`'s slot, as far as the client knows. */
  #nodeOf(key: string): string | undefined {
    return (this.#client as RedisClusterLike).slots[slotOf(key)]?.master.address;
  }

  #lost(node: string, error: Error): void {
    const known = this.#down.has(node);
    this.#down.set(node, reason(error));
    if (known) return; // Every reconnection attempt fails the same way.
    this.#logger.error(
      node
        ? `[hono-persist] RedisStore cannot reach Redis node ${node} (${reason(error)}): requests for its states fail after ${this.#timeout / 1000} s until it answers again`
        : `[hono-persist] RedisStore cannot reach Redis (${reason(error)}): requests fail after ${this.#timeout / 1000} s until it answers again`,
    );
  }

  #back(node: string): void {
    if (!this.#down.delete(node)) return;
    this.#logger.warn(
      `[hono-persist] RedisStore reaches Redis${node ? ` node ${node}` : ""} again`,
    );
  }

  #key(id: string): string {
    // Ids are validated before they get here; this keeps a store used directly just as safe.
    if (!isSessionId(id)) throw misuse(`RedisStore: ${JSON.stringify(id)} is not a UUIDv4`);
    // The hash tag puts a state, its lock and its quarantined copy in one slot. A single
    // Redis keeps the untagged keys it always had, so that no state is lost on upgrade.
    return this.#cluster ? `${this.prefix}{${id}}` : this.prefix + id;
  }

  /**
   * No state key starts with `sessions:` (they start with a hex digit or `{`). In a cluster,
   * the user is the hash tag: the hash has a slot of its own, never shared with a script
   * that touches a state.
   */
  #indexKey(user: string): string {
    uuid(user);
    return `${this.prefix}sessions:${this.#cluster ? `{${user}}` : user}`;
  }
}

/** The index's user and ids name keys and fields: as `#key` does for states. */
function uuid(id: string): void {
  if (!isSessionId(id)) throw misuse(`RedisStore: ${JSON.stringify(id)} is not a UUIDv4`);
}

/** What the store needs of a client's events, whichever kind it is. */
type Emitter = {
  on(event: string, listener: (...args: never[]) => void): unknown;
  off(event: string, listener: (...args: never[]) => void): unknown;
};

function address(node: RedisNodeAddress): string {
  return `${node.host}:${node.port}`;
}

/** Redis Cluster's hash slot of `key`: CRC16 (XMODEM) of its hash tag, or of the whole key. */
function slotOf(key: string): number {
  const open = key.indexOf("{");
  const close = open < 0 ? -1 : key.indexOf("}", open + 1);
  let crc = 0;
  for (const byte of Buffer.from(close > open + 1 ? key.slice(open + 1, close) : key)) {
    crc ^= byte << 8;
    for (let bit = 0; bit < 8; bit++) crc = ((crc << 1) ^ (crc & 0x8000 ? 0x1021 : 0)) & 0xffff;
  }
  return crc % 16384;
}

/** A command sent to a Redis that never answered it. */
class Unanswered extends Error {}

/** Redis expiries are whole milliseconds, at least one. */
function px(ttl: number): string {
  return String(Math.max(1, Math.ceil(ttl * 1000)));
}

function reason(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function seconds(name: string, value: unknown): void {
  if (typeof value !== "number" || !(value > 0) || !Number.isFinite(value)) {
    throw misuse(`option \`${name}\` must be a positive number of seconds`);
  }
}
