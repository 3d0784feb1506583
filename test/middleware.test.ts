import {
  existsSync,
  lstatSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { runInNewContext } from "node:vm";
import { sign } from "cookie-signature";
import { Hono } from "hono";
import { v1, v4, v7 } from "uuid";
import { afterEach, beforeEach, describe, expect, test, vi } from "vitest";
import {
  FileStore,
  MemoryStore,
  PersistError,
  type Persisted,
  type PersistSessionOptions,
  persist,
  persistInfo,
  persistSession,
  type Store,
} from "../src/index.js";
import { livesOf } from "../src/internal/scope.js";
import { Browser, overwrite, readState, SECRET, tempDir } from "./helpers.js";

class Item {
  constructor(
    public name = "",
    public done = false,
  ) {}
  toggle() {
    this.done = !this.done;
  }
}

@persist("app-state", { classes: [Item], exclude: ["scratch"] })
class AppState {
  count = 0;
  history: Date[] = [];
  tags = new Map<string, Set<string>>();
  items: Item[] = [];
  big = 0n;
  nothing: undefined = undefined;
  pattern = /x/g;
  scratch = "default";
  get doubled() {
    return this.count * 2;
  }
  increment() {
    this.count++;
    this.history.push(new Date());
  }
}
interface AppState extends Persisted {}

@persist("prefs")
class Prefs {
  theme: "light" | "dark" = "light";
}

/** Counts the writes done (the file is in place), not those begun: FileStore writes on a thread. */
class CountingStore extends FileStore {
  writes = 0;
  begun = 0;
  override async set(id: string, data: string, ttl: number): Promise<void> {
    this.begun++;
    await super.set(id, data, ttl);
    this.writes++;
  }
}

let dir: string;
let removeDir: () => void;
let store: CountingStore;
let warnings: string[];

beforeEach(() => {
  ({ dir, remove: removeDir } = tempDir());
  store = new CountingStore({ dir, sweepInterval: 0 });
  warnings = [];
});
afterEach(() => {
  vi.useRealTimers();
  removeDir();
});

const logger = {
  warn: (message: string) => warnings.push(message),
  error: (message: string) => warnings.push(message),
};

function makeApp(options: Partial<PersistSessionOptions> = {}) {
  const app = new Hono();
  // cacheSize 0: every request loads from the store, the strictest test of what was saved.
  app.use(persistSession({ secret: SECRET, store, logger, cacheSize: 0, ...options }));
  app.get("/", (c) => c.text(String(new AppState().count)));
  app.get("/state", (c) => {
    const state = new AppState();
    return c.json({
      id: persistInfo(state).id,
      count: state.count,
      doubled: state.doubled,
      isAppState: state instanceof AppState,
      history: state.history.map((date) => date instanceof Date && date.toISOString()),
      tags: [...state.tags].map(([name, set]) => [
        name,
        set instanceof Set ? [...set] : "not a Set",
      ]),
      items: state.items.map((item) => item instanceof Item && { ...item }),
      big: typeof state.big === "bigint" ? state.big.toString() : "not a bigint",
      nothing: "nothing" in state && state.nothing === undefined,
      pattern: state.pattern instanceof RegExp && state.pattern.flags,
      scratch: state.scratch,
    });
  });
  app.post("/increment", (c) => {
    new AppState().increment();
    return c.text("ok");
  });
  app.post("/nested", (c) => {
    const state = new AppState();
    state.tags.set("colors", new Set(["red"]));
    state.tags.get("colors")?.add("blue");
    state.items.push(new Item("a"), new Item("b"));
    state.items[1]?.toggle();
    state.items.splice(0, 0, new Item("z"));
    state.items.sort((x, y) => x.name.localeCompare(y.name));
    state.big += 5n;
    state.scratch = "changed";
    return c.text("ok");
  });
  app.post("/clear", async (c) => {
    await new AppState().clearCookieState();
    return c.text("cleared");
  });
  app.post("/regenerate", async (c) => {
    const state = new AppState();
    await state.regenerate();
    return c.text(persistInfo(state).id);
  });
  app.post("/theme", (c) => {
    new Prefs().theme = "dark";
    return c.text("ok");
  });
  app.get("/theme", (c) => c.text(new Prefs().theme));
  return app;
}

function stateFiles(): string[] {
  return readdirSync(dir).filter((name) => /^[0-9a-f-]{36}$/.test(name));
}

function idOf(browser: Browser, name = "app-state"): string {
  return (browser.cookie(name) ?? "").split(".")[0] ?? "";
}

describe("instance resolution", () => {
  test("state survives reloads, one instance per browser", async () => {
    const app = makeApp();
    const alice = new Browser(app);
    const bob = new Browser(app);
    expect(await alice.text("/")).toBe("0");
    for (let i = 0; i < 3; i++) await alice.request("/increment", { method: "POST" });
    await bob.request("/increment", { method: "POST" });
    expect(await alice.text("/")).toBe("3");
    expect(await bob.text("/")).toBe("1");
    expect(idOf(alice)).not.toBe(idOf(bob));
    expect(stateFiles().sort()).toEqual([idOf(alice), idOf(bob)].sort());
  });

  test("state survives a restart: a new app and store over the same directory", async () => {
    const browser = new Browser(makeApp());
    await browser.request("/increment", { method: "POST" });
    await browser.request("/increment", { method: "POST" });
    store = new CountingStore({ dir, sweepInterval: 0 });
    const restarted = makeApp();
    const again = new Browser(restarted);
    for (const [name, value] of browser.cookies) again.cookies.set(name, value);
    expect(await again.text("/")).toBe("2");
  });

  test("repeated `new` in one request returns the same object, across awaits and helpers", async () => {
    const app = new Hono();
    app.use(persistSession({ secret: SECRET, store, logger, cacheSize: 0 }));
    const helper = async () => {
      await new Promise((resolve) => setImmediate(resolve));
      return new AppState();
    };
    app.get("/", async (c) => {
      const first = new AppState();
      const second = await helper();
      return c.json({ same: first === second, constructor: first.constructor === AppState });
    });
    expect(await (await app.request("/")).json()).toEqual({ same: true, constructor: true });
  });

  test("a fresh state costs nothing until it changes: no file, no cookie", async () => {
    const response = await makeApp().request("/");
    expect(await response.text()).toBe("0");
    expect(response.headers.getSetCookie()).toEqual([]);
    expect(stateFiles()).toEqual([]);
  });

  test("200 concurrent increments of one browser end at 200", async () => {
    const browser = new Browser(makeApp());
    await browser.request("/increment", { method: "POST" });
    const responses = await Promise.all(
      Array.from({ length: 199 }, () => browser.request("/increment", { method: "POST" })),
    );
    expect(responses.every((response) => response.status === 200)).toBe(true);
    expect(await browser.text("/")).toBe("200");
    const stored = JSON.parse(readState(join(dir, idOf(browser))) as string);
    expect(stored.state.json.count).toBe(200);
  });

  test("outside a request, `new` says what is missing", () => {
    expect(() => new AppState()).toThrow(
      new TypeError(
        '[hono-persist] `AppState` is persisted (@persist("app-state")): create it inside a request handled by the `persistSession()` middleware',
      ),
    );
  });

  test("without a cache, nothing stays in memory once requests end", async () => {
    const browsers = Array.from({ length: 50 }, () => new Browser(makeApp()));
    await Promise.all(browsers.map((browser) => browser.request("/increment", { method: "POST" })));
    await Promise.all(browsers.map((browser) => browser.request("/")));
    expect(livesOf(store).size).toBe(0);
  });
});

describe("the instance cache", () => {
  /** `Base` with its `get` calls counted. */
  // biome-ignore lint/suspicious/noExplicitAny: a mixin takes any constructor arguments
  function countingGets<B extends new (...args: any[]) => Store>(Base: B) {
    return class extends Base {
      reads = 0;
      override async get(id: string, ttl: number) {
        this.reads++;
        return super.get(id, ttl);
      }
    };
  }

  test.each([
    ["MemoryStore", () => new (countingGets(MemoryStore))()],
    ["FileStore", () => new (countingGets(FileStore))({ dir, sweepInterval: 0 })],
  ])(
    "a %s subclass's own `get` is the one used, though the store can be read at once",
    async (_, make) => {
      const counting = make();
      const browser = new Browser(makeApp({ store: counting, cacheSize: 10 }));
      await browser.request("/increment", { method: "POST" });
      await browser.request("/increment", { method: "POST" });
      expect(await browser.text("/")).toBe("2");
      // The first request created the state; each later one checked the store.
      expect(counting.reads).toBe(2);
    },
  );

  test("a store whose `get` answers with another realm's promise is awaited like any", async () => {
    const inner = new MemoryStore({ sweepInterval: 0 });
    const foreign: Store = {
      get: (id, ttl) =>
        runInNewContext("(p) => new Promise((resolve, reject) => p.then(resolve, reject))")(
          inner.get(id, ttl),
        ),
      set: (id, data, ttl) => inner.set(id, data, ttl),
      delete: (id) => inner.delete(id),
    };
    const browser = new Browser(makeApp({ store: foreign, cacheSize: 10 }));
    for (let i = 0; i < 3; i++) await browser.request("/increment", { method: "POST" });
    expect(await browser.text("/")).toBe("3");
  });

  test("keeps at most `cacheSize` idle instances", async () => {
    const app = makeApp({ cacheSize: 10 });
    const browsers = Array.from({ length: 50 }, () => new Browser(app));
    await Promise.all(browsers.map((browser) => browser.request("/increment", { method: "POST" })));
    expect(livesOf(store).size).toBe(10);
    // The most recently used are the ones kept.
    const last = browsers.at(-1) as Browser;
    expect([...livesOf(store).keys()]).toContain(`app-state:${idOf(last)}`);
  });

  test("evicts the idle instance used least recently: one used again is kept", async () => {
    const app = makeApp({ cacheSize: 2 });
    const [a, b, c] = [new Browser(app), new Browser(app), new Browser(app)];
    for (const browser of [a, b, a, c]) await browser.request("/increment", { method: "POST" });
    expect([...livesOf(store).keys()]).toEqual([`app-state:${idOf(a)}`, `app-state:${idOf(c)}`]);
  });

  test("an instance in use while other browsers come and go counts as used when its requests end", async () => {
    const app = makeApp({ cacheSize: 2 });
    let open = () => {};
    const gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    const waiting: (() => void)[] = [];
    app.post("/held", async (c) => {
      new AppState().increment();
      waiting.shift()?.();
      await gate;
      return c.text("ok");
    });
    const [a, x, z] = [new Browser(app), new Browser(app), new Browser(app)];
    await a.request("/increment", { method: "POST" });
    // Resolves once the request waits at the gate (a promise inside an object: not awaited here).
    const hold = async () => {
      const reached = new Promise<void>((resolve) => waiting.push(resolve));
      const response = a.request("/held", { method: "POST" });
      await reached;
      return { response };
    };
    const first = await hold();
    // X is used and done while A's first request is held; A's second request joins it.
    await x.request("/increment", { method: "POST" });
    const second = await hold();
    open();
    expect(await (await first.response).text()).toBe("ok");
    expect(await (await second.response).text()).toBe("ok");
    await z.request("/increment", { method: "POST" });
    expect([...livesOf(store).keys()]).toEqual([`app-state:${idOf(a)}`, `app-state:${idOf(z)}`]);
    expect(await a.text("/")).toBe("3");
  });

  test("reuses the instance while the stored entry is unchanged, and reloads what another process wrote", async () => {
    const app = makeApp({ cacheSize: 100 });
    const browser = new Browser(app);
    await browser.request("/increment", { method: "POST" });
    const key = `app-state:${idOf(browser)}`;
    const raw = livesOf(store).get(key)?.raw;
    expect(raw).toBeInstanceOf(AppState);
    await browser.request("/increment", { method: "POST" });
    expect(livesOf(store).get(key)?.raw).toBe(raw);
    // Another process (another store over the same directory) writes this browser's state.
    const elsewhere = new Browser(makeApp({ store: new FileStore({ dir, sweepInterval: 0 }) }));
    for (const [name, value] of browser.cookies) elsewhere.cookies.set(name, value);
    await elsewhere.request("/increment", { method: "POST" });
    expect(await browser.text("/")).toBe("3");
    expect(livesOf(store).get(key)?.raw).not.toBe(raw);
  });
});

describe("every write persists", () => {
  test("nested mutations of Maps, Sets, arrays and class instances are saved and restored as themselves", async () => {
    const browser = new Browser(makeApp());
    await browser.request("/increment", { method: "POST" });
    await browser.request("/nested", { method: "POST" });
    const state = (await (await browser.request("/state")).json()) as { history: string[] };
    expect(state).toMatchObject({
      count: 1,
      doubled: 2,
      isAppState: true,
      tags: [["colors", ["red", "blue"]]],
      items: [
        { name: "a", done: false },
        { name: "b", done: true },
        { name: "z", done: false },
      ],
      big: "5",
      nothing: true,
      pattern: "g",
      scratch: "default",
    });
    expect(state.history).toHaveLength(1);
    expect(Date.parse(state.history[0] ?? "")).toBeGreaterThan(Date.now() - 60_000);
  });

  test("a Date mutated through a setter is saved", async () => {
    const app = new Hono();
    app.use(persistSession({ secret: SECRET, store, logger, cacheSize: 0 }));
    app.post("/", (c) => {
      const state = new AppState();
      if (state.history.length === 0) state.history.push(new Date(0));
      else state.history[0]?.setUTCFullYear(2030);
      return c.text(state.history[0]?.toISOString() ?? "");
    });
    const browser = new Browser(app);
    await browser.request("/", { method: "POST" });
    expect(await browser.text("/", { method: "POST" })).toBe("2030-01-01T00:00:00.000Z");
    const stored = JSON.parse(readState(join(dir, idOf(browser))) as string);
    expect(stored.state.json.history[0]).toBe("2030-01-01T00:00:00.000Z");
  });

  test("10,000 mutations in one request are one write", async () => {
    const app = new Hono();
    app.use(persistSession({ secret: SECRET, store, logger, cacheSize: 0 }));
    app.post("/", (c) => {
      const state = new AppState();
      for (let i = 0; i < 10_000; i++) state.history.push(new Date(i));
      return c.text("ok");
    });
    const browser = new Browser(app);
    await browser.request("/", { method: "POST" });
    expect(store.writes).toBe(1);
  });

  test("a request that only reads writes nothing", async () => {
    const browser = new Browser(makeApp());
    await browser.request("/increment", { method: "POST" });
    await browser.request("/state");
    await browser.request("/");
    expect(store.writes).toBe(1);
  });

  test("persistInfo() tells where the state is and when it was saved", async () => {
    const app = makeApp();
    app.get("/info", (c) => c.json(persistInfo(new AppState())));
    const browser = new Browser(app);
    expect(await (await browser.request("/info")).json()).toMatchObject({
      key: "app-state",
      stored: false,
      restored: false,
    });
    await browser.request("/increment", { method: "POST" });
    const stored = JSON.parse(readState(join(dir, idOf(browser))) as string);
    expect(await (await browser.request("/info")).json()).toEqual({
      key: "app-state",
      id: idOf(browser),
      scope: "browser",
      cookieName: "app-state",
      restored: true,
      stored: true,
      savedAt: new Date(stored.saved).toISOString(),
    });
  });

  test("the write is in the store before the response is returned", async () => {
    const app = new Hono();
    app.use(persistSession({ secret: SECRET, store, logger, cacheSize: 0 }));
    app.post("/", (c) => {
      new AppState().count = 41;
      return c.text("ok");
    });
    const browser = new Browser(app);
    await browser.request("/", { method: "POST" });
    const stored = JSON.parse(readState(join(dir, idOf(browser))) as string);
    expect(stored.state.json.count).toBe(41);
  });

  test("a write made outside any request (a timer) is flushed within a few ms", async () => {
    const app = new Hono();
    let later: (AppState & Persisted) | undefined;
    app.use(persistSession({ secret: SECRET, store, logger, cacheSize: 0 }));
    app.post("/", (c) => {
      later = new AppState();
      later.count = 1;
      return c.text("ok");
    });
    const browser = new Browser(app);
    await browser.request("/", { method: "POST" });
    const file = join(dir, idOf(browser));
    const writes = store.writes;
    later?.history.push(new Date(7));
    await vi.waitFor(() => expect(store.writes).toBe(writes + 1), { timeout: 100, interval: 1 });
    expect(JSON.parse(readState(file) as string).state.json.history).toEqual([
      "1970-01-01T00:00:00.007Z",
    ]);
  });

  test("excluded fields are not stored and come back with their default", async () => {
    const browser = new Browser(makeApp());
    await browser.request("/nested", { method: "POST" });
    const stored = JSON.parse(readState(join(dir, idOf(browser))) as string);
    expect(stored.state.json).not.toHaveProperty("scratch");
    expect(await (await browser.request("/state")).json()).toMatchObject({ scratch: "default" });
  });
});

describe("ids", () => {
  test("every id is a fresh random UUIDv4 (122 random bits from the CSPRNG)", async () => {
    const ids = new Set<string>();
    for (let i = 0; i < 500; i++) {
      const browser = new Browser(makeApp());
      await browser.request("/increment", { method: "POST" });
      ids.add(idOf(browser));
    }
    expect(ids.size).toBe(500);
    for (const id of ids)
      expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    // Each of the 122 random bit positions takes both values across 500 ids.
    const bits = [...ids].map((id) => BigInt(`0x${id.replaceAll("-", "")}`));
    const fixed = (1n << 76n) * 0xfn + (1n << 62n) * 3n;
    const varying = bits.reduce((or, b) => or | (b ^ (bits[0] as bigint)), 0n);
    expect(varying.toString(2).replaceAll("0", "").length).toBe(122);
    expect(varying & fixed).toBe(0n);
  });
});

describe("cookies", () => {
  test("named after the key, `<uuidv4>.<signature>`, HttpOnly, SameSite=Lax, Path=/, Max-Age", async () => {
    const response = await makeApp({ maxAge: 86_400 }).request("/increment", { method: "POST" });
    const [line = ""] = response.headers.getSetCookie();
    const value = decodeURIComponent(line.slice("app-state=".length).split(";")[0] ?? "");
    const id = value.split(".")[0] ?? "";
    expect(line.startsWith("app-state=")).toBe(true);
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(`app-state.${value}`).toBe(sign(`app-state.${id}`, SECRET));
    expect(line).toContain("; HttpOnly");
    expect(line).toContain("; SameSite=Lax");
    expect(line).toContain("; Path=/");
    expect(line).toMatch(/; Max-Age=8640[0-9]/);
    expect(line).not.toContain("Secure");
  });

  test("a Cookie header seen before is not trusted blindly: a forged one is checked each time, and a class decorated since is found in it", async () => {
    const app = makeApp();
    const browser = new Browser(app);
    await browser.request("/increment", { method: "POST" });
    const valid = browser.cookie("app-state") ?? "";
    const lateId = v4();
    const header = `app-state=${encodeURIComponent(valid)}; late-key=${encodeURIComponent(sign(lateId, SECRET))}`;
    const forgedHeader = `app-state=${encodeURIComponent(`${v4()}.${valid.split(".")[1]}`)}`;
    for (let i = 0; i < 3; i++) {
      const forged = await app.request("/", { headers: { Cookie: forgedHeader } });
      expect(await forged.text()).toBe("0");
      expect(forged.headers.getSetCookie()).toEqual([
        expect.stringMatching(/^app-state=; Max-Age=0/),
      ]);
      // "late-key" is nobody's cookie yet: left alone.
      const seen = await app.request("/", { headers: { Cookie: header } });
      expect(await seen.text()).toBe("1");
      expect(seen.headers.getSetCookie()).toEqual([]);
    }
    // Now a class owns "late-key": the same header's cookie for it is checked, and, with
    // nothing stored under its id, removed.
    const Late = persist("late-key")(class Late {});
    expect(typeof Late).toBe("function");
    const after = await app.request("/", { headers: { Cookie: header } });
    expect(await after.text()).toBe("1");
    expect(after.headers.getSetCookie()).toEqual([expect.stringMatching(/^late-key=; Max-Age=0/)]);
  });

  test("a response that sets a cookie is kept out of shared caches, with the handler's other directives", async () => {
    const app = makeApp();
    app.post("/cached", (c) => {
      new AppState().count++;
      c.header("Cache-Control", "max-age=60");
      return c.text("ok");
    });
    const response = await app.request("/increment", { method: "POST" });
    expect(response.headers.get("Cache-Control")).toBe("private, no-store");
    expect((await app.request("/")).headers.get("Cache-Control")).toBeNull();
    expect((await app.request("/cached", { method: "POST" })).headers.get("Cache-Control")).toBe(
      "private, max-age=60",
    );
  });

  test("Secure when the request is HTTPS, and `__Host-` on request", async () => {
    const https = await makeApp().request("https://example.com/increment", { method: "POST" });
    expect(https.headers.getSetCookie()[0]).toContain("; Secure");
    const hosted = await makeApp({ cookie: { hostPrefix: true } }).request(
      "http://example.com/increment",
      {
        method: "POST",
      },
    );
    expect(hosted.headers.getSetCookie()[0]).toMatch(/^__Host-app-state=.*; Path=\/.*; Secure/);
  });

  test("a cookie signed with an older secret is accepted and re-signed with the new one", async () => {
    const oldSecret = "an-older-secret-that-is-also-32-characters";
    const browser = new Browser(makeApp({ secret: oldSecret }));
    await browser.request("/increment", { method: "POST" });
    const rotated = makeApp({ secret: [SECRET, oldSecret] });
    const response = await rotated.request("/", {
      headers: { Cookie: `app-state=${browser.cookies.get("app-state")}` },
    });
    expect(await response.text()).toBe("1");
    const [line = ""] = response.headers.getSetCookie();
    const id = idOf(browser);
    expect(decodeURIComponent(line.split(";")[0] ?? "")).toBe(
      `app-state=${sign(`app-state.${id}`, SECRET).slice("app-state.".length)}`,
    );
  });

  const forged = {
    "a flipped signature character": (cookie: string) =>
      cookie.replace(/.$/, (c) => (c === "A" ? "B" : "A")),
    "no signature": (cookie: string) => cookie.split(".")[0] ?? "",
    "a wrong secret": (cookie: string) => sign(cookie.split(".")[0] ?? "", "x".repeat(40)),
    "an upper-case id, validly signed": (cookie: string) =>
      sign((cookie.split(".")[0] ?? "").toUpperCase(), SECRET),
    "a v1 id, validly signed": () => sign(v1(), SECRET),
    "a v7 id, validly signed": () => sign(v7(), SECRET),
    "the nil id, validly signed": () => sign("00000000-0000-0000-0000-000000000000", SECRET),
    "path traversal, validly signed": () => sign("../../etc/passwd", SECRET),
    "encoded traversal": () => "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "a NUL byte": (cookie: string) => `${cookie.slice(0, 10)}\0${cookie.slice(11)}`,
    "an over-long value": (cookie: string) => cookie + "A".repeat(10_000),
    "a valid v4 id signed but never stored (strict mode)": () => sign(v4(), SECRET),
  } satisfies Record<string, (cookie: string) => string>;

  test.each(Object.entries(forged))(
    "%s: fresh state, status 200, the bad cookie replaced",
    async (_, forge) => {
      const app = makeApp();
      const victim = new Browser(app);
      await victim.request("/increment", { method: "POST" });
      const before = readdirSync(dir).sort();
      const cookie = forge(victim.cookie("app-state") ?? "");
      const response = await app.request("/", {
        headers: { Cookie: `app-state=${encodeURIComponent(cookie)}` },
      });
      expect(response.status).toBe(200);
      expect(await response.text()).toBe("0");
      expect(response.headers.getSetCookie()).toEqual([
        expect.stringMatching(/^app-state=; Max-Age=0/),
      ]);
      expect(readdirSync(dir).sort()).toEqual(before);

      const attacker = new Browser(app);
      attacker.cookies.set("app-state", encodeURIComponent(cookie));
      await attacker.request("/increment", { method: "POST" });
      expect(idOf(attacker)).not.toBe(cookie.split(".")[0]);
      expect(await victim.text("/")).toBe("1");
    },
  );

  test("a cookie of one key replayed under another key loads nothing", async () => {
    const app = makeApp();
    const browser = new Browser(app);
    await browser.request("/increment", { method: "POST" });
    const response = await app.request("/theme", {
      headers: { Cookie: `prefs=${browser.cookies.get("app-state")}` },
    });
    expect(await response.text()).toBe("light");
    // Signed for its own key, it does not verify: nothing is read, nothing quarantined.
    expect(warnings).toEqual([]);
    expect(await browser.text("/")).toBe("1");
  });
});

describe("several keys", () => {
  test("two classes have independent cookies and files", async () => {
    const browser = new Browser(makeApp());
    await browser.request("/increment", { method: "POST" });
    await browser.request("/theme", { method: "POST" });
    expect([...browser.cookies.keys()].sort()).toEqual(["app-state", "prefs"]);
    expect(idOf(browser, "prefs")).not.toBe(idOf(browser));
    expect(stateFiles()).toHaveLength(2);
    await browser.request("/clear", { method: "POST" });
    expect(await browser.text("/theme")).toBe("dark");
    expect(await browser.text("/")).toBe("0");
  });
});

describe("failed requests", () => {
  test("a handler that throws after a change: Hono's error response carries the cookie of the state saved with it", async () => {
    const app = makeApp();
    app.post("/fail", () => {
      new AppState().increment();
      throw new Error("the handler failed");
    });
    app.onError((_, c) => c.text("failed", 500));
    const browser = new Browser(app);
    expect((await browser.request("/fail", { method: "POST" })).status).toBe(500);
    expect(stateFiles()).toEqual([idOf(browser)]);
    expect(await browser.text("/")).toBe("1");
  });

  test("a new browser's state changed before a throw that escapes Hono (not an Error) leaves no file behind", async () => {
    const app = makeApp();
    app.post("/fail", () => {
      new AppState().increment();
      throw "not an Error";
    });
    await expect(app.request("/fail", { method: "POST" })).rejects.toBe("not an Error");
    // A background write of the change begins two turns of the event loop later.
    for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
    expect(store.begun).toBe(0);
    expect(stateFiles()).toEqual([]);
    expect(warnings).toEqual([
      expect.stringMatching(
        /^\[hono-persist\] a change to "app-state" [0-9a-f-]{36} made after its request ended was not saved: its request ended without storing it$/,
      ),
    ]);
  });

  test("a new browser's state first changed after its request ended (no cookie was sent) is not written", async () => {
    const app = makeApp();
    let kept: AppState | undefined;
    app.get("/keep", (c) => {
      kept = new AppState();
      return c.text("ok");
    });
    const response = await app.request("/keep");
    expect(response.headers.getSetCookie()).toEqual([]);
    (kept as AppState).count++;
    for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
    expect(store.begun).toBe(0);
    expect(stateFiles()).toEqual([]);
    expect(warnings).toEqual([
      expect.stringMatching(
        /made after its request ended was not saved: its request ended without storing it$/,
      ),
    ]);
  });
});

describe("clear and regenerate", () => {
  test("clearCookieState() removes the file and expires the cookie; the next change gets a new id", async () => {
    const browser = new Browser(makeApp());
    await browser.request("/increment", { method: "POST" });
    const oldId = idOf(browser);
    expect(existsSync(join(dir, oldId))).toBe(true);
    const response = await browser.request("/clear", { method: "POST" });
    expect(response.headers.getSetCookie()).toEqual([
      expect.stringMatching(/^app-state=; Max-Age=0; Path=\//),
    ]);
    expect(existsSync(join(dir, oldId))).toBe(false);
    expect(browser.cookies.has("app-state")).toBe(false);
    expect(await browser.text("/")).toBe("0");
    await browser.request("/increment", { method: "POST" });
    expect(idOf(browser)).not.toBe(oldId);
    expect(await browser.text("/")).toBe("1");
  });

  test("clearCookieState() on a new browser's state in the request that made it: no cookie issued, no file", async () => {
    const app = makeApp();
    app.post("/make-and-clear", async (c) => {
      const state = new AppState();
      state.increment();
      await state.clearCookieState();
      return c.text("ok");
    });
    const response = await app.request("/make-and-clear", { method: "POST" });
    expect(response.headers.getSetCookie()).toEqual([
      expect.stringMatching(/^app-state=; Max-Age=0; Path=\//),
    ]);
    expect(store.begun).toBe(0);
    expect(stateFiles()).toEqual([]);
  });

  test("regenerate() moves the state to a new id; the old cookie loads nothing", async () => {
    const app = makeApp();
    const browser = new Browser(app);
    await browser.request("/increment", { method: "POST" });
    await browser.request("/increment", { method: "POST" });
    const oldCookie = browser.cookies.get("app-state") ?? "";
    const oldId = idOf(browser);
    const newId = await browser.text("/regenerate", { method: "POST" });
    expect(newId).not.toBe(oldId);
    expect(idOf(browser)).toBe(newId);
    expect(stateFiles()).toEqual([newId]);
    expect(await browser.text("/")).toBe("2");
    const fixated = await app.request("/", { headers: { Cookie: `app-state=${oldCookie}` } });
    expect(await fixated.text()).toBe("0");
  });
});

describe("expiry", () => {
  test("idle timeout slides with each request, and refreshing does not rewrite the file", async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    const app = makeApp({ idleTimeout: 100 });
    const browser = new Browser(app);
    await browser.request("/increment", { method: "POST" });
    const file = join(dir, idOf(browser));
    const content = readFileSync(file, "utf8");
    vi.setSystemTime(Date.now() + 90_000);
    expect(await browser.text("/")).toBe("1");
    expect(readFileSync(file, "utf8")).toBe(content);
    expect(store.writes).toBe(1);
    vi.setSystemTime(Date.now() + 90_000);
    expect(await browser.text("/")).toBe("1");
    vi.setSystemTime(Date.now() + 101_000);
    expect(await browser.text("/")).toBe("0");
  });

  test("the absolute lifetime ends state however active", async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    const browser = new Browser(makeApp({ idleTimeout: 100, maxAge: 250 }));
    await browser.request("/increment", { method: "POST" });
    for (let elapsed = 0; elapsed < 240; elapsed += 60) {
      vi.setSystemTime(Date.now() + 60_000);
      expect(await browser.text("/")).toBe("1");
    }
    vi.setSystemTime(Date.now() + 20_000);
    expect(await browser.text("/")).toBe("0");
  });

  test("sweep() removes expired files by stat alone and keeps live ones", async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    const app = makeApp({ idleTimeout: 100 });
    const old = new Browser(app);
    await old.request("/increment", { method: "POST" });
    // Unparseable content: a sweep that parsed would have to quarantine it, not just remove it.
    overwrite(join(dir, idOf(old)), "not json");
    vi.setSystemTime(Date.now() + 60_000);
    const young = new Browser(app);
    await young.request("/increment", { method: "POST" });
    vi.setSystemTime(Date.now() + 50_000);
    expect(await store.sweep()).toBe(1);
    expect(stateFiles()).toEqual([idOf(young)]);
  });
});

describe("broken state", () => {
  test("a file that does not parse is quarantined and logged; the browser starts fresh", async () => {
    const browser = new Browser(makeApp());
    await browser.request("/increment", { method: "POST" });
    const id = idOf(browser);
    overwrite(join(dir, id), '{"hono-persist":1,"key":"app-st');
    const response = await browser.request("/");
    expect(response.status).toBe(200);
    expect(await response.text()).toBe("0");
    expect(readdirSync(dir).filter((name) => name.endsWith(".corrupt"))).toEqual([
      expect.stringMatching(new RegExp(`^${id}\\.\\d+\\.corrupt$`)),
    ]);
    expect(warnings).toEqual([
      `[hono-persist] quarantined state "app-state" ${id}: [hono-persist] stored state is not valid JSON (torn or foreign file)`,
    ]);
  });

  test.each([
    ["__proto__", '{"json":{"count":5,"__proto__":{"polluted":true}}}', "quarantined"],
    [
      "nested __proto__",
      '{"json":{"count":5,"items":[{"__proto__":{"polluted":true}}]}}',
      "quarantined",
    ],
    [
      "constructor.prototype",
      '{"json":{"count":5,"constructor":{"prototype":{"polluted":true}}}}',
      "ignored",
    ],
    [
      "a superjson meta path",
      '{"json":{"count":5,"tags":{}},"meta":{"values":{"tags.__proto__.polluted":["undefined"]},"v":1}}',
      "quarantined",
    ],
  ])("a state file with a %s payload pollutes nothing (%s)", async (_, state, outcome) => {
    const browser = new Browser(makeApp());
    await browser.request("/increment", { method: "POST" });
    const id = idOf(browser);
    const file = join(dir, id);
    const envelope = JSON.parse(readState(file) as string);
    overwrite(file, JSON.stringify({ ...envelope, state: "STATE" }).replace('"STATE"', state));
    const response = await browser.request("/state");
    expect(response.status).toBe(200);
    const body = (await response.json()) as { count: number; isAppState: boolean };
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.prototype).not.toHaveProperty("polluted");
    expect(body.isAppState).toBe(true);
    if (outcome === "quarantined") {
      expect(body.count).toBe(0);
      expect(warnings[0]).toMatch(
        new RegExp(`^\\[hono-persist\\] quarantined state "app-state" ${id}: `),
      );
    } else {
      // A `constructor` field is data, never assigned over the instance's constructor.
      expect(body.count).toBe(5);
    }
  });

  test("a symlink planted in place of a state file is quarantined, not followed", async () => {
    const browser = new Browser(makeApp());
    await browser.request("/increment", { method: "POST" });
    const id = idOf(browser);
    const target = join(dir, "elsewhere");
    writeFileSync(target, readFileSync(join(dir, id)));
    rmSync(join(dir, id));
    symlinkSync(target, join(dir, id));
    const response = await browser.request("/");
    expect(response.status).toBe(200);
    expect(await response.text()).toBe("0");
    expect(
      lstatSync(
        join(dir, readdirSync(dir).find((name) => name.endsWith(".corrupt")) ?? ""),
      ).isSymbolicLink(),
    ).toBe(true);
    expect(warnings).toEqual([
      `[hono-persist] quarantined state "app-state" ${id}: [hono-persist] ${join(dir, id)} is a symbolic link`,
    ]);
  });

  test("a stored file larger than `maxBytes` is quarantined unread", async () => {
    const browser = new Browser(makeApp());
    await browser.request("/increment", { method: "POST" });
    const id = idOf(browser);
    overwrite(join(dir, id), `{"padding":"${"x".repeat(3_000)}"}`);
    expect(
      await new Browser(makeApp({ maxBytes: 2_000 }))
        .request("/", {
          headers: { Cookie: `app-state=${browser.cookies.get("app-state")}` },
        })
        .then((response) => response.text()),
    ).toBe("0");
    expect(warnings).toEqual([
      `[hono-persist] quarantined state "app-state" ${id}: [hono-persist] stored state is 3014 bytes, over \`maxBytes\` (2000)`,
    ]);
  });

  test("a failed write fails the request through Hono's error handler; the last good state stays and is served next", async () => {
    let fault: NodeJS.ErrnoException | undefined;
    class FaultyStore extends FileStore {
      override async set(id: string, data: string, ttl: number): Promise<void> {
        if (fault) throw fault;
        return super.set(id, data, ttl);
      }
    }
    const app = makeApp({ store: new FaultyStore({ dir, sweepInterval: 0 }) });
    const errors: unknown[] = [];
    app.onError((error, c) => {
      errors.push(error);
      return c.text("failed", 500);
    });
    const browser = new Browser(app);
    await browser.request("/increment", { method: "POST" });
    const file = join(dir, idOf(browser));
    const before = readFileSync(file, "utf8");
    fault = Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" });
    expect((await browser.request("/increment", { method: "POST" })).status).toBe(500);
    expect(errors).toHaveLength(1);
    expect((errors[0] as PersistError).code).toBe("STORE_FAILED");
    expect((errors[0] as PersistError).message).toBe(
      `[hono-persist] could not save state "app-state" ${idOf(browser)}: ENOSPC: no space left on device, write`,
    );
    expect(readFileSync(file, "utf8")).toBe(before);
    fault = undefined;
    expect(await browser.text("/")).toBe("1");
    await browser.request("/increment", { method: "POST" });
    expect(await browser.text("/")).toBe("2");
  });

  test("a value superjson would change fails the request with UNSERIALIZABLE, naming the field; the previous state stays", async () => {
    const app = makeApp();
    const errors: unknown[] = [];
    app.onError((error, c) => {
      errors.push(error);
      return c.text("failed", 500);
    });
    app.post("/unstorable", (c) => {
      new AppState().tags.set("weak", new WeakSet() as never);
      return c.text("ok");
    });
    const browser = new Browser(app);
    await browser.request("/increment", { method: "POST" });
    expect((await browser.request("/unstorable", { method: "POST" })).status).toBe(500);
    expect(errors).toEqual([
      new PersistError(
        "UNSERIALIZABLE",
        "field `tags.get(weak)` holds an instance of `WeakSet`, which would come back as a plain object: add the class to @persist's `classes` option",
      ),
    ]);
    expect(await browser.text("/")).toBe("1");
    expect((await (await browser.request("/state")).json()) as object).toMatchObject({ tags: [] });
  });

  test("a state over `maxBytes` is refused at flush with a clear error; the previous state stays", async () => {
    const app = makeApp({ maxBytes: 2_000 });
    const errors: unknown[] = [];
    app.onError((error, c) => {
      errors.push(error);
      return c.text("failed", 500);
    });
    app.post("/grow", (c) => {
      const state = new AppState();
      for (let i = 0; i < 200; i++) state.history.push(new Date());
      return c.text("ok");
    });
    const browser = new Browser(app);
    await browser.request("/increment", { method: "POST" });
    const file = join(dir, idOf(browser));
    const before = readFileSync(file, "utf8");
    expect((await browser.request("/grow", { method: "POST" })).status).toBe(500);
    expect(errors[0]).toBeInstanceOf(PersistError);
    expect((errors[0] as PersistError).code).toBe("STATE_TOO_LARGE");
    expect((errors[0] as PersistError).message).toMatch(
      /^\[hono-persist\] state "app-state" is \d+ bytes, over `maxBytes` \(2000\); it was not saved$/,
    );
    expect(readFileSync(file, "utf8")).toBe(before);
    expect(await browser.text("/")).toBe("1");
  });
});

describe("large states", () => {
  @persist("large")
  class Large {
    blob = "";
    extra: object = {};
  }

  test("a state over 16 K characters (handed to the store a turn after its serialization) is stored whole", async () => {
    const app = makeApp();
    app.post("/large", (c) => {
      new Large().blob = "é".repeat(20_000);
      return c.text("ok");
    });
    app.get("/large", (c) => c.text(new Large().blob));
    const browser = new Browser(app);
    expect((await browser.request("/large", { method: "POST" })).status).toBe(200);
    expect(store.writes).toBe(1);
    expect(await browser.text("/large")).toBe("é".repeat(20_000));
  });

  test("a large state cleared between its serialization and its write is not written", async () => {
    const app = makeApp();
    let instance: (Large & Persisted) | undefined;
    let clearing: Promise<void> | undefined;
    // Read by the serialization (an own getter): clears the state in the next turn, the one
    // before the write would start.
    const hook = {
      get armed() {
        if (instance && !clearing)
          setImmediate(() => {
            clearing = instance?.clearCookieState();
          });
        return true;
      },
    };
    app.post("/large", (c) => {
      const state = new Large();
      state.blob = (c.req.query("clear") ? "y" : "x").repeat(20_000);
      if (c.req.query("clear")) {
        instance = state as Large & Persisted;
        state.extra = hook;
      }
      return c.text("ok");
    });
    const browser = new Browser(app);
    await browser.request("/large", { method: "POST" });
    const files = stateFiles();
    expect(files).toHaveLength(1);
    const file = join(dir, files[0] as string);
    expect(store.writes).toBe(1);
    expect((await browser.request("/large?clear=1", { method: "POST" })).status).toBe(200);
    await clearing;
    expect(clearing).toBeDefined();
    expect(store.writes).toBe(1);
    expect(existsSync(file)).toBe(false);
  });
});

describe("versions", () => {
  test("a stored state of an older version is migrated, and dropped without `migrate`", async () => {
    const browser = new Browser(makeApp());
    await browser.request("/increment", { method: "POST" });
    const file = join(dir, idOf(browser));
    const stored = JSON.parse(readState(file) as string);
    stored.version = 0;
    overwrite(file, JSON.stringify(stored));
    expect(await browser.text("/")).toBe("0");
    expect(warnings[0]).toContain(
      "stored by version 0, the class is at version 1 and has no `migrate`",
    );
  });
});

describe("configuration errors", () => {
  test.each([
    [
      {},
      "[hono-persist] option `secret` is required: a string of at least 32 characters, or an array of them",
    ],
    [{ secret: "short" }, "[hono-persist] option `secret` must be at least 32 characters"],
    [
      { secret: [SECRET, "short"] },
      "[hono-persist] option `secret` must be at least 32 characters",
    ],
    [
      { secret: SECRET, maxAge: 500 * 86_400 },
      "[hono-persist] option `maxAge` must be at most 34560000 seconds (400 days)",
    ],
    [
      { secret: SECRET, idleTimeout: -1 },
      "[hono-persist] option `idleTimeout` must be a positive number",
    ],
    [
      { secret: SECRET, cookie: { hostPrefix: true, domain: "example.com" } },
      '[hono-persist] option `cookie.hostPrefix` needs a Secure cookie with `path` "/" and no `domain`',
    ],
  ])("persistSession(%j) throws", (options, message) => {
    expect(() =>
      persistSession({ store: new MemoryStore(), ...options } as PersistSessionOptions),
    ).toThrow(new TypeError(message));
  });

  test("a directory that cannot be created is reported with its path and the OS error", () => {
    writeFileSync(join(dir, "file"), "");
    const error = (() => {
      try {
        new FileStore({ dir: join(dir, "file", "sessions") });
      } catch (caught) {
        return caught;
      }
    })();
    expect(error).toBeInstanceOf(PersistError);
    expect((error as PersistError).code).toBe("STORE_DIR");
    expect((error as PersistError).message).toBe(
      `[hono-persist] cannot use ${join(dir, "file", "sessions")} as the state directory: ENOTDIR: not a directory, mkdir '${join(dir, "file", "sessions")}'`,
    );
  });
});
