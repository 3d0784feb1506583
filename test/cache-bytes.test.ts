import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { Hono } from "hono";
import { afterEach, describe, expect, test } from "vitest";
import {
  FileStore,
  MemoryStore,
  type Persisted,
  type PersistSessionOptions,
  persist,
  persistSession,
  toRaw,
} from "../src/index.js";
import { cacheOf, livesOf } from "../src/internal/scope.js";
import { Browser, SECRET, tempDir } from "./helpers.js";

@persist("bytes")
class Blob {
  text = "";
}
interface Blob extends Persisted {}

/** A real store that remembers the length of what it was last given per id. */
class MeasuringStore extends MemoryStore {
  readonly lengths = new Map<string, number>();
  /** Called after each write. */
  onSet = () => {};
  override async set(id: string, data: string, ttl: number): Promise<void> {
    this.lengths.set(id, data.length);
    await super.set(id, data, ttl);
    this.onSet();
  }
}

function appOver(store: MemoryStore | FileStore, options: Partial<PersistSessionOptions> = {}) {
  const app = new Hono();
  app.use(persistSession({ secret: SECRET, store, ...options }));
  // Which object the request got: a cached state is the same one again.
  const instances: object[] = [];
  app.post("/", async (c) => {
    new Blob().text = "x".repeat(Number(c.req.query("length")));
    return c.text("ok");
  });
  app.get("/", (c) => {
    instances.push(toRaw(new Blob()));
    return c.text(String(new Blob().text.length));
  });
  return { app, instances };
}

const idOf = (browser: Browser) => (browser.cookie("bytes") ?? "").split(".")[0] as string;

describe("option `cacheBytes`", () => {
  test("evicts idle states least recently released first once their stored JSON is over it", async () => {
    const store = new MeasuringStore({ sweepInterval: 0 });
    const { app, instances } = appOver(store, { cacheBytes: 10_000 });
    const [a, b, c, d] = [new Browser(app), new Browser(app), new Browser(app), new Browser(app)];
    for (const browser of [a, b, c]) {
      await browser.request("/?length=3000", { method: "POST" });
    }
    const length = store.lengths.get(idOf(a)) as number;
    expect(length).toBeGreaterThan(3000);
    expect(3 * length).toBeLessThanOrEqual(10_000);
    const cached = () => [...livesOf(store).keys()].map((key) => key.split(":")[1]);
    expect(cached()).toEqual([idOf(a), idOf(b), idOf(c)]);

    // B used again: now C is the least recently released.
    await b.request("/");
    const bInstance = instances.at(-1);
    await d.request("/?length=3000", { method: "POST" });
    expect(cached()).toEqual([idOf(c), idOf(b), idOf(d)]);

    // A was evicted: its next request builds its state anew from the store; B's reuses it.
    await a.request("/");
    await b.request("/");
    expect(instances.at(-1)).toBe(bInstance);
    expect(await a.text("/")).toBe("3000");
  });

  test("a state saved larger counts at its new length", async () => {
    const store = new MeasuringStore({ sweepInterval: 0 });
    const { app } = appOver(store, { cacheBytes: 10_000 });
    const [a, b] = [new Browser(app), new Browser(app)];
    await a.request("/?length=3000", { method: "POST" });
    await b.request("/?length=3000", { method: "POST" });
    const cached = () => [...livesOf(store).keys()].map((key) => key.split(":")[1]);
    expect(cached()).toEqual([idOf(a), idOf(b)]);
    await b.request("/?length=7000", { method: "POST" });
    expect(cached()).toEqual([idOf(b)]);
    // Smaller again: the total went down by what B gave back, and A fits once more.
    await b.request("/?length=10", { method: "POST" });
    await a.request("/");
    expect(cached()).toEqual([idOf(b), idOf(a)]);
  });

  test("a state larger than `cacheBytes` alone is not kept once idle", async () => {
    const store = new MeasuringStore({ sweepInterval: 0 });
    const { app } = appOver(store, { cacheBytes: 1000 });
    const browser = new Browser(app);
    await browser.request("/?length=2000", { method: "POST" });
    expect(livesOf(store).size).toBe(0);
    expect(await browser.text("/")).toBe("2000");
  });

  test("the total stays the length of the cached states' JSON through regenerate, clear and late changes", async () => {
    const store = new MeasuringStore({ sweepInterval: 0 });
    // Two middlewares over one store share its cache, and so its total.
    const { app } = appOver(store, { cacheBytes: 9_000 });
    const other = appOver(store, { cacheBytes: 20_000 }).app;
    let late: Blob | undefined;
    for (const target of [app, other]) {
      target.post("/regenerate", async (c) => {
        await new Blob().regenerate();
        return c.text("ok");
      });
      target.post("/clear", async (c) => {
        await new Blob().clearCookieState();
        return c.text("ok");
      });
      target.post("/keep", (c) => {
        late = new Blob();
        late.text;
        return c.text("ok");
      });
    }
    const counted = () => {
      let sum = 0;
      for (const live of livesOf(store).values()) sum += live.data?.length ?? 0;
      return sum;
    };
    const browsers = Array.from({ length: 6 }, (_, i) => new Browser(i % 2 ? app : other));
    for (const [i, browser] of browsers.entries()) {
      await browser.request(`/?length=${1000 * (i + 1)}`, { method: "POST" });
      expect(cacheOf(store).total.bytes).toBe(counted());
    }
    for (const [i, browser] of browsers.entries()) {
      const path = ["/regenerate", "/clear", "/?length=50", "/", "/regenerate", "/?length=4000"][i];
      expect(
        (await browser.request(path as string, { method: path === "/" ? "GET" : "POST" })).status,
      ).toBe(200);
      expect(cacheOf(store).total.bytes).toBe(counted());
    }
    // A change made after its request ended, to a state evicted meanwhile, is written in the
    // background: the state is cached again, at its new length.
    const [first] = browsers as [Browser];
    await first.request("/keep", { method: "POST" });
    for (const browser of browsers.slice(1))
      await browser.request("/?length=3000", { method: "POST" });
    const key = `bytes:${idOf(first)}`;
    expect(livesOf(store).has(key)).toBe(false);
    const written = new Promise<void>((resolve) => {
      store.onSet = resolve;
    });
    (late as Blob).text = "y".repeat(5000);
    await written;
    expect(livesOf(store).has(key)).toBe(true);
    expect(cacheOf(store).total.bytes).toBe(counted());
    expect(await first.text("/")).toBe("5000");
    expect(cacheOf(store).total.bytes).toBe(counted());
  });

  test("must be a whole number, 0 or more", () => {
    for (const cacheBytes of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() =>
        persistSession({ secret: SECRET, store: new MemoryStore(), cacheBytes }),
      ).toThrow(
        new TypeError("[hono-persist] option `cacheBytes` must be a whole number, 0 or more"),
      );
    }
  });
});

describe("memory held by the cache", () => {
  setFlagsFromString("--expose-gc");
  const gc = runInNewContext("gc") as () => void;
  const heapMiB = () => {
    gc();
    gc();
    return process.memoryUsage().heapUsed / 2 ** 20;
  };
  const temp = tempDir();
  afterEach(() => temp.remove());

  // The default `cacheBytes` (16 MiB of stored JSON) holds 16 of these states; each takes about
  // twice its JSON in memory (its JSON and its string), so ~32 MiB, and FileStore remembers up to
  // 16 MiB more of what it wrote.
  test("300 browsers' ~1 MiB states with the default options keep the heap's growth under 64 MiB", async () => {
    const store = new FileStore({ dir: temp.dir, sweepInterval: 0 });
    const { app } = appOver(store);
    const before = heapMiB();
    for (let i = 0; i < 300; i++) {
      // No cookie: every request is a new browser, whose state is written once.
      const response = await app.request("/?length=1000000", { method: "POST" });
      expect(response.status).toBe(200);
    }
    const growth = heapMiB() - before;
    expect(growth).toBeLessThan(64);
    expect(livesOf(store).size).toBeLessThanOrEqual(16);
  }, 20_000);
});
