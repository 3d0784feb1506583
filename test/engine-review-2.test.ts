// Second adversarial review of the state engine (src/internal/*.ts, src/middleware.ts), the
// stored format's newer parts (`absent`, migrations, shared references) and the locks: each
// test names the behaviour expected.
import { Hono } from "hono";
import { afterEach, beforeEach, expect, test } from "vitest";
import {
  MemoryStore,
  PersistError,
  type Persisted,
  type PersistSessionOptions,
  persist,
  persistSession,
  type Store,
} from "../src/index.js";
import { registry } from "../src/internal/registry.js";
import { gate, gatedStore } from "./gates.js";
import { Browser, SECRET, tempDir } from "./helpers.js";

let dir: string;
let removeDir: () => void;
let logged: string[];
const logger = { warn: (m: string) => logged.push(m), error: (m: string) => logged.push(m) };
const POST = { method: "POST" } as const;

beforeEach(() => {
  ({ dir, remove: removeDir } = tempDir());
  logged = [];
});
afterEach(() => removeDir());

function appOver(store: Store, options: Partial<PersistSessionOptions> = {}) {
  const app = new Hono();
  app.use(persistSession({ secret: SECRET, store, logger, cacheSize: 0, ...options }));
  app.onError((error, c) => c.text(`error: ${error.message}`, 500));
  return app;
}

// ---------------------------------------------------------------- shared references

interface Item {
  name: string;
}

@persist("review2-shared")
class Shared {
  items: Item[] = [];
  picked: Set<Item> = new Set();
  labels: Map<Item, string> = new Map();
}

test("an object put in a Set straight from the state's array is still that object after a restore", async () => {
  const app = appOver(new MemoryStore());
  app.post("/", (c) => {
    const state = new Shared();
    state.items.push({ name: "a" }, { name: "b" });
    // A Set built from the state's values holds their Proxies.
    state.picked = new Set([state.items[0] as Item]);
    return c.text("ok");
  });
  app.get("/", (c) => {
    const state = new Shared();
    const [picked] = [...state.picked];
    return c.json({ same: picked === state.items[0] });
  });
  const browser = new Browser(app);
  await browser.request("/", POST);
  expect(await (await browser.request("/")).json()).toEqual({ same: true });
});

test("an object keying a Map built from the state's array is still that object after a restore", async () => {
  const app = appOver(new MemoryStore());
  app.post("/", (c) => {
    const state = new Shared();
    state.items.push({ name: "a" });
    state.labels = new Map([[state.items[0] as Item, "first"]]);
    return c.text("ok");
  });
  app.get("/", (c) => {
    const state = new Shared();
    return c.json({ label: state.labels.get(state.items[0] as Item) ?? null });
  });
  const browser = new Browser(app);
  await browser.request("/", POST);
  expect(await (await browser.request("/")).json()).toEqual({ label: "first" });
});

// ---------------------------------------------------------------- absent, exclude, migrate

/** The cookies of `from`, in a new browser of `app` (the same browser after a deploy). */
function sameBrowser(from: Browser, app: Hono): Browser {
  const browser = new Browser(app);
  for (const [name, value] of from.cookies) browser.cookies.set(name, value);
  return browser;
}

test("a field that `migrate` gives back is kept, though the older version had deleted it", async () => {
  const store = new MemoryStore();
  @persist("review2-readded")
  class V1 {
    title = "t";
    draft?: string = "";
  }
  const first = appOver(store);
  first.post("/", (c) => {
    delete new V1().draft;
    return c.text("ok");
  });
  const old = new Browser(first);
  await old.request("/", POST);
  registry.delete("review2-readded");
  @persist("review2-readded", {
    version: 2,
    migrate: (fields) => ({ ...fields, draft: "restored by migrate" }),
  })
  class V2 {
    title = "";
    draft = "";
  }
  const second = appOver(store);
  second.get("/", (c) => c.json({ ...new V2() }));
  const browser = sameBrowser(old, second);
  expect(await (await browser.request("/")).json()).toEqual({
    title: "t",
    draft: "restored by migrate",
  });
  // Written at version 2 without the field in `absent`: the next restore keeps it too.
  expect(await (await browser.request("/")).json()).toEqual({
    title: "t",
    draft: "restored by migrate",
  });
});

// ---------------------------------------------------------------- lifecycle moves

@persist("review2-state")
class State {
  count = 0;
  secret = "";
}
interface State extends Persisted {}

function stateApp(store: Store, options: Partial<PersistSessionOptions> = {}) {
  const app = appOver(store, options);
  app.get("/", (c) => c.text(`${new State().count} ${new State().secret}`));
  app.post("/init", (c) => {
    const state = new State();
    state.count = 100;
    state.secret = "credit-card";
    return c.text("ok");
  });
  return app;
}

test("regenerate() whose old id cannot be deleted after another tab cleared the state rejects with STORE_FAILED, not an internal error", async () => {
  const store = gatedStore(new MemoryStore());
  const app = stateApp(store, { cacheSize: 1000 });
  const logout = gate();
  let rejected: unknown;
  app.post("/login", async (c) => {
    const state = new State();
    await state.regenerate().catch((error: unknown) => {
      rejected = error;
      throw error;
    });
    state.secret = "signed-in";
    return c.text("ok");
  });
  app.post("/logout", async (c) => {
    const state = new State();
    logout.reached();
    await logout.opened;
    await state.clearCookieState();
    return c.text("logged out");
  });
  const browser = new Browser(app);
  await browser.request("/init", POST);
  const cookie = `review2-state=${browser.cookies.get("review2-state")}`;
  // The logout tab holds the state before the login tab moves it.
  const loggingOut = app.request("/logout", { method: "POST", headers: { Cookie: cookie } });
  await logout.arrived;
  const oldDelete = store.hold("delete", new Error("disk gone"));
  const loggingIn = app.request("/login", { method: "POST", headers: { Cookie: cookie } });
  await oldDelete.arrived;
  logout.open();
  expect(await (await loggingOut).text()).toBe("logged out");
  oldDelete.open();
  const response = await loggingIn;
  expect(response.status).toBe(500);
  // The old entry may still hold the state: the browser keeps its old cookie.
  expect(response.headers.getSetCookie()).toEqual([]);
  expect(rejected).toBeInstanceOf(PersistError);
  expect(String(rejected)).toMatch(
    /^PersistError: \[hono-persist\] could not delete state "review2-state" [0-9a-f-]{36}, the id regenerate\(\) replaced: disk gone$/,
  );
});

// ---------------------------------------------------------------- changes after the request

test("a change made after the request ended, before the browser's next request, is saved whatever `cacheSize`", async () => {
  const store = new MemoryStore();
  const app = stateApp(store, { cacheSize: 0 });
  let kept: State | undefined;
  app.post("/keep", (c) => {
    kept = new State();
    kept.count = 1;
    return c.text("ok");
  });
  app.post("/inc", (c) => {
    const state = new State();
    state.count += 10;
    return c.text(String(state.count));
  });
  const browser = new Browser(app);
  await browser.request("/keep", POST);
  // A timer of the ended request: written in the background, on the next turn.
  (kept as State).count = 5;
  // The browser's next request comes first. With the default cache it takes the instance with
  // its change and answers 15; evicted (cacheSize 0) the change is dropped, logged as "a newer
  // request holds this state".
  expect(await browser.text("/inc", POST)).toBe("15");
  expect(await browser.text("/")).toBe("15 ");
  expect(logged).toEqual([]);
});

// ---------------------------------------------------------------- locks

test("with `lock` on a FileStore, an entry that cannot be read in place of the lock file times out (503) instead of blocking the process", async () => {
  const { execFile } = await import("node:child_process");
  const { fileURLToPath } = await import("node:url");
  const index = fileURLToPath(new URL("../src/index.ts", import.meta.url));
  // In a child process: a spin of the event loop would stop this one, timeouts included.
  const script = `
    const { mkdirSync } = await import("node:fs");
    const { join } = await import("node:path");
    const { Hono } = await import("hono");
    const { FileStore, persist, persistSession } = await import(${JSON.stringify(index)});
    const [dir, secret] = process.argv.slice(1);
    const Counter = persist("review2-spin")(class { n = 0; });
    const app = new Hono();
    app.use(persistSession({ secret, store: new FileStore({ dir, sweepInterval: 0 }), lock: { timeout: 0.2 } }));
    app.post("/", (c) => { new Counter().n++; return c.text("ok"); });
    app.onError((error, c) => c.text(error.message, error.status ?? 500));
    const created = await app.request("/", { method: "POST" });
    const cookie = created.headers.get("set-cookie").split(";")[0];
    const id = decodeURIComponent(cookie.split("=")[1]).split(".")[0];
    // Left by anything but a holder of ours: a directory, or a file this user cannot read.
    mkdirSync(join(dir, id + ".lock"));
    const response = await app.request("/", { method: "POST", headers: { Cookie: cookie } });
    console.log(response.status);
  `;
  const result = await new Promise<{ stdout: string; killed: boolean }>((resolve) => {
    const child = execFile(
      process.execPath,
      ["--import", "tsx", "--input-type=module", "-e", script, dir, SECRET],
      { cwd: fileURLToPath(new URL("..", import.meta.url)), timeout: 10_000 },
      (_error, stdout) => resolve({ stdout, killed: child.killed }),
    );
  });
  expect(result).toEqual({ stdout: "503\n", killed: false });
}, 15_000);

// ---------------------------------------------------------------- stored input

test("a stored state nested too deeply to encode again is quarantined, and the browser starts fresh", async () => {
  const store = new MemoryStore();
  const app = stateApp(store);
  const browser = new Browser(app);
  await browser.request("/init", POST);
  const id = (browser.cookie("review2-state") as string).split(".")[0] as string;
  const now = Date.now();
  // Valid JSON (JSON.parse reads it), but JSON.stringify of it overflows the stack.
  const deep = `${"[".repeat(20_000)}${"]".repeat(20_000)}`;
  await store.set(
    id,
    `{"hono-persist":1,"key":"review2-state","version":1,"created":${now},"saved":${now},"state":{"json":{"count":1,"secret":${deep}}}}`,
    60,
  );
  const response = await browser.request("/");
  expect([response.status, await response.text()]).toEqual([200, "0 "]);
  expect(logged).toEqual([
    expect.stringMatching(/^\[hono-persist\] quarantined state "review2-state" [0-9a-f-]{36}: /),
  ]);
});

test("a stored field whose name the class now gives a method does not replace the method", async () => {
  const store = new MemoryStore();
  @persist("review2-method")
  class V1 {
    count = 0;
    total = 0;
  }
  const first = appOver(store);
  first.post("/", (c) => {
    const state = new V1();
    state.count = 2;
    state.total = 2;
    return c.text("ok");
  });
  const old = new Browser(first);
  await old.request("/", POST);
  registry.delete("review2-method");
  // `total` became computed: a method now, nothing to migrate.
  @persist("review2-method")
  class V2 {
    count = 0;
    total(): number {
      return this.count * 10;
    }
  }
  const second = appOver(store);
  second.get("/", (c) => c.text(String(new V2().total())));
  const browser = sameBrowser(old, second);
  const response = await browser.request("/");
  expect([response.status, await response.text()]).toEqual([200, "20"]);
});
