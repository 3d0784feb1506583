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
  });
}
