// Races and edge cases of live instances (src/internal/live.ts), one test per bug found in
// review: each failed before its fix.
import { execSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { Hono } from "hono";
import { afterEach, beforeEach, expect, test, vi } from "vitest";
import {
  FileStore,
  MemoryStore,
  type PersistError,
  type Persisted,
  type PersistSessionOptions,
  persist,
  persistSession,
  type Store,
} from "../src/index.js";
import { livesOf } from "../src/internal/scope.js";
import { gate } from "./gates.js";
import { Browser, SECRET, tempDir } from "./helpers.js";

@persist("race")
class State {
  count = 0;
  secret = "";
  patterns: RegExp[] = [/a/i];
  rules: { re: RegExp }[] = [];
  items: { name: string }[] = [{ name: "first" }];
  selected: { item?: { name: string } } = {};
}
interface State extends Persisted {}

@persist("constructor")
class Odd {
  n = 0;
}

let dir: string;
let removeDir: () => void;
let logged: string[];
const logger = { warn: (m: string) => logged.push(m), error: (m: string) => logged.push(m) };

beforeEach(() => {
  ({ dir, remove: removeDir } = tempDir());
  logged = [];
});
afterEach(() => {
  vi.useRealTimers();
  removeDir();
});

function appOver(store: Store, options: Partial<PersistSessionOptions> = {}) {
  const app = new Hono();
  app.use(persistSession({ secret: SECRET, store, logger, ...options }));
  app.get("/", (c) => c.text(`${new State().count} ${new State().secret}`));
  app.post("/init", (c) => {
    const state = new State();
    state.count = 100;
    state.secret = "credit-card";
    return c.text("ok");
  });
  app.onError((error, c) => c.text(`error: ${error.message}`, 500));
  return app;
}

/** A store whose every call takes a few ms, as a network store does. */
function slowStore(): Store & { inner: MemoryStore } {
  const inner = new MemoryStore();
  const later = () => new Promise((resolve) => setTimeout(resolve, 5));
  return {
    inner,
    get: async (id, ttl) => {
      await later();
      return inner.get(id, ttl);
    },
    set: async (id, data, ttl) => {
      await later();
      return inner.set(id, data, ttl);
    },
    delete: async (id) => {
      await later();
      return inner.delete(id);
    },
  };
}

test("a Proxy stored inside the state neither hangs the flush nor splits one object in two", async () => {
  const app = appOver(new FileStore({ dir, sweepInterval: 0 }));
  app.post("/link", (c) => {
    const state = new State();
    state.rules.push({ re: state.patterns[0] as RegExp });
    state.selected = { item: state.items[0] as { name: string } };
    return c.text("ok");
  });
  app.get("/same", (c) => {
    const state = new State();
    return c.json([
      state.selected.item === state.items[0],
      state.rules[0]?.re === state.patterns[0],
    ]);
  });
  const browser = new Browser(app);
  expect(await browser.text("/link", { method: "POST" })).toBe("ok");
  expect(await (await browser.request("/same")).json()).toEqual([true, true]);
});

test("two concurrent regenerate() calls keep the state under the id of the last cookie", async () => {
  const app = appOver(new FileStore({ dir, sweepInterval: 0 }));
  app.post("/login", async (c) => {
    await new State().regenerate();
    return c.text("ok");
  });
  const browser = new Browser(app);
  await browser.request("/init", { method: "POST" });
  const responses = await Promise.all([
    browser.request("/login", { method: "POST" }),
    browser.request("/login", { method: "POST" }),
  ]);
  expect(responses.map((response) => response.status)).toEqual([200, 200]);
  expect(await browser.text("/")).toBe("100 credit-card");
  expect(readdirSync(dir)).toEqual([browser.cookie("race")?.split(".")[0]]);
});

test("a request whose change rode on another request's failed write fails too", async () => {
  const inner = new MemoryStore();
  let failNext = false;
  const store: Store = {
    get: (id, ttl) => inner.get(id, ttl),
    delete: (id) => inner.delete(id),
    set: async (id, data, ttl) => {
      if (failNext) {
        failNext = false;
        throw new Error("disk full");
      }
      return inner.set(id, data, ttl);
    },
  };
  const app = appOver(store);
  const slow = gate();
  app.post("/slow", async (c) => {
    new State().count += 1;
    slow.reached();
    await slow.opened;
    return c.text("slow done");
  });
  app.post("/fast", (c) => {
    new State().count += 10;
    return c.text("fast done");
  });
  const browser = new Browser(app);
  await browser.request("/init", { method: "POST" });
  const pending = browser.request("/slow", { method: "POST" });
  await slow.arrived;
  failNext = true;
  expect((await browser.request("/fast", { method: "POST" })).status).toBe(500);
  slow.open();
  expect((await pending).status).toBe(500);
  expect(await browser.text("/")).toBe("100 credit-card");
});

test("a late change to an instance evicted from the cache does not overwrite a newer request's write", async () => {
  const app = appOver(new MemoryStore(), { cacheSize: 0 });
  let late: State | undefined;
  app.post("/keep", (c) => {
    late = new State();
    return c.text("ok");
  });
  const slow = gate();
  app.post("/hold", async (c) => {
    new State().count += 10;
    slow.reached();
    await slow.opened;
    return c.text("ok");
  });
  const browser = new Browser(app);
  await browser.request("/init", { method: "POST" });
  await browser.request("/keep", { method: "POST" });
  const holding = browser.request("/hold", { method: "POST" });
  await slow.arrived;
  // The kept instance (loaded by /keep, since evicted) changes while /hold holds a newer one.
  (late as State).count += 1;
  await vi.waitFor(() => expect(logged).toHaveLength(1), { timeout: 500, interval: 2 });
  slow.open();
  await holding;
  expect(await browser.text("/")).toBe("110 credit-card");
  expect(logged[0]).toMatch(
    /made after its request ended was not saved: a newer request holds this state$/,
  );
});

test("a late change to an instance evicted from the cache is dropped if the stored state changed since", async () => {
  const store = new MemoryStore();
  const app = appOver(store, { cacheSize: 0 });
  let late: State | undefined;
  app.post("/keep", (c) => {
    late = new State();
    return c.text("ok");
  });
  app.post("/add10", (c) => {
    new State().count += 10;
    return c.text("ok");
  });
  const browser = new Browser(app);
  await browser.request("/init", { method: "POST" });
  await browser.request("/keep", { method: "POST" });
  await browser.request("/add10", { method: "POST" });
  (late as State).count += 1;
  await vi.waitFor(() => expect(logged).toHaveLength(1), { timeout: 500, interval: 2 });
  expect(await browser.text("/")).toBe("110 credit-card");
  expect(logged[0]).toMatch(
    /was not saved: the stored state was changed, cleared or expired since$/,
  );
});

test("a late change to an instance still cached is saved: it is the live state", async () => {
  const app = appOver(new MemoryStore());
  let late: State | undefined;
  app.post("/keep", (c) => {
    late = new State();
    return c.text("ok");
  });
  const browser = new Browser(app);
  await browser.request("/init", { method: "POST" });
  await browser.request("/keep", { method: "POST" });
  (late as State).count += 1;
  await vi.waitFor(async () => expect(await browser.text("/")).toBe("101 credit-card"), {
    timeout: 500,
    interval: 5,
  });
  expect(logged).toEqual([]);
});

test("another process's write wins over a cached instance's late change, and is what the next request sees", async () => {
  const app = appOver(new FileStore({ dir, sweepInterval: 0 }));
  const elsewhere = appOver(new FileStore({ dir, sweepInterval: 0 }), { cacheSize: 0 });
  let late: State | undefined;
  app.post("/keep", (c) => {
    late = new State();
    return c.text("ok");
  });
  const inc = (c: { text: (s: string) => Response }) => {
    new State().count += 1;
    return c.text("ok");
  };
  app.post("/inc", inc);
  elsewhere.post("/inc", inc);
  const browser = new Browser(app);
  await browser.request("/init", { method: "POST" });
  await browser.request("/keep", { method: "POST" });
  const other = new Browser(elsewhere);
  for (const [name, value] of browser.cookies) other.cookies.set(name, value);
  await other.request("/inc", { method: "POST" });
  (late as State).secret = "late";
  await vi.waitFor(() => expect(logged).toHaveLength(1), { timeout: 500, interval: 2 });
  expect(logged[0]).toMatch(/not saved: the stored state was changed, cleared or expired since$/);
  await browser.request("/inc", { method: "POST" });
  expect(await browser.text("/")).toBe("102 credit-card");
  // The replaced instance is inert: changing it neither saves nor spins.
  (late as State).count = 0;
  expect(await browser.text("/")).toBe("102 credit-card");
});

test("a cached instance does not outlive `maxAge`", async () => {
  vi.useFakeTimers({ toFake: ["Date"] });
  const browser = new Browser(
    appOver(new FileStore({ dir, sweepInterval: 0 }), { maxAge: 2, idleTimeout: 60 }),
  );
  await browser.request("/init", { method: "POST" });
  vi.setSystemTime(Date.now() + 1_000);
  expect(await browser.text("/")).toBe("100 credit-card");
  vi.setSystemTime(Date.now() + 2_000);
  expect(await browser.text("/")).toBe("0 ");
});

test("`new` after the request ended (a timer) throws and leaves nothing in the cache", async () => {
  const store = new MemoryStore();
  const app = appOver(store);
  let thrown: unknown;
  const done = gate();
  app.post("/timer", (c) => {
    setTimeout(() => {
      try {
        new State().count = 42;
      } catch (error) {
        thrown = error;
      }
      done.reached();
    }, 1);
    return c.text("ok");
  });
  await new Browser(app).request("/timer", { method: "POST" });
  await done.arrived;
  expect(thrown).toEqual(
    new TypeError(
      '[hono-persist] `State` is persisted (@persist("race")): create it inside a request handled by the `persistSession()` middleware, not after the request has ended (in a timer or a stream)',
    ),
  );
  expect(livesOf(store).size).toBe(0);
  expect(store.size).toBe(0);
});

test("with a slow store, a request that arrives while clearCookieState() deletes does not bring the state back", async () => {
  const store = slowStore();
  const app = appOver(store);
  const clearing = gate();
  app.post("/clear", async (c) => {
    const cleared = new State().clearCookieState();
    clearing.reached();
    await cleared;
    return c.text("cleared");
  });
  app.post("/inc", (c) => {
    new State().count += 1;
    return c.text("ok");
  });
  const browser = new Browser(app);
  await browser.request("/init", { method: "POST" });
  const oldCookie = browser.cookies.get("race") ?? "";
  const cleared = browser.request("/clear", { method: "POST" });
  await clearing.arrived;
  const concurrent = await app.request("/", { headers: { Cookie: `race=${oldCookie}` } });
  expect(await concurrent.text()).toBe("0 ");
  await cleared;
  expect(await (await app.request("/", { headers: { Cookie: `race=${oldCookie}` } })).text()).toBe(
    "0 ",
  );
  expect(store.inner.size).toBe(0);
});

test("with a slow store, the old (fixated) cookie loads nothing once regenerate() has begun", async () => {
  const store = slowStore();
  const app = appOver(store);
  const regenerating = gate();
  app.post("/login", async (c) => {
    const state = new State();
    const done = state.regenerate();
    regenerating.reached();
    await done;
    state.secret = "signed-in secret";
    return c.text("ok");
  });
  const victim = new Browser(app);
  await victim.request("/init", { method: "POST" });
  const fixated = victim.cookies.get("race") ?? "";
  const login = victim.request("/login", { method: "POST" });
  await regenerating.arrived;
  await new Promise((resolve) => setImmediate(resolve));
  const attacker = await app.request("/", { headers: { Cookie: `race=${fixated}` } });
  expect(await attacker.text()).toBe("0 ");
  await login;
  expect(await (await app.request("/", { headers: { Cookie: `race=${fixated}` } })).text()).toBe(
    "0 ",
  );
  expect(await victim.text("/")).toBe("100 signed-in secret");
});

test("a key named like an Object.prototype member works without a Cookie header", async () => {
  const app = new Hono();
  app.use(persistSession({ secret: SECRET, store: new MemoryStore() }));
  app.get("/", (c) => c.text(String(new Odd().n)));
  expect((await app.request("/")).status).toBe(200);
  expect(await (await app.request("/", { headers: { Cookie: "other=1" } })).text()).toBe("0");
});

test("a cookie re-issued for a state created ahead of this clock keeps Max-Age within maxAge", async () => {
  const store = new MemoryStore();
  const oldSecret = "an-older-secret-that-is-also-32-characters";
  const browser = new Browser(appOver(store, { secret: oldSecret, maxAge: 400 * 24 * 3600 }));
  await browser.request("/init", { method: "POST" });
  vi.useFakeTimers({ toFake: ["Date"], now: Date.now() - 2_000 });
  const response = await appOver(store, {
    secret: [SECRET, oldSecret],
    maxAge: 400 * 24 * 3600,
  }).request("/", {
    headers: { Cookie: `race=${browser.cookies.get("race")}` },
  });
  expect(response.status).toBe(200);
  expect(response.headers.getSetCookie()[0]).toContain("; Max-Age=34560000;");
});

test("a FIFO planted in place of a state file is quarantined without blocking", async () => {
  const store = new FileStore({ dir, sweepInterval: 0 });
  const browser = new Browser(appOver(store));
  await browser.request("/init", { method: "POST" });
  const id = browser.cookie("race")?.split(".")[0] ?? "";
  execSync(`rm ${join(dir, id)} && mkfifo ${join(dir, id)}`);
  expect(await browser.text("/")).toBe("0 ");
  expect(logged).toEqual([
    `[hono-persist] quarantined state "race" ${id}: [hono-persist] ${join(dir, id)} is not a regular file`,
  ]);
});

test("requests that join a browser's first request while it loads wait for the load, and see what it found", async () => {
  const inner = new MemoryStore();
  let held: Promise<void> | undefined;
  const store: Store = {
    get: async (id, ttl) => {
      await held;
      return inner.get(id, ttl);
    },
    set: (id, data, ttl) => inner.set(id, data, ttl),
    delete: (id) => inner.delete(id),
  };
  const app = appOver(store);
  const browser = new Browser(app);
  await browser.request("/init", { method: "POST" });
  expect(await browser.text("/")).toBe("100 credit-card");
  // Another process writes meanwhile; this one's cached instance is now stale.
  const id = (browser.cookie("race") as string).split(".")[0] as string;
  const stored = (await inner.get(id, 60)) as string;
  await inner.set(id, stored.replace('"count":100', '"count":42'), 60);
  let release!: () => void;
  held = new Promise((resolve) => (release = resolve));
  const first = browser.text("/");
  const joining = browser.text("/");
  await new Promise((resolve) => setTimeout(resolve, 20));
  release();
  expect(await Promise.all([first, joining])).toEqual(["42 credit-card", "42 credit-card"]);
});

/** A store whose `set` waits at `gate.opened` while `hold` is true. */
function heldStore(): Store & { inner: MemoryStore; hold: boolean; gate: ReturnType<typeof gate> } {
  const inner = new MemoryStore();
  const store = {
    inner,
    hold: false,
    gate: gate(),
    get: (id: string, ttl: number) => inner.get(id, ttl),
    delete: (id: string) => inner.delete(id),
    set: async (id: string, data: string, ttl: number) => {
      if (store.hold) {
        store.gate.reached();
        await store.gate.opened;
      }
      return inner.set(id, data, ttl);
    },
  };
  return store;
}

test("a request with the old cookie that arrives while regenerate() waits for a write in flight joins nothing", async () => {
  const store = heldStore();
  const app = appOver(store);
  const login = gate();
  const peek = gate();
  app.post("/inc", (c) => {
    new State().count += 1;
    return c.text("ok");
  });
  app.post("/login", async (c) => {
    const state = new State();
    const done = state.regenerate();
    login.reached();
    await done;
    state.secret = "signed-in secret";
    return c.text("ok");
  });
  app.post("/peek", async (c) => {
    const state = new State();
    peek.reached();
    await peek.opened;
    state.count += 1000;
    return c.text(`${state.count} ${state.secret}`);
  });
  const victim = new Browser(app);
  await victim.request("/init", { method: "POST" });
  const fixated = victim.cookies.get("race") ?? "";
  // The victim's write is in flight when it signs in.
  store.hold = true;
  const inc = victim.request("/inc", { method: "POST" });
  await store.gate.arrived;
  store.hold = false;
  const signIn = victim.request("/login", { method: "POST" });
  await login.arrived;
  const attacker = app.request("/peek", {
    method: "POST",
    headers: { Cookie: `race=${fixated}` },
  });
  await peek.arrived;
  store.gate.open();
  await Promise.all([inc, signIn]);
  peek.open();
  expect(await (await attacker).text()).toBe("1000 ");
  expect(await victim.text("/")).toBe("101 signed-in secret");
});

test("`delete state.field` stays deleted after a restore", async () => {
  @persist("deleting")
  class Draft {
    title = "untitled";
    note?: string = "default note";
  }
  const app = new Hono();
  app.use(persistSession({ secret: SECRET, store: new MemoryStore(), cacheSize: 0 }));
  app.post("/", (c) => {
    const draft = new Draft();
    draft.title = "kept";
    delete draft.note;
    return c.text("ok");
  });
  app.get("/", (c) => {
    const draft = new Draft();
    return c.json({ title: draft.title, hasNote: "note" in draft, keys: Object.keys(draft) });
  });
  const browser = new Browser(app);
  await browser.request("/", { method: "POST" });
  expect(await (await browser.request("/")).json()).toEqual({
    title: "kept",
    hasNote: false,
    keys: ["title"],
  });
});

test("app.onError can use persisted state when the middleware's own save fails", async () => {
  @persist("theme-prefs")
  class Prefs {
    theme = "light";
    big = "";
  }
  const app = new Hono();
  app.use(persistSession({ secret: SECRET, store: new MemoryStore(), maxBytes: 1000, logger }));
  app.post("/", (c) => {
    const prefs = new Prefs();
    prefs.theme = "dark";
    prefs.big = "x".repeat(2000);
    return c.text("ok");
  });
  app.onError((error, c) => c.text(`${(error as PersistError).code}: ${new Prefs().theme}`, 500));
  const response = await app.request("/", { method: "POST" });
  expect(response.status).toBe(500);
  expect(await response.text()).toBe("STATE_TOO_LARGE: dark");
  expect(response.headers.getSetCookie()).toEqual([]);
});

test("a version bump whose `migrate` returns the data unchanged is written once, at the new version", async () => {
  const store = new MemoryStore();
  const { registry } = await import("../src/internal/registry.js");
  @persist("bumped")
  class V1 {
    n = 1;
  }
  const first = new Hono();
  first.use(persistSession({ secret: SECRET, store, cacheSize: 0 }));
  first.post("/", (c) => {
    new V1().n = 7;
    return c.text("ok");
  });
  const browser = new Browser(first);
  await browser.request("/", { method: "POST" });
  registry.delete("bumped");
  let migrations = 0;
  @persist("bumped", {
    version: 2,
    migrate: (fields) => {
      migrations++;
      return fields;
    },
  })
  class V2 {
    n = 0;
  }
  const second = new Hono();
  second.use(persistSession({ secret: SECRET, store, cacheSize: 0 }));
  second.get("/", (c) => c.text(String(new V2().n)));
  const upgraded = new Browser(second);
  for (const [name, value] of browser.cookies) upgraded.cookies.set(name, value);
  expect(await upgraded.text("/")).toBe("7");
  expect(await upgraded.text("/")).toBe("7");
  expect(migrations).toBe(1);
  const id = (upgraded.cookie("bumped") as string).split(".")[0] as string;
  expect(JSON.parse((await store.get(id, 60)) as string).version).toBe(2);
});
