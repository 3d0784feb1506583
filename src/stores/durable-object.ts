/// <reference types="@cloudflare/workers-types" />
// Cloudflare runs each Durable Object in one place at a time, so one object per stored id gives
// that id strongly consistent reads and writes, and a lock held in the object's memory.
import { DurableObject } from "cloudflare:workers";
import { isSessionId } from "../cookie.js";
import { misuse, PersistError } from "../errors.js";
import type { Store } from "../types.js";

// The records of a user's sessions index, in an object of their own (`sessions:<user>`).
const RECORD = "i:";
interface IndexRecord {
  entry: string;
  deadline: number;
}

// A lock lives in the object's memory, taken and released by token. Not as an RPC object
// bound to the request that took it: one isolate's concurrent requests share a state, the last
// one to finish releases its lock, and Workers refuse I/O on another request's objects. A lock
// whose holder never releases it (its isolate was evicted) is freed after this long.
const LEASE_MS = 30_000;

/**
 * The Durable Object that holds one stored state (one per cookie id). Export it from your
 * Worker (`export { PersistDurableObject } from "hono-persist/cloudflare"`) and bind it in
 * wrangler.toml as a SQLite-backed class (`new_sqlite_classes`; a key-value-backed class stops
 * at 128 KiB). Keep `maxBytes` at 1 MiB (the default) or less with `DurableObjectStore`: a
 * mostly-ASCII state with one non-Latin-1 character is stored at 2 bytes per character, and a
 * state of 1.5 MiB with one "€" failed with `SQLITE_TOOBIG`.
 */
export class PersistDurableObject extends DurableObject<unknown> {
  #holder: { token: string; expiry: ReturnType<typeof setTimeout> } | undefined;
  readonly #waiting: (() => void)[] = [];

  /** The state unless it expired, its deadline moved to `ttl` seconds from now. */
  async read(ttl: number): Promise<string | undefined> {
    const stored = await this.ctx.storage.get<string | number>(["data", "deadline"]);
    const data = stored.get("data");
    if (typeof data !== "string") return undefined;
    const deadline = stored.get("deadline");
    if (typeof deadline !== "number" || deadline <= Date.now()) {
      await this.remove();
      return undefined;
    }
    // Sliding expiry moves the deadline only: the data is not written again.
    await this.ctx.storage.put("deadline", Date.now() + ttl * 1000);
    return data;
  }

  async write(data: string, ttl: number): Promise<void> {
    const deadline = Date.now() + ttl * 1000;
    await this.ctx.storage.put({ data, deadline });
    // The alarm removes the entry once expired; a read that moved the deadline since is seen
    // there, and the alarm set again.
    if ((await this.ctx.storage.getAlarm()) === null) await this.ctx.storage.setAlarm(deadline);
  }

  async remove(): Promise<void> {
    await this.ctx.storage.deleteAlarm();
    await this.ctx.storage.deleteAll();
  }

  override async alarm(): Promise<void> {
    const deadline = await this.ctx.storage.get<number>("deadline");
    // No state here: the object of a user's sessions index, whose records expire one by one.
    if (deadline === undefined) return void (await this.indexList());
    if (deadline <= Date.now()) await this.remove();
    else await this.ctx.storage.setAlarm(deadline);
  }

  /** Records `id` in this user's sessions index, until `ttl` seconds from now. */
  async indexPut(id: string, entry: string, ttl: number): Promise<void> {
    const deadline = Date.now() + ttl * 1000;
    await this.ctx.storage.put(`${RECORD}${id}`, { entry, deadline } satisfies IndexRecord);
    const alarm = await this.ctx.storage.getAlarm();
    if (alarm === null || alarm > deadline) await this.ctx.storage.setAlarm(deadline);
  }

  /** The unexpired records of this user's sessions index; the expired ones are removed. */
  async indexList(): Promise<[id: string, entry: string][]> {
    const now = Date.now();
    const records = await this.ctx.storage.list<IndexRecord>({ prefix: RECORD });
    const live: [string, string][] = [];
    const expired: string[] = [];
    let next = Number.POSITIVE_INFINITY;
    for (const [name, { entry, deadline }] of records) {
      if (deadline <= now) expired.push(name);
      else {
        live.push([name.slice(RECORD.length), entry]);
        next = Math.min(next, deadline);
      }
    }
    await this.#deleteKeys(expired);
    if (live.length > 0) await this.ctx.storage.setAlarm(next);
    return live;
  }

  /** Removes the records `ids` of this user's sessions index, or all of them. */
  async indexDrop(ids?: readonly string[]): Promise<void> {
    if (ids === undefined) return this.remove();
    await this.#deleteKeys(ids.map((id) => `${RECORD}${id}`));
  }

  async #deleteKeys(keys: readonly string[]): Promise<void> {
    // `delete()` takes at most 128 keys at a time.
    for (let i = 0; i < keys.length; i += 128)
      await this.ctx.storage.delete(keys.slice(i, i + 128));
  }

  /**
   * Takes the lock once every earlier holder released it: the token that releases it, or
   * `undefined` after `timeout` seconds. A holder that never releases it (its isolate was
   * evicted) loses it after `lease` milliseconds.
   */
  async acquire(timeout: number, lease = LEASE_MS): Promise<string | undefined> {
    if (this.#holder === undefined) return this.#hold(lease);
    return new Promise((resolve) => {
      const waiter = () => {
        clearTimeout(timer);
        resolve(this.#hold(lease));
      };
      const timer = setTimeout(() => {
        this.#waiting.splice(this.#waiting.indexOf(waiter), 1);
        resolve(undefined);
      }, timeout * 1000);
      this.#waiting.push(waiter);
    });
  }

  /** Whether `token` held the lock: false once its lease ran out. */
  async release(token: string): Promise<boolean> {
    if (this.#holder?.token !== token) return false;
    clearTimeout(this.#holder.expiry);
    this.#holder = undefined;
    // Handed to the first waiter in the same turn: a new `acquire()` cannot come in between.
    this.#waiting.shift()?.();
    return true;
  }

  #hold(lease: number): string {
    const token = crypto.randomUUID();
    const expiry = setTimeout(() => void this.release(token), lease);
    this.#holder = { token, expiry };
    return token;
  }
}

/**
 * Stores each state in its own `PersistDurableObject`, named by its id: strongly consistent
 * (a read sees every write before it, wherever the Worker runs), expiry checked at each read and
 * stored entries removed by the object's alarm once expired. `lock()` is the object's: with
 * `persistSession({ lock: true })` one browser's requests, served by any number of isolates,
 * never lose an update (each then costs two more calls to the object); a lock held longer than
 * 30 s is freed for the next request.
 *
 * ```ts
 * import { env } from "cloudflare:workers";
 * app.use(persistSession({ secret: env.SECRET, store: new DurableObjectStore(env.PERSIST) }));
 * ```
 */
export class DurableObjectStore implements Store {
  readonly #namespace: DurableObjectNamespace<PersistDurableObject>;

  /** `namespace`: the binding of `PersistDurableObject`, such as `env.PERSIST`. */
  constructor(namespace: DurableObjectNamespace<PersistDurableObject>) {
    if (typeof namespace?.idFromName !== "function") {
      throw misuse(
        'DurableObjectStore needs the Durable Object namespace bound to `PersistDurableObject`, such as `env.PERSIST` (`import { env } from "cloudflare:workers"`)',
      );
    }
    this.#namespace = namespace;
  }

  get(id: string, ttl: number): Promise<string | undefined> {
    return this.#call("read", id, (object) => object.read(ttl));
  }

  set(id: string, data: string, ttl: number): Promise<void> {
    return this.#call("write", id, (object) => object.write(data, ttl));
  }

  delete(id: string): Promise<void> {
    return this.#call("delete", id, (object) => object.remove());
  }

  /** The sessions index of `user` is one object, `sessions:<user>`, apart from every state's. */
  index(user: string, id: string, entry: string, ttl: number): Promise<void> {
    return this.#call("index", `sessions:${uuid(user)}`, (object) =>
      object.indexPut(uuid(id), entry, ttl),
    );
  }

  async indexed(user: string): Promise<[id: string, entry: string][]> {
    const records = await this.#call("list the sessions of", `sessions:${uuid(user)}`, (object) =>
      object.indexList(),
    );
    // RPC hands tuples back as arrays.
    return records.map(([id, entry]) => [id as string, entry as string]);
  }

  unindex(user: string, ids?: readonly string[]): Promise<void> {
    const names = ids?.map(uuid);
    return this.#call("unindex", `sessions:${uuid(user)}`, (object) => object.indexDrop(names));
  }

  async lock(id: string, timeout: number): Promise<() => Promise<void>> {
    const token = await this.#call("lock", id, (object) => object.acquire(timeout));
    if (token === undefined) {
      throw new PersistError(
        "LOCK_TIMEOUT",
        `${id} is still locked by another request after ${timeout} s`,
      );
    }
    return async () => {
      if (!(await this.#call("unlock", id, (object) => object.release(token)))) {
        throw new PersistError(
          "STORE_FAILED",
          `the lock of ${id} expired while held (after ${LEASE_MS / 1000} s): another request may have changed this state meanwhile`,
        );
      }
    };
  }

  async #call<T>(
    action: string,
    id: string,
    call: (object: DurableObjectStub<PersistDurableObject>) => Promise<T>,
  ): Promise<T> {
    try {
      return await call(this.#namespace.get(this.#namespace.idFromName(id)));
    } catch (cause) {
      const why = cause instanceof Error ? cause.message : String(cause);
      throw new PersistError("STORE_FAILED", `could not ${action} ${id}: ${why}`, { cause });
    }
  }
}

/** `id`, refused unless a UUIDv4: an object name made of anything else could be another's. */
function uuid(id: string): string {
  if (!isSessionId(id)) throw misuse(`DurableObjectStore: ${JSON.stringify(id)} is not a UUIDv4`);
  return id;
}
