import { isSessionId } from "../cookie.js";
import { misuse } from "../errors.js";
import { readNow } from "../internal/read-now.js";
import type { Store } from "../types.js";

/** Options of `MemoryStore`. */
export interface MemoryStoreOptions {
  /**
   * Seconds between background sweeps of expired entries; `0` turns them off.
   * @default 600
   */
  sweepInterval?: number;
}

/**
 * State in this process's memory: for tests and demos. It does not survive a restart and is
 * not shared between processes.
 */
export class MemoryStore implements Store {
  readonly #entries = new Map<string, { data: string; deadline: number }>();
  /** The sessions index: user → id → record, apart from states so that neither shows as the other. */
  readonly #index = new Map<string, Map<string, { entry: string; deadline: number }>>();
  /** Seconds between sweeps; 0 once closed. */
  #sweepInterval: number;
  #timer: ReturnType<typeof setInterval> | undefined;

  constructor(options: MemoryStoreOptions = {}) {
    const { sweepInterval = 600 } = options;
    this.#sweepInterval = sweepInterval;
  }

  /** How many entries are held, expired ones included until swept. */
  get size(): number {
    return this.#entries.size;
  }

  async get(id: string, ttl: number): Promise<string | undefined> {
    return this.#get(id, ttl);
  }

  [readNow](id: string, ttl: number): string | undefined | Promise<string | undefined> {
    // A subclass's own `get` is honoured.
    return this.get === MemoryStore.prototype.get ? this.#get(id, ttl) : this.get(id, ttl);
  }

  #get(id: string, ttl: number): string | undefined {
    const entry = this.#entries.get(id);
    if (!entry) return undefined;
    const now = Date.now();
    if (entry.deadline <= now) {
      this.#entries.delete(id);
      return undefined;
    }
    entry.deadline = now + ttl * 1000;
    return entry.data;
  }

  async set(id: string, data: string, ttl: number): Promise<void> {
    this.#entries.set(id, { data, deadline: Date.now() + ttl * 1000 });
    this.#startSweeps();
  }

  #startSweeps(): void {
    // Started by the first write, not by the constructor: Workers refuse a timer set at a
    // module's top level, where a middleware and its store are made.
    if (this.#timer === undefined && this.#sweepInterval > 0) {
      this.#timer = setInterval(() => void this.sweep(), this.#sweepInterval * 1000);
      // Workers' timers are numbers, and keep no process alive.
      if (typeof this.#timer === "object") this.#timer.unref();
    }
  }

  async delete(id: string): Promise<void> {
    this.#entries.delete(id);
  }

  async index(user: string, id: string, entry: string, ttl: number): Promise<void> {
    checkIds(user, [id]);
    let records = this.#index.get(user);
    if (!records) {
      records = new Map();
      this.#index.set(user, records);
    }
    records.set(id, { entry, deadline: Date.now() + ttl * 1000 });
    this.#startSweeps();
  }

  async indexed(user: string): Promise<[id: string, entry: string][]> {
    checkIds(user);
    const records = this.#index.get(user);
    if (!records) return [];
    const now = Date.now();
    const listed: [string, string][] = [];
    for (const [id, record] of records) {
      if (record.deadline > now) listed.push([id, record.entry]);
    }
    return listed;
  }

  async unindex(user: string, ids?: readonly string[]): Promise<void> {
    checkIds(user, ids);
    if (ids === undefined) {
      this.#index.delete(user);
      return;
    }
    const records = this.#index.get(user);
    if (!records) return;
    for (const id of ids) records.delete(id);
    if (records.size === 0) this.#index.delete(user);
  }

  async sweep(): Promise<number> {
    const now = Date.now();
    let removed = 0;
    for (const [id, entry] of this.#entries) {
      if (entry.deadline <= now) {
        this.#entries.delete(id);
        removed++;
      }
    }
    for (const [user, records] of this.#index) {
      for (const [id, record] of records) {
        if (record.deadline <= now) {
          records.delete(id);
          removed++;
        }
      }
      if (records.size === 0) this.#index.delete(user);
    }
    return removed;
  }

  async close(): Promise<void> {
    this.#sweepInterval = 0;
    clearInterval(this.#timer);
  }
}

/** Refuses what the file-backed stores cannot name a file by, so that an app tested here behaves alike there. */
function checkIds(user: string, ids: readonly string[] = []): void {
  for (const id of [user, ...ids]) {
    if (!isSessionId(id)) throw misuse(`MemoryStore: ${JSON.stringify(id)} is not a UUIDv4`);
  }
}
