// The contract every store keeps, run against each backend (test/stores.test.ts for the
// in-process and file stores, test/redis.test.ts for Redis, test/postgres.test.ts for
// PostgreSQL). A new backend calls it too.
import { setTimeout as delay } from "node:timers/promises";
import { v4 } from "uuid";
import { afterEach, describe, expect, test, vi } from "vitest";
import type { Store } from "../src/index.js";

export interface ContractOptions {
  /**
   * How time passes in the expiry tests: `"fake"` for a store that reads `Date.now()` (the
   * clock is faked), or how many real milliseconds stand for one second for a store whose
   * backend keeps time itself (Redis expires keys by its own clock).
   */
  clock: "fake" | { msPerSecond: number };
  /** Whether the store has `sweep()`; a store whose backend evicts expired entries has none. */
  sweeps: boolean;
  /** Whether the store keeps the sessions index (`index`, `indexed`, `unindex`). */
  indexes?: boolean;
}

/** Registers the contract's tests for the store `make()` returns (closed after each test). */
export function storeContract(name: string, make: () => Store, options: ContractOptions): void {
  const { clock } = options;
  // Seconds of the store's clock that stand for one second of the tests.
  const second = clock === "fake" ? 1 : clock.msPerSecond / 1000;
  const pass = async (ms: number) => {
    if (clock === "fake") vi.setSystemTime(Date.now() + ms);
    else await delay(ms * second);
  };

  describe(`${name} contract`, () => {
    const made: Store[] = [];
    const create = () => {
      const store = make();
      made.push(store);
      return store;
    };
    afterEach(async () => {
      vi.useRealTimers();
      await Promise.all(made.splice(0).map((store) => store.close?.()));
    });

    test("set, get, overwrite, delete", async () => {
      const store = create();
      const id = v4();
      expect(await store.get(id, 60)).toBeUndefined();
      await store.set(id, "one", 60);
      expect(await store.get(id, 60)).toBe("one");
      await store.set(id, "two ✓ unicode", 60);
      expect(await store.get(id, 60)).toBe("two ✓ unicode");
      await store.delete(id);
      expect(await store.get(id, 60)).toBeUndefined();
      await store.delete(id);
    });

    test("a 1 MiB state of multi-byte characters comes back intact", async () => {
      const store = create();
      const id = v4();
      const data = `{"s":"${"é✓😀".repeat(116_508)}"}`;
      expect(Buffer.byteLength(data)).toBeGreaterThan(1_048_000);
      await store.set(id, data, 60);
      expect(await store.get(id, 60)).toBe(data);
    });

    test("entries expire after their ttl, and get() slides the deadline", async () => {
      if (clock === "fake") vi.useFakeTimers({ toFake: ["Date"] });
      const store = create();
      const id = v4();
      const ttl = 10 * second;
      await store.set(id, "data", ttl);
      await pass(8_000);
      expect(await store.get(id, ttl)).toBe("data");
      // 16 s after the write: only the slide keeps it.
      await pass(8_000);
      expect(await store.get(id, ttl)).toBe("data");
      await pass(10_001);
      expect(await store.get(id, ttl)).toBeUndefined();
    });

    test.runIf(options.sweeps)("sweep() removes exactly the expired entries", async () => {
      if (clock === "fake") vi.useFakeTimers({ toFake: ["Date"] });
      const store = create();
      const [short, long] = [v4(), v4()];
      await store.set(short, "short", 5 * second);
      await store.set(long, "long", 50 * second);
      await pass(10_000);
      expect(await store.sweep?.()).toBe(1);
      if (clock === "fake") {
        vi.useRealTimers();
        vi.useFakeTimers({ toFake: ["Date"], now: Date.now() });
      }
      expect(await store.get(long, 50 * second)).toBe("long");
    });

    describe.runIf(options.indexes)("sessions index", () => {
      const listed = async (store: Store, user: string) =>
        Object.fromEntries((await store.indexed?.(user)) ?? []);

      test("index() upserts per user, indexed() lists, unindex() removes some or all", async () => {
        const store = create();
        const [ann, bob] = [v4(), v4()];
        const [a, b, c] = [v4(), v4(), v4()];
        await store.index?.(ann, a, '{"n":1}', 60);
        await store.index?.(ann, b, '{"n":2}', 60);
        await store.index?.(bob, c, '{"n":3}', 60);
        expect(await listed(store, ann)).toEqual({ [a]: '{"n":1}', [b]: '{"n":2}' });
        await store.index?.(ann, a, '{"n":"é✓"}', 60);
        expect(await listed(store, ann)).toEqual({ [a]: '{"n":"é✓"}', [b]: '{"n":2}' });
        await store.unindex?.(ann, [a, v4()]);
        expect(await listed(store, ann)).toEqual({ [b]: '{"n":2}' });
        await store.unindex?.(ann);
        expect(await listed(store, ann)).toEqual({});
        expect(await listed(store, bob)).toEqual({ [c]: '{"n":3}' });
        // Records are not states: the index never shows through get().
        expect(await store.get(c, 60)).toBeUndefined();
        await store.unindex?.(v4());
        await store.unindex?.(bob, []);
        expect(await listed(store, bob)).toEqual({ [c]: '{"n":3}' });
      });

      test("a record expires after its ttl; indexing it again extends it", async () => {
        if (clock === "fake") vi.useFakeTimers({ toFake: ["Date"] });
        const store = create();
        const [user, id] = [v4(), v4()];
        const ttl = 10 * second;
        await store.index?.(user, id, "{}", ttl);
        await pass(8_000);
        expect(await listed(store, user)).toEqual({ [id]: "{}" });
        await store.index?.(user, id, "{}", ttl);
        await pass(8_000);
        expect(await listed(store, user)).toEqual({ [id]: "{}" });
        await pass(2_001);
        expect(await listed(store, user)).toEqual({});
      });

      test("a short ttl never shortens another record of the user", async () => {
        if (clock === "fake") vi.useFakeTimers({ toFake: ["Date"] });
        const store = create();
        const [user, long, short] = [v4(), v4(), v4()];
        await store.index?.(user, long, "long", 50 * second);
        await store.index?.(user, short, "short", 5 * second);
        await pass(10_000);
        expect(await listed(store, user)).toEqual({ [long]: "long" });
      });

      test.runIf(options.sweeps)("sweep() removes expired records and counts them", async () => {
        if (clock === "fake") vi.useFakeTimers({ toFake: ["Date"] });
        const store = create();
        const [user, other, long] = [v4(), v4(), v4()];
        await store.index?.(user, v4(), "a", 5 * second);
        await store.index?.(other, v4(), "b", 5 * second);
        await store.index?.(user, long, "long", 50 * second);
        await pass(10_000);
        expect(await store.sweep?.()).toBe(2);
        expect(await store.sweep?.()).toBe(0);
        expect(await listed(store, user)).toEqual({ [long]: "long" });
      });
    });
  });
}
