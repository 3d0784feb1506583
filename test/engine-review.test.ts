// Adversarial review of the state engine as a lifecycle (src/internal/{live,load,writer,
// background,clear,regenerate,scope}.ts): interleavings forced with gated stores, one test per
// behaviour expected.
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { Hono } from "hono";
import { afterEach, beforeEach, expect, test } from "vitest";
import {
  FileStore,
  MemoryStore,
  type PersistError,
  type Persisted,
  type PersistSessionOptions,
  persist,
  persistInfo,
  persistSession,
  type Store,
} from "../src/index.js";
import { gate, gatedStore } from "./gates.js";
import { Browser, SECRET, tempDir } from "./helpers.js";

@persist("review")
class State {
  count = 0;
  secret = "";
}
interface State extends Persisted {}

@persist("review-big")
class Big {
  data = "";
}

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

test("a background write that fails while a request of its browser waits for it: that request and the next see the last good state", async () => {
  const store = gatedStore(new MemoryStore());
  const app = appOver(store);
  let late: State | undefined;
  app.post("/keep", (c) => {
    late = new State();
    return c.text("ok");
  });
  const browser = new Browser(app);
  await browser.request("/init", POST);
  await browser.request("/keep", POST);
  const setting = store.hold("set", new Error("disk full"));
  (late as State).count += 1;
  // The background write of that late change is in the store's hands...
  await setting.arrived;
  // ...when the browser's next request takes the state (stage saving -> loading).
  const during = browser.text("/");
  setting.open();
  expect(await during).toBe("100 credit-card");
  expect(await browser.text("/")).toBe("100 credit-card");
  expect(logged.filter((line) => line.includes("internal"))).toEqual([]);
});

test("clearCookieState() on a kept instance while a request of its browser reloads it: that request starts fresh", async () => {
  const store = gatedStore(new MemoryStore());
  const app = appOver(store);
  let late: State | undefined;
  app.post("/keep", (c) => {
    late = new State();
    return c.text("ok");
  });
  const browser = new Browser(app);
  await browser.request("/init", POST);
  await browser.request("/keep", POST);
  const reading = store.hold("get");
  const during = browser.text("/");
  await reading.arrived;
  // The kept instance is the cached one, now `loading` for the request above.
  const clearing = (late as State).clearCookieState();
  reading.open();
  await clearing;
  expect(await during).toBe("0 ");
  expect(await browser.text("/")).toBe("0 ");
});

test("with `lock`, clearCookieState() on a kept instance while a request waits for its lock leaves no lock behind", async () => {
  const store = gatedStore(new FileStore({ dir, sweepInterval: 0 }));
  const options = { lock: { timeout: 1 } };
  const app = appOver(store, options);
  let late: State | undefined;
  app.post("/keep", (c) => {
    late = new State();
    return c.text("ok");
  });
  const browser = new Browser(app);
  await browser.request("/init", POST);
  const cookie = `review=${browser.cookies.get("review")}`;
  await browser.request("/keep", POST);
  const locking = store.hold("lock");
  const during = browser.request("/");
  await locking.arrived;
  await (late as State).clearCookieState();
  locking.open();
  await during;
  // Another process over the same directory, with the same (now cleared) cookie: the lock
  // must be free, not held until it goes stale.
  const other = appOver(new FileStore({ dir, sweepInterval: 0 }), options);
  const response = await other.request("/", { headers: { Cookie: cookie } });
  expect([response.status, await response.text()]).toEqual([200, "0 "]);
});

test("a request whose failed regenerate() was caught still answers, and the state keeps its old id", async () => {
  // Run in a child process: the failure this guards against spins the event loop forever.
  const src = (path: string) => fileURLToPath(new URL(`../src/${path}`, import.meta.url));
  const script = `import { Hono } from "hono";
import { MemoryStore, persist, persistSession } from ${JSON.stringify(src("index.ts"))};
const inner = new MemoryStore();
let locks = 0;
const store = {
  get: (id, ttl) => inner.get(id, ttl),
  set: (id, data, ttl) => inner.set(id, data, ttl),
  delete: (id) => inner.delete(id),
  // The lock service fails once: when regenerate() locks the new id.
  lock: async () => {
    if (++locks === 2) throw new Error("lock service down");
    return () => {};
  },
};
const State = persist("regen")(class State { count = 0 });
const app = new Hono();
app.use(persistSession({ secret: ${JSON.stringify(SECRET)}, store, lock: true }));
app.post("/init", (c) => { new State().count = 7; return c.text("ok"); });
app.get("/", (c) => c.text(String(new State().count)));
app.post("/login", async (c) => {
  const state = new State();
  try {
    await state.regenerate();
    return c.text("moved");
  } catch (error) {
    state.count += 1;
    return c.text("not moved: " + error.message, 503);
  }
});
const init = await app.request("/init", { method: "POST" });
const cookie = (init.headers.get("set-cookie") ?? "").split(";")[0];
const login = await app.request("/login", { method: "POST", headers: { Cookie: cookie } });
const after = await app.request("/", { headers: { Cookie: cookie } });
process.stdout.write(login.status + " | " + (await after.text()));
`;
  const result = await new Promise<{ code: number | null; signal: string | null; out: string }>(
    (resolve) => {
      const child = execFile(
        process.execPath,
        ["--import", "tsx", "--input-type=module", "--eval", script],
        { timeout: 8_000, cwd: fileURLToPath(new URL("..", import.meta.url)) },
        (_error, stdout, stderr) =>
          resolve({ code: child.exitCode, signal: child.signalCode, out: stdout + stderr }),
      );
    },
  );
  expect(result).toEqual({ code: 0, signal: null, out: "503 | 8" });
});

test("a handler that calls app.request() for an internal endpoint whose save fails keeps its own state", async () => {
  const app = appOver(new MemoryStore(), { maxBytes: 1000 });
  app.post("/big", (c) => {
    new Big().data = "x".repeat(2000);
    return c.text("ok");
  });
  app.post("/outer", async (c) => {
    const inner = await app.request("/big", POST);
    const state = new State();
    state.count += 1;
    return c.text(`${inner.status} ${state.count} ${state.secret}`);
  });
  const browser = new Browser(app);
  await browser.request("/init", POST);
  expect(await browser.text("/outer", POST)).toBe("500 101 credit-card");
  expect(await browser.text("/")).toBe("101 credit-card");
});

test("a handler that makes a request for another browser whose save fails never sees that browser's state", async () => {
  const app = appOver(new MemoryStore(), { maxBytes: 1000 });
  app.post("/mine", (c) => {
    const state = new State();
    state.count = 5;
    state.secret = "attacker";
    return c.text("ok");
  });
  app.post("/big", (c) => {
    new State();
    new Big().data = "x".repeat(2000);
    return c.text("ok");
  });
  app.post("/forward", async (c) => {
    const inner = await app.request("/big", {
      method: "POST",
      headers: { Cookie: c.req.header("X-Forward-Cookie") ?? "" },
    });
    const state = new State();
    return c.text(`${inner.status} ${state.count} ${state.secret}`);
  });
  const victim = new Browser(app);
  await victim.request("/init", POST);
  const attacker = new Browser(app);
  await attacker.request("/mine", POST);
  const forwarded = `review=${victim.cookies.get("review")}`;
  expect(
    await attacker.text("/forward", { method: "POST", headers: { "X-Forward-Cookie": forwarded } }),
  ).toBe("500 5 attacker");
});

test("two concurrent requests whose saves fail each read their own state in onError", async () => {
  const app = new Hono();
  app.use(persistSession({ secret: SECRET, store: new MemoryStore(), maxBytes: 1000, logger }));
  app.post("/", async (c) => {
    const state = new State();
    state.secret = c.req.header("X-Who") ?? "";
    new Big().data = "x".repeat(2000);
    return c.text("ok");
  });
  app.onError((error, c) => c.text(`${(error as PersistError).code}: ${new State().secret}`, 500));
  const ask = (who: string) => app.request("/", { method: "POST", headers: { "X-Who": who } });
  const responses = await Promise.all([ask("a"), ask("b"), ask("c")]);
  expect(await Promise.all(responses.map((response) => response.text()))).toEqual([
    "STATE_TOO_LARGE: a",
    "STATE_TOO_LARGE: b",
    "STATE_TOO_LARGE: c",
  ]);
});

test("regenerate() on an instance kept from an ended request, inside another request, rejects with a TypeError", async () => {
  const app = appOver(new MemoryStore(), { cacheSize: 0 });
  let late: State | undefined;
  app.post("/keep", (c) => {
    late = new State();
    return c.text("ok");
  });
  let outcome: unknown;
  app.post("/other", async (c) => {
    outcome = await Promise.resolve()
      .then(() => (late as State).regenerate())
      .then(
        () => "resolved",
        (error: unknown) => error,
      );
    return c.text("ok");
  });
  const browser = new Browser(app);
  await browser.request("/init", POST);
  await browser.request("/keep", POST);
  await new Browser(app).request("/other", POST);
  expect(outcome).toBeInstanceOf(TypeError);
});

test("regenerate() that could not move the state (the write in flight failed) rejects", async () => {
  const store = gatedStore(new MemoryStore());
  const app = appOver(store);
  app.post("/inc", (c) => {
    new State().count += 1;
    return c.text("ok");
  });
  const login = gate();
  let outcome = "";
  app.post("/login", async (c) => {
    const state = new State();
    const oldId = persistInfo(state).id;
    const moving = state.regenerate();
    login.reached();
    outcome = await moving.then(
      () => `resolved, ${persistInfo(state).id === oldId ? "same id" : "new id"}`,
      (error: Error) => `rejected: ${error.message}`,
    );
    return c.text("ok");
  });
  const browser = new Browser(app);
  await browser.request("/init", POST);
  const setting = store.hold("set", new Error("disk full"));
  const inc = browser.request("/inc", POST);
  await setting.arrived;
  const signIn = browser.request("/login", POST);
  await login.arrived;
  setting.open();
  await Promise.all([inc, signIn]);
  expect(outcome).toMatch(
    /^rejected: \[hono-persist\] could not save state "review" .*: disk full$/,
  );
});

test("with `lock` on a FileStore, concurrent regenerate() and clearCookieState() leave no lock another app waits for", async () => {
  const options = { lock: { timeout: 1 } };
  const app = appOver(new FileStore({ dir, sweepInterval: 0 }), options);
  const both = gate();
  app.post("/login", async (c) => {
    const state = new State();
    const moving = state.regenerate();
    both.reached();
    await moving;
    state.secret = "signed-in";
    return c.text("ok");
  });
  app.post("/logout", async (c) => {
    await both.arrived;
    await new State().clearCookieState();
    return c.text("ok");
  });
  const browser = new Browser(app);
  await browser.request("/init", POST);
  const cookie = `review=${browser.cookies.get("review")}`;
  const responses = await Promise.all([
    browser.request("/login", POST),
    app.request("/logout", { method: "POST", headers: { Cookie: cookie } }),
  ]);
  expect(responses.map((response) => response.status)).toEqual([200, 200]);
  const other = appOver(new FileStore({ dir, sweepInterval: 0 }), options);
  for (const value of [cookie, `review=${browser.cookies.get("review")}`]) {
    const response = await other.request("/", { headers: { Cookie: value } });
    expect([response.status, await response.text()]).toEqual([200, "0 "]);
  }
});
