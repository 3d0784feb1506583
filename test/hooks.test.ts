// Option `hooks`: each event, its fields and its order, driven by app.request() over
// MemoryStore and FileStore; a hook that throws or rejects changes no response.
import { Hono } from "hono";
import { afterEach, beforeEach, describe, expect, test, vi } from "vitest";
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
import { type Recorded, recorder } from "./fixtures/hook-recorder.js";
import { Browser, SECRET, tempDir } from "./helpers.js";

@persist("hooks-counter")
class Counter {
  count = 0;
}
interface Counter extends Persisted {}

let events: Recorded[];
let errors: string[];
let warnings: string[];
let dir: string;
let removeDir: () => void;

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
  app.get("/", (c) => c.text(String(new Counter().count)));
  app.post("/inc", (c) => c.text(String(++new Counter().count)));
  app.post("/clear", async (c) => {
    const counter: Counter = new Counter();
    await counter.clearCookieState();
    return c.text("cleared");
  });
  app.post("/regenerate", async (c) => {
    await new Counter().regenerate();
    return c.text("moved");
  });
  return app;
}

/** The id in a browser's cookie. */
const idOf = (browser: Browser) => browser.cookie("hooks-counter")?.split(".")[0] ?? "";

/** The UTF-8 size of what `store` holds under `id` (a read that extends its expiry by 100 s). */
async function sizeOf(store: Store, id: string): Promise<number> {
  return Buffer.byteLength((await store.get(id, 100)) ?? "");
}

/** The events without their durations, which are checked once here. */
function names(): string[] {
  for (const event of events) {
    expect(event.duration).toBeGreaterThanOrEqual(0);
    expect(event.duration).toBeLessThan(5000);
  }
  return events.map((event) => event.name);
}

beforeEach(() => {
  events = [];
  errors = [];
  warnings = [];
  ({ dir, remove: removeDir } = tempDir());
});
afterEach(() => {
  vi.useRealTimers();
  removeDir();
});

const STORES = [
  ["MemoryStore", () => new MemoryStore({ sweepInterval: 0 })],
  ["FileStore", () => new FileStore({ dir, sweepInterval: 0 })],
] as const;

describe.each(STORES)("hooks over %s", (_, makeStore) => {
  test("first request: created; second: loaded then saved; a read only: loaded", async () => {
    const store = makeStore();
    const browser = new Browser(makeApp(store));
    expect(await browser.text("/inc", { method: "POST" })).toBe("1");
    const id = idOf(browser);
    const first = await sizeOf(store, id);
    expect(events).toEqual([
      { name: "created", key: "hooks-counter", id, size: first, duration: expect.any(Number) },
    ]);
    events = [];
    expect(await browser.text("/inc", { method: "POST" })).toBe("2");
    const second = await sizeOf(store, id);
    expect(names()).toEqual(["loaded", "saved"]);
    expect(events[0]).toMatchObject({ key: "hooks-counter", id, size: first });
    expect(events[1]).toMatchObject({ key: "hooks-counter", id, size: second });
    events = [];
    expect(await browser.text("/")).toBe("2");
    expect(events).toEqual([
      { name: "loaded", key: "hooks-counter", id, size: second, duration: expect.any(Number) },
    ]);
    expect(errors).toEqual([]);
  });

  test("concurrent requests of one browser: one load, one write (group commit)", async () => {
    const store = makeStore();
    const browser = new Browser(makeApp(store));
    await browser.request("/inc", { method: "POST" });
    events = [];
    const cookie = `hooks-counter=${browser.cookies.get("hooks-counter")}`;
    const app = makeApp(store);
    const answers = await Promise.all(
      [1, 2, 3].map(() => app.request("/inc", { method: "POST", headers: { cookie } })),
    );
    expect((await Promise.all(answers.map((r) => r.text()))).sort()).toEqual(["2", "3", "4"]);
    expect(names()).toEqual(["loaded", "saved"]);
    expect(events[1]).toMatchObject({
      id: idOf(browser),
      size: await sizeOf(store, idOf(browser)),
    });
  });

  test("clearCookieState(): loaded, then cleared with the deleted entry's size", async () => {
    const store = makeStore();
    const browser = new Browser(makeApp(store));
    await browser.request("/inc", { method: "POST" });
    const id = idOf(browser);
    const size = await sizeOf(store, id);
    events = [];
    expect(await browser.text("/clear", { method: "POST" })).toBe("cleared");
    expect(names()).toEqual(["loaded", "cleared"]);
    expect(events[1]).toEqual({
      name: "cleared",
      key: "hooks-counter",
      id,
      size,
      duration: expect.any(Number),
    });
    expect(await store.get(id, 60)).toBeUndefined();
  });

  test("regenerate(): saved under the new id, then regenerated with the old id", async () => {
    const store = makeStore();
    const browser = new Browser(makeApp(store));
    await browser.request("/inc", { method: "POST" });
    const oldId = idOf(browser);
    events = [];
    expect(await browser.text("/regenerate", { method: "POST" })).toBe("moved");
    const id = idOf(browser);
    expect(id).not.toBe(oldId);
    const size = await sizeOf(store, id);
    expect(names()).toEqual(["loaded", "saved", "regenerated"]);
    expect(events[0]).toMatchObject({ id: oldId });
    expect(events[1]).toMatchObject({ id, size });
    expect(events[2]).toEqual({
      name: "regenerated",
      key: "hooks-counter",
      id,
      oldId,
      size,
      duration: expect.any(Number),
    });
  });

  test("a state past `idleTimeout`: expired, then the fresh state is created", async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    const store = makeStore();
    const browser = new Browser(makeApp(store, { idleTimeout: 60 }));
    await browser.request("/inc", { method: "POST" });
    const oldId = idOf(browser);
    vi.setSystemTime(Date.now() + 61_000);
    events = [];
    expect(await browser.text("/inc", { method: "POST" })).toBe("1");
    expect(names()).toEqual(["expired", "created"]);
    expect(events[0]).toEqual({
      name: "expired",
      key: "hooks-counter",
      id: oldId,
      size: undefined,
      duration: expect.any(Number),
    });
    expect(events[1]).toMatchObject({ id: idOf(browser) });
    expect(idOf(browser)).not.toBe(oldId);
  });

  test("a deleted entry: expired", async () => {
    const store = makeStore();
    const browser = new Browser(makeApp(store));
    await browser.request("/inc", { method: "POST" });
    const id = idOf(browser);
    await store.delete(id);
    events = [];
    expect(await browser.text("/")).toBe("0");
    expect(events).toEqual([
      { name: "expired", key: "hooks-counter", id, size: undefined, duration: expect.any(Number) },
    ]);
  });

  test("a corrupted entry: quarantined, with its reason and size", async () => {
    const store = makeStore();
    const browser = new Browser(makeApp(store));
    await browser.request("/inc", { method: "POST" });
    const id = idOf(browser);
    const corrupt = '{"hono-persist":1,"key":"hooks-cou';
    await store.set(id, corrupt, 60);
    events = [];
    expect(await browser.text("/")).toBe("0");
    const reason = "[hono-persist] stored state is not valid JSON (torn or foreign file)";
    expect(events).toEqual([
      {
        name: "quarantined",
        key: "hooks-counter",
        id,
        size: Buffer.byteLength(corrupt),
        duration: expect.any(Number),
        reason,
      },
    ]);
    expect(warnings).toEqual([`[hono-persist] quarantined state "hooks-counter" ${id}: ${reason}`]);
  });

  test("a store whose set throws: failed (save), and the request fails", async () => {
    const store = makeStore();
    store.set = async () => {
      throw new Error("disk full");
    };
    const app = makeApp(store);
    const response = await app.request("/inc", { method: "POST" });
    expect(response.status).toBe(500);
    expect(events).toHaveLength(1);
    const [event] = events;
    expect(event).toMatchObject({ name: "failed", key: "hooks-counter", operation: "save" });
    expect(event?.size).toBeUndefined();
    expect(event?.error).toMatchObject({
      name: "PersistError",
      code: "STORE_FAILED",
      message: `[hono-persist] could not save state "hooks-counter" ${event?.id}: disk full`,
    });
  });

  test("a store whose get throws: failed (load), and the request fails", async () => {
    const store = makeStore();
    const browser = new Browser(makeApp(store));
    await browser.request("/inc", { method: "POST" });
    const id = idOf(browser);
    store.get = async () => {
      throw new Error("disk gone");
    };
    // FileStore answers its cached states with a synchronous check, which this does not reach.
    const reading = new Browser(makeApp(store, { cacheSize: 0 }));
    reading.cookies.set("hooks-counter", browser.cookies.get("hooks-counter") ?? "");
    events = [];
    expect((await reading.request("/")).status).toBe(500);
    expect(events).toEqual([
      {
        name: "failed",
        key: "hooks-counter",
        id,
        size: undefined,
        duration: expect.any(Number),
        operation: "load",
        error: expect.objectContaining({
          code: "STORE_FAILED",
          message: `[hono-persist] could not read state "hooks-counter" ${id}: disk gone`,
        }),
      },
    ]);
  });
});

describe("hooks that fail", () => {
  test("a throwing hook and a rejecting one change no response and are logged once each", async () => {
    const store = new MemoryStore({ sweepInterval: 0 });
    let rejected: Promise<void> | undefined;
    const hooks: PersistHooks = {
      created: () => {
        throw new Error("boom");
      },
      loaded: () => {
        rejected = Promise.reject(new Error("nope"));
        return rejected;
      },
    };
    const plain = new Browser(makeApp(store, { hooks: {} }));
    const hooked = new Browser(makeApp(store, { hooks }));
    for (const browser of [plain, hooked]) {
      expect(await browser.text("/inc", { method: "POST" })).toBe("1");
      expect(await browser.text("/inc", { method: "POST" })).toBe("2");
    }
    await rejected?.catch(() => undefined);
    const id = idOf(hooked);
    expect(id).not.toBe("");
    expect(errors).toEqual([
      `[hono-persist] hook \`created\` of "hooks-counter" ${id} failed: Error: boom`,
      `[hono-persist] hook \`loaded\` of "hooks-counter" ${id} failed: Error: nope`,
    ]);
    expect(await store.get(id, 60)).toContain('"count":2');
  });

  test("option `hooks` is checked", () => {
    const make = (hooks: unknown) =>
      persistSession({ secret: SECRET, hooks: hooks as PersistHooks });
    expect(() => make({ save: () => undefined })).toThrow(
      new TypeError(
        "[hono-persist] option `hooks` has no event `save`: created, loaded, saved, cleared, regenerated, expired, quarantined, failed",
      ),
    );
    expect(() => make({ saved: "log" })).toThrow(
      new TypeError("[hono-persist] option `hooks.saved` must be a function"),
    );
    expect(() => make(null)).toThrow(
      new TypeError("[hono-persist] option `hooks` must be an object of functions"),
    );
  });
});

describe("lock", () => {
  test("a lock that does not come in time: failed (load) with LOCK_TIMEOUT, and a 503", async () => {
    const store = new FileStore({ dir, sweepInterval: 0 });
    const browser = new Browser(makeApp(store, { lock: { timeout: 0.2 } }));
    await browser.request("/inc", { method: "POST" });
    const id = idOf(browser);
    const unlock = await store.lock(id, 5);
    events = [];
    try {
      expect((await browser.request("/")).status).toBe(503);
    } finally {
      await unlock();
    }
    expect(events).toEqual([
      {
        name: "failed",
        key: "hooks-counter",
        id,
        size: undefined,
        duration: expect.any(Number),
        operation: "load",
        error: expect.objectContaining({ code: "LOCK_TIMEOUT" }),
      },
    ]);
    expect(events[0]?.duration).toBeGreaterThanOrEqual(150);
  });
});

describe("maxAge", () => {
  test("a state past `maxAge`: expired, with the size of the entry it deleted", async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    const store = new MemoryStore({ sweepInterval: 0 });
    const browser = new Browser(makeApp(store, { maxAge: 120, idleTimeout: 100 }));
    await browser.request("/inc", { method: "POST" });
    const id = idOf(browser);
    const size = await sizeOf(store, id);
    vi.setSystemTime(Date.now() + 90_000);
    await browser.request("/");
    vi.setSystemTime(Date.now() + 90_000);
    events = [];
    expect(await browser.text("/")).toBe("0");
    expect(events).toEqual([
      { name: "expired", key: "hooks-counter", id, size, duration: expect.any(Number) },
    ]);
    expect(await store.get(id, 60)).toBeUndefined();
  });
});
