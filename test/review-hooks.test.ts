// Review of option `hooks` (#21, part 3): events against docs/options.md `### Hooks`, driven by
// app.request() over MemoryStore, FileStore and a real RedisStore. No sleeps: tests wait on the
// events themselves.
import { sign } from "cookie-signature";
import { Hono } from "hono";
import { afterEach, beforeEach, describe, expect, test } from "vitest";
import {
  FileStore,
  MemoryStore,
  type Persisted,
  type PersistHooks,
  type PersistSessionOptions,
  persist,
  persistSession,
  type Store,
} from "../src/index.js";
import { resolve } from "../src/internal/options.js";
import { RedisStore } from "../src/stores/redis.js";
import { type Recorded, recorder } from "./fixtures/hook-recorder.js";
import { hasRedisServer, startRedisServer } from "./fixtures/redis-server.js";
import { Browser, SECRET, tempDir } from "./helpers.js";

@persist("rh-counter")
class Counter {
  count = 0;
  label = "";
}
interface Counter extends Persisted {}

@persist("rh-other")
class Other {
  n = 0;
}

let events: Recorded[];
let errors: string[];
let warnings: string[];
let dir: string;
let removeDir: () => void;
/** The instance the last handler made, kept past its request. */
let kept: Counter | undefined;

const record = (event: Recorded) => void events.push(event);

function makeApp(store: Store, options: Partial<PersistSessionOptions> = {}): Hono {
  const app = new Hono();
  app.use(
    persistSession({
      secret: SECRET,
      store,
      hooks: recorder(record),
      logger: { warn: (m: string) => warnings.push(m), error: (m: string) => errors.push(m) },
      ...options,
    }),
  );
  app.get("/", (c) => {
    kept = new Counter();
    return c.text(String(kept.count));
  });
  app.post("/inc", (c) => {
    kept = new Counter();
    return c.text(String(++kept.count));
  });
  app.post("/label", async (c) => {
    kept = new Counter();
    kept.label = await c.req.text();
    return c.text(kept.label);
  });
  app.post("/clear-twice", async (c) => {
    kept = new Counter();
    await kept.clearCookieState();
    await kept.clearCookieState();
    return c.text("cleared");
  });
  app.post("/inc-regenerate", async (c) => {
    kept = new Counter();
    kept.count++;
    await kept.regenerate();
    return c.text(String(kept.count));
  });
  app.post("/read-regenerate", async (c) => {
    kept = new Counter();
    await kept.regenerate();
    return c.text(String(kept.count));
  });
  return app;
}

const idOf = (browser: Browser, key = "rh-counter") => browser.cookie(key)?.split(".")[0] ?? "";
const named = (name: string) => events.filter((event) => event.name === name);

/** A promise of the next event `name`. */
function next(name: string): Promise<Recorded> {
  const seen = events.length;
  return new Promise((resolve) => {
    const check = () => {
      const found = events.slice(seen).find((event) => event.name === name);
      if (found) resolve(found);
      else setImmediate(check);
    };
    check();
  });
}

beforeEach(() => {
  events = [];
  errors = [];
  warnings = [];
  kept = undefined;
  ({ dir, remove: removeDir } = tempDir());
});
afterEach(() => removeDir());

const STORES = [
  ["MemoryStore", () => new MemoryStore({ sweepInterval: 0 })],
  ["FileStore", () => new FileStore({ dir, sweepInterval: 0 })],
] as const;

describe("findings", () => {
  test("a hook that throws an object without toString leaves the stored state loadable", async () => {
    const store = new MemoryStore({ sweepInterval: 0 });
    const browser = new Browser(
      makeApp(store, {
        hooks: {
          loaded: () => {
            throw Object.create(null);
          },
        },
      }),
    );
    expect(await browser.text("/inc", { method: "POST" })).toBe("1");
    // Was "1": the hook's error escaped emit() into loaded(), which quarantined the good state.
    expect(await browser.text("/inc", { method: "POST" })).toBe("2");
    expect(warnings).toEqual([]);
  });

  test("a `created` hook that throws an object without toString fails no request", async () => {
    const store = new MemoryStore({ sweepInterval: 0 });
    const app = makeApp(store, {
      hooks: {
        created: () => {
          throw Object.create(null);
        },
      },
    });
    const response = await app.request("/inc", { method: "POST" });
    // Was 500: the state was stored, then the hook's error failed the write.
    expect(response.status).toBe(200);
  });

  test("a hook that rejects with an object without toString: logged once, nothing unhandled", async () => {
    const store = new MemoryStore({ sweepInterval: 0 });
    const browser = new Browser(
      makeApp(store, { hooks: { created: () => Promise.reject(Object.create(null)) } }),
    );
    expect(await browser.text("/inc", { method: "POST" })).toBe("1");
    // The rejection is handled a turn later.
    await new Promise((resolve) => setImmediate(resolve));
    expect(errors).toEqual([
      `[hono-persist] hook \`created\` of "rh-counter" ${idOf(browser)} failed: [object Object]`,
    ]);
  });

  test("clearCookieState() twice on a state never stored: at most one `cleared`", async () => {
    const store = new MemoryStore({ sweepInterval: 0 });
    const app = makeApp(store);
    expect(await (await app.request("/")).text()).toBe("0");
    const instance = kept as Counter;
    await instance.clearCookieState();
    await instance.clearCookieState();
    // Its request ended it already: at most one `cleared` (none would be right too).
    expect(named("cleared").length).toBeLessThanOrEqual(1);
  });

  test("clearCookieState() twice on a state whose write failed: one `cleared`", async () => {
    const store = new MemoryStore({ sweepInterval: 0 });
    const browser = new Browser(makeApp(store));
    await browser.request("/inc", { method: "POST" });
    const set = store.set.bind(store);
    store.set = async () => {
      throw new Error("disk full");
    };
    expect((await browser.request("/inc", { method: "POST" })).status).toBe(500);
    store.set = set;
    events = [];
    const instance = kept as Counter;
    await instance.clearCookieState();
    await instance.clearCookieState();
    expect(names()).toEqual(["cleared"]);
  });

  test("`failed` of a lock that throws carries the error the request fails with", async () => {
    const store = new FileStore({ dir, sweepInterval: 0 });
    const app = makeApp(store, { lock: true });
    let seen: unknown;
    app.onError((error, c) => {
      seen = error;
      return c.text("failed", 500);
    });
    const browser = new Browser(app);
    await browser.request("/inc", { method: "POST" });
    store.lock = async () => {
      throw new Error("lock service down");
    };
    events = [];
    expect((await browser.request("/")).status).toBe(500);
    expect(names()).toEqual(["failed"]);
    expect(events[0]?.error).toMatchObject({ code: "STORE_FAILED" });
    expect(seen).toBe(events[0]?.error);
  });
});

function names(): string[] {
  for (const event of events) {
    expect(event.duration).toBeGreaterThanOrEqual(0);
    expect(event.duration).toBeLessThan(5000);
  }
  return events.map((event) => event.name);
}

describe.each(STORES)("held over %s", (_, makeStore) => {
  test("a fresh state only read: no event; a first change: created once", async () => {
    const store = makeStore();
    const browser = new Browser(makeApp(store));
    expect(await browser.text("/")).toBe("0");
    expect(events).toEqual([]);
    expect(browser.cookies.size).toBe(0);
    expect(await browser.text("/inc", { method: "POST" })).toBe("1");
    expect(names()).toEqual(["created"]);
  });

  test("size is UTF-8 bytes of a multi-byte state, for created, loaded, saved, cleared", async () => {
    const store = makeStore();
    const browser = new Browser(makeApp(store));
    const text = "héllo 😀 日本";
    expect(await browser.text("/label", { method: "POST", body: text })).toBe(text);
    const id = idOf(browser);
    const first = (await store.get(id, 100)) as string;
    expect(first).toContain(text);
    expect(Buffer.byteLength(first)).toBeGreaterThan(first.length);
    expect(events[0]).toMatchObject({ name: "created", id, size: Buffer.byteLength(first) });
    events = [];
    await browser.request("/label", { method: "POST", body: `${text}${text}` });
    const second = (await store.get(id, 100)) as string;
    expect(names()).toEqual(["loaded", "saved"]);
    expect(events[0]?.size).toBe(Buffer.byteLength(first));
    expect(events[1]?.size).toBe(Buffer.byteLength(second));
    events = [];
    await browser.request("/clear-twice", { method: "POST" });
    expect(names()).toEqual(["loaded", "cleared"]);
    expect(events[1]?.size).toBe(Buffer.byteLength(second));
  });

  test("the cached instance reused: loaded on each request, same size", async () => {
    const store = makeStore();
    const browser = new Browser(makeApp(store));
    await browser.request("/inc", { method: "POST" });
    events = [];
    await browser.request("/");
    await browser.request("/");
    expect(names()).toEqual(["loaded", "loaded"]);
    expect(events[0]?.size).toBe(events[1]?.size);
  });

  test("a change after the request: one `saved`, in the background, with its id", async () => {
    const store = makeStore();
    const browser = new Browser(makeApp(store));
    await browser.request("/inc", { method: "POST" });
    await browser.request("/");
    events = [];
    const saved = next("saved");
    (kept as Counter).count = 41;
    const event = await saved;
    expect(event).toMatchObject({
      id: idOf(browser),
      size: Buffer.byteLength((await store.get(idOf(browser), 100)) as string),
    });
    expect(names()).toEqual(["saved"]);
    expect(await browser.text("/")).toBe("41");
  });

  test("a write that fails, then succeeds: failed, then loaded and saved (not created)", async () => {
    const store = makeStore();
    const browser = new Browser(makeApp(store));
    await browser.request("/inc", { method: "POST" });
    const set = store.set.bind(store);
    let fail = true;
    store.set = async (...args) => {
      if (fail) {
        fail = false;
        throw new Error("disk full");
      }
      return set(...args);
    };
    events = [];
    expect((await browser.request("/inc", { method: "POST" })).status).toBe(500);
    expect(await browser.text("/inc", { method: "POST" })).toBe("2");
    expect(names()).toEqual(["loaded", "failed", "loaded", "saved"]);
    expect(new Set(events.map((event) => event.id))).toEqual(new Set([idOf(browser)]));
    expect(errors).toEqual([]);
  });

  test("a fresh state whose first write fails: failed, then the next first write is created", async () => {
    const store = makeStore();
    const browser = new Browser(makeApp(store));
    const set = store.set.bind(store);
    let fail = true;
    store.set = async (...args) => {
      if (fail) {
        fail = false;
        throw new Error("disk full");
      }
      return set(...args);
    };
    expect((await browser.request("/inc", { method: "POST" })).status).toBe(500);
    expect(await browser.text("/inc", { method: "POST" })).toBe("1");
    expect(names()).toEqual(["failed", "created"]);
    expect(events[0]?.duration).toBeGreaterThanOrEqual(0);
  });

  test("regenerate() of a fresh state changed: regenerated (nothing moved), then created under the new id", async () => {
    const store = makeStore();
    const browser = new Browser(makeApp(store));
    expect(await browser.text("/inc-regenerate", { method: "POST" })).toBe("1");
    const id = idOf(browser);
    expect(names()).toEqual(["regenerated", "created"]);
    expect(events[0]).toMatchObject({ id, size: undefined, duration: 0 });
    expect(events[0]?.oldId).not.toBe(id);
    expect(events[1]).toMatchObject({
      id,
      size: Buffer.byteLength((await store.get(id, 100)) as string),
    });
  });

  test("regenerate() of a stored state: every later event carries the new id", async () => {
    const store = makeStore();
    const browser = new Browser(makeApp(store));
    await browser.request("/inc", { method: "POST" });
    const oldId = idOf(browser);
    events = [];
    expect(await browser.text("/inc-regenerate", { method: "POST" })).toBe("2");
    const id = idOf(browser);
    expect(names()).toEqual(["loaded", "saved", "regenerated"]);
    expect(events.map((event) => event.id)).toEqual([oldId, id, id]);
    events = [];
    expect(await browser.text("/inc", { method: "POST" })).toBe("3");
    expect(names()).toEqual(["loaded", "saved"]);
    expect(events.every((event) => event.id === id)).toBe(true);
    expect(await store.get(oldId, 100)).toBeUndefined();
  });

  test("concurrent requests of one browser whose state is gone: how many `expired`", async () => {
    const store = makeStore();
    const browser = new Browser(makeApp(store));
    await browser.request("/inc", { method: "POST" });
    const id = idOf(browser);
    await store.delete(id);
    const app = makeApp(store);
    const cookie = `rh-counter=${browser.cookies.get("rh-counter")}`;
    events = [];
    await Promise.all([1, 2, 3].map(() => app.request("/", { headers: { cookie } })));
    // Not shared: the first read ended the state at once (the store answered synchronously), so
    // each request reads and reports it. One lost state, three `expired` (docs: see report).
    expect(named("expired").length).toBe(3);
    expect(named("expired").every((event) => event.id === id)).toBe(true);
  });

  test("regenerate() of a fresh state only read: `regenerated`, though nothing is ever stored", async () => {
    const store = makeStore();
    const browser = new Browser(makeApp(store));
    expect(await browser.text("/read-regenerate", { method: "POST" })).toBe("0");
    // No cookie, no entry, no `created` after it: the event counts a move of nothing.
    expect(browser.cookies.size).toBe(0);
    expect(names()).toEqual(["regenerated"]);
    expect(events[0]).toMatchObject({ size: undefined, duration: 0 });
  });

  test("a background write that fails: `failed` (save) once, logged once", async () => {
    const store = makeStore();
    const browser = new Browser(makeApp(store));
    await browser.request("/inc", { method: "POST" });
    await browser.request("/");
    store.set = async () => {
      throw new Error("disk full");
    };
    events = [];
    const failed = next("failed");
    (kept as Counter).count = 9;
    expect(await failed).toMatchObject({ operation: "save", id: idOf(browser), size: undefined });
    while (errors.length === 0) await new Promise((resolve) => setImmediate(resolve));
    expect(names()).toEqual(["failed"]);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(
      /^\[hono-persist\] background write failed: PersistError: .*disk full/,
    );
  });

  test("clearCookieState() twice in one request: one `cleared`", async () => {
    const store = makeStore();
    const browser = new Browser(makeApp(store));
    await browser.request("/inc", { method: "POST" });
    events = [];
    await browser.request("/clear-twice", { method: "POST" });
    expect(names()).toEqual(["loaded", "cleared"]);
  });

  test("a cookie of another key (legacy, signed without its key): no `expired`, no `loaded`", async () => {
    const store = makeStore();
    const app = makeApp(store);
    app.get("/other", (c) => c.text(String(new Other().n)));
    const browser = new Browser(app);
    await browser.request("/inc", { method: "POST" });
    const id = idOf(browser);
    events = [];
    const legacy = encodeURIComponent(sign(id, SECRET));
    const response = await app.request("/other", { headers: { cookie: `rh-other=${legacy}` } });
    expect(await response.text()).toBe("0");
    expect(events).toEqual([]);
    expect(await store.get(id, 100)).toBeDefined();
  });

  test("a hook that changes the state: its change is saved by another write (and `saved` again)", async () => {
    const store = makeStore();
    const browser = new Browser(
      makeApp(store, {
        hooks: recorder(record, {
          saved: () => {
            if (kept && kept.count < 5) kept.count++;
          },
        }),
      }),
    );
    await browser.request("/inc", { method: "POST" });
    events = [];
    expect(await browser.text("/inc", { method: "POST" })).toBe("2");
    // Each `saved` made a change, written again: a hook changing the state unconditionally
    // would never let the request answer.
    expect(names()).toEqual(["loaded", "saved", "saved", "saved", "saved"]);
    expect(await store.get(idOf(browser), 100)).toContain('"count":5');
  });

  test("a hook that calls `new State()`: a TypeError, logged once; the request is unaffected", async () => {
    const store = makeStore();
    const browser = new Browser(
      makeApp(store, {
        hooks: {
          loaded: () => void new Counter(),
          saved: () => void new Counter(),
        },
      }),
    );
    await browser.request("/inc", { method: "POST" });
    const id = idOf(browser);
    expect(await browser.text("/inc", { method: "POST" })).toBe("2");
    expect(errors).toHaveLength(2);
    expect(errors[0]).toMatch(
      new RegExp(
        `^\\[hono-persist\\] hook \`loaded\` of "rh-counter" ${id} failed: TypeError: .*create it inside a request`,
      ),
    );
    expect(errors[1]).toMatch(
      /^\[hono-persist\] hook `saved` of "rh-counter" .* failed: TypeError/,
    );
  });

  test("a hook that never settles, or rejects, delays and breaks nothing; logged once", async () => {
    const store = makeStore();
    let rejection: Promise<void> | undefined;
    const browser = new Browser(
      makeApp(store, {
        hooks: {
          loaded: () => new Promise<void>(() => undefined),
          saved: () => {
            rejection = Promise.reject(new Error("metrics down"));
            return rejection;
          },
        },
      }),
    );
    await browser.request("/inc", { method: "POST" });
    expect(await browser.text("/inc", { method: "POST" })).toBe("2");
    await rejection?.catch(() => undefined);
    await new Promise((resolve) => setImmediate(resolve));
    expect(errors).toEqual([
      `[hono-persist] hook \`saved\` of "rh-counter" ${idOf(browser)} failed: Error: metrics down`,
    ]);
  });
});

describe("lock", () => {
  test("FileStore with `lock: true`: the same events, and a throwing hook keeps no lock", async () => {
    const store = new FileStore({ dir, sweepInterval: 0 });
    const browser = new Browser(
      makeApp(store, {
        lock: { timeout: 0.5 },
        hooks: recorder(record, {
          loaded: () => {
            throw new Error("boom");
          },
        }),
      }),
    );
    await browser.request("/inc", { method: "POST" });
    expect(await browser.text("/inc", { method: "POST" })).toBe("2");
    expect(await browser.text("/inc-regenerate", { method: "POST" })).toBe("3");
    expect(names()).toEqual(["created", "loaded", "saved", "loaded", "saved", "regenerated"]);
    expect(errors).toHaveLength(2);
    const unlock = await store.lock(idOf(browser), 0.5);
    await unlock();
  });
});

describe("no hooks", () => {
  test("`hooks: {}` and `hooks: { saved: undefined }` set none", () => {
    for (const hooks of [undefined, {}, { saved: undefined }] as PersistHooks[]) {
      expect(resolve({ secret: SECRET, store: new MemoryStore(), hooks }).hooks).toBeUndefined();
    }
  });
});

describe.skipIf(!hasRedisServer())("RedisStore", () => {
  test("created, loaded, saved, regenerated, cleared, expired against a real Redis", async () => {
    const server = await startRedisServer();
    const store = new RedisStore({ url: server.url, prefix: "rh:" });
    try {
      const browser = new Browser(makeApp(store));
      await browser.request("/label", { method: "POST", body: "日本" });
      const first = idOf(browser);
      expect(await browser.text("/inc", { method: "POST" })).toBe("1");
      expect(await browser.text("/inc-regenerate", { method: "POST" })).toBe("2");
      const id = idOf(browser);
      expect(names()).toEqual(["created", "loaded", "saved", "loaded", "saved", "regenerated"]);
      expect(events.map((event) => event.id)).toEqual([first, first, first, first, id, id]);
      expect(events[4]?.size).toBe(Buffer.byteLength((await store.get(id, 100)) as string));
      events = [];
      await store.delete(id);
      expect(await browser.text("/")).toBe("0");
      expect(events).toEqual([
        { name: "expired", key: "rh-counter", id, size: undefined, duration: expect.any(Number) },
      ]);
      await browser.request("/inc", { method: "POST" });
      events = [];
      await browser.request("/clear-twice", { method: "POST" });
      expect(names()).toEqual(["loaded", "cleared"]);
    } finally {
      await store.close();
      await server.dispose();
    }
  });
});

@persist("rh-odd")
class Odd {
  value: unknown = 0;
}

describe("two middlewares over one store", () => {
  test("a request through the hooked middleware reports its events, whoever made the state", async () => {
    const store = new MemoryStore({ sweepInterval: 0 });
    const plain = makeApp(store, { hooks: {} });
    const hooked = makeApp(store);
    const browser = new Browser(plain);
    await browser.request("/inc", { method: "POST" });
    const cookie = `rh-counter=${browser.cookies.get("rh-counter")}`;
    events = [];
    const response = await hooked.request("/inc", { method: "POST", headers: { cookie } });
    expect(await response.text()).toBe("2");
    // Was []: the cached state keeps the config (and hooks) of the middleware that made it.
    expect(names()).toEqual(["loaded", "saved"]);
  });
});

describe("save failures before the store", () => {
  test.each([
    [
      "a getter that throws while serializing",
      () => ({
        get broken(): number {
          throw new Error("getter failed");
        },
      }),
    ],
    ["an instance of a class not registered", () => new (class Unknown {})()],
  ])("%s: the request fails, and `failed` (save) reports its error", async (_, make) => {
    const store = new MemoryStore({ sweepInterval: 0 });
    const app = makeApp(store);
    let seen: unknown;
    app.onError((error, c) => {
      seen = error;
      return c.text("failed", 500);
    });
    app.post("/odd", (c) => {
      new Odd().value = make();
      return c.text("ok");
    });
    expect((await app.request("/odd", { method: "POST" })).status).toBe(500);
    // Was [] for the getter: a failure that is not a PersistError is not reported.
    expect(names()).toEqual(["failed"]);
    expect(events[0]).toMatchObject({ operation: "save", duration: 0, size: undefined });
    expect(events[0]?.error).toBe(seen);
  });
});
