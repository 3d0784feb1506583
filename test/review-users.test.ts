// Adversarial review of issue #21 parts 1 and 2 (user-scoped state, sessions): each test is a
// promise of docs/users.md driven through app.request() over real stores; two FileStores of one
// directory stand for two processes.
import { Hono } from "hono";
import { HTTPException } from "hono/http-exception";
import { afterEach, beforeEach, describe, expect, test } from "vitest";
import {
  FileStore,
  MemoryStore,
  type Persisted,
  type PersistSessionOptions,
  persist,
  persistInfo,
  persistSession,
  type Store,
} from "../src/index.js";
import { Account, accountApp as sharedAccountApp, Visits } from "./fixtures/account-app.js";
import { type Recorded, recorder } from "./fixtures/hook-recorder.js";
import { Browser, SECRET, tempDir } from "./helpers.js";

// biome-ignore lint/suspicious/noExplicitAny: JSON bodies of the test app
type Json = any;

const OLD_SECRET = "an-older-secret-that-is-at-least-32-chars-long";

let mergeCalls = 0;

@persist("review-prefs", {
  scope: "user",
  merge(user: Prefs, anonymous: Prefs) {
    mergeCalls++;
    for (const pin of anonymous.pins) if (!user.pins.includes(pin)) user.pins.push(pin);
  },
})
class Prefs {
  pins: string[] = [];
}
interface Prefs extends Persisted {}

let dir: string;
let removeDir: () => void;
let errors: string[];
beforeEach(() => {
  mergeCalls = 0;
  errors = [];
  ({ dir, remove: removeDir } = tempDir());
});
afterEach(() => removeDir());

const logger = { warn: () => {}, error: (m: unknown) => void errors.push(String(m)) };

/** The demo's sign-in, kept in a per-browser state (Account): test/fixtures/account-app.ts. */
function accountApp(
  store: Store,
  options: Partial<PersistSessionOptions> = {},
  routes?: (app: Hono, persisted: ReturnType<typeof persistSession>) => void,
) {
  return sharedAccountApp(store, errors, { logger, ...options }, routes);
}

/** The user from header `x-user`, as an auth middleware would put it in the context. */
function headerApp(store: Store, options: Partial<PersistSessionOptions> = {}) {
  const persisted = persistSession({
    secret: SECRET,
    store,
    user: (c) => {
      const user = c.req.header("x-user");
      return user === undefined ? undefined : (JSON.parse(user) as string);
    },
    logger,
    ...options,
  });
  const app = new Hono();
  app.use(persisted);
  app.get("/prefs", (c) => {
    const prefs = new Prefs();
    return c.json({ pins: prefs.pins, ...persistInfo(prefs) });
  });
  app.post("/pin/:name", (c) => {
    new Prefs().pins.push(c.req.param("name"));
    return c.text("ok");
  });
  app.onError((error, c) =>
    error instanceof HTTPException ? error.getResponse() : c.text(String(error), 500),
  );
  return { app, persisted };
}

const post = (device = "A") => ({ method: "POST", headers: { "User-Agent": device } });
/** Header `x-user`: the id as JSON in ASCII, so that any string (a lone surrogate) gets there. */
const as = (user: string) => ({
  headers: {
    "x-user": JSON.stringify(user).replace(
      /[\u007f-\uffff]/g,
      (unit) => `\\u${unit.charCodeAt(0).toString(16).padStart(4, "0")}`,
    ),
  },
});
const postAs = (user?: string) => ({ method: "POST", ...(user && as(user)) });

for (const [name, makeStore] of [
  ["MemoryStore", () => new MemoryStore({ sweepInterval: 0 })],
  ["FileStore", () => new FileStore({ dir, sweepInterval: 0 })],
] as const) {
  describe(`sessions after sign-out or a change of user, on ${name}`, () => {
    test("signing out takes every state of the browser off the user's list", async () => {
      const { app, persisted } = accountApp(makeStore());
      const browser = new Browser(app);
      await browser.request("/signin/ann", post());
      await browser.request("/visit", post());
      expect((await persisted.sessions("ann")).map((s) => s.keys)).toEqual([["account", "visits"]]);
      await browser.request("/signout", post());
      expect(await (await browser.request("/whoami")).text()).toBe("nobody");
      // Found now: [{ keys: ["visits"] }], a browser ann is no longer signed in on.
      expect(await persisted.sessions("ann")).toEqual([]);
    });

    test("a browser now bob's is not ann's to end", async () => {
      const { app, persisted } = accountApp(makeStore());
      const browser = new Browser(app);
      await browser.request("/signin/ann", post());
      await browser.request("/visit", post());
      // Another user signs in on the same browser (no sign-out in between).
      await browser.request("/signin/bob", post());
      expect(await (await browser.request("/visit", post())).text()).toBe("2");
      expect((await persisted.sessions("bob")).map((s) => s.keys)).toEqual([["account", "visits"]]);
      // ann signs out everywhere: bob stays signed in, his state untouched.
      expect(await persisted.endSessions("ann")).toBe(0);
      expect(await (await browser.request("/whoami")).text()).toBe("bob");
      expect(await (await browser.request("/visit", post())).text()).toBe("3");
    });

    test("signed out, then in again at once: the browser is listed and ended", async () => {
      const { app, persisted } = accountApp(makeStore());
      const browser = new Browser(app);
      await browser.request("/signin/ann", post());
      await browser.request("/visit", post());
      await browser.request("/signin/bob", post());
      await browser.request("/signin/ann", post());
      await browser.request("/visit", post());
      expect((await persisted.sessions("ann")).map((s) => s.keys)).toEqual([["account", "visits"]]);
      expect(await persisted.endSessions("ann")).toBe(1);
      expect(await (await browser.request("/whoami")).text()).toBe("nobody");
    });

    test("a lone surrogate is no user id for sessions(), endSessions(), forgetUser()", async () => {
      const store = makeStore();
      const { app, persisted } = headerApp(store);
      // "\ud800x" and "\ufffdx" are one string in UTF-8, so one derived id.
      await app.request("/pin/kept", postAs("\ufffdx"));
      await expect(persisted.forgetUser("\ud800x")).rejects.toThrow(TypeError);
      await expect(persisted.sessions("\ud800x")).rejects.toThrow(TypeError);
      await expect(persisted.endSessions("\ud800x")).rejects.toThrow(TypeError);
      expect((await (await app.request("/prefs", as("\ufffdx"))).json<Json>()).pins).toEqual([
        "kept",
      ]);
    });
  });

  describe(`what holds on ${name}`, () => {
    test("endSessions() with another user's browsers ends nothing of them", async () => {
      const { app, persisted } = accountApp(makeStore());
      const [annB, bobB] = [new Browser(app), new Browser(app)];
      await annB.request("/signin/ann", post("Ann"));
      await bobB.request("/signin/bob", post("Bob"));
      const bobs = (await persisted.sessions("bob")).map((s) => s.browser);
      expect(bobs).toHaveLength(1);
      expect(await persisted.endSessions("ann", { browsers: bobs })).toBe(0);
      expect(await (await bobB.request("/whoami")).text()).toBe("bob");
      expect(await (await annB.request("/whoami")).text()).toBe("ann");
    });

    test("odd user ids: __proto__, 1,024 units of emoji, constructor; never-seen users", async () => {
      const store = makeStore();
      const { app, persisted } = headerApp(store);
      const ids = ["__proto__", "constructor", "😀".repeat(512), "a\u0000b"];
      for (const [i, id] of ids.entries()) await app.request(`/pin/${i}`, postAs(id));
      for (const id of ids) {
        const info = (await (await app.request("/prefs", as(id))).json<Json>()) as Json;
        expect(info.scope).toBe("user");
        expect(info.pins).toHaveLength(1);
        expect(JSON.stringify(info)).not.toContain(id);
      }
      expect(await persisted.sessions("never-seen")).toEqual([]);
      expect(await persisted.endSessions("never-seen")).toBe(0);
      await expect(persisted.forgetUser("never-seen")).resolves.toBeUndefined();
    });

    test("a device string of 10 KB with control characters is cut, listed as given", async () => {
      const device = `\u0001"<x>\\\n${"d".repeat(10_000)}`;
      const { app, persisted } = accountApp(makeStore(), { device: () => device });
      await new Browser(app).request("/signin/ann", post());
      expect((await persisted.sessions("ann")).map((s) => s.device)).toEqual([
        device.slice(0, 200),
      ]);
    });

    test("a resolver whose promise rejects fails that request only", async () => {
      let fail = true;
      const app = new Hono();
      app.use(
        persistSession({
          secret: SECRET,
          store: makeStore(),
          logger,
          user: async () => {
            if (fail) throw new Error("auth down");
            return "ann";
          },
        }),
      );
      app.get("/", (c) => c.json(persistInfo(new Prefs())));
      app.onError((error, c) => c.text(String(error), 500));
      const failed = await app.request("/");
      expect(failed.status).toBe(500);
      expect(await failed.text()).toMatch(/auth down/);
      fail = false;
      expect((await (await app.request("/")).json<Json>()).scope).toBe("user");
    });

    test("both secrets' ids hold a state: the new one wins", async () => {
      const store = makeStore();
      await headerApp(store, { secret: OLD_SECRET }).app.request("/pin/old", postAs("ann"));
      await headerApp(store, { secret: SECRET }).app.request("/pin/new", postAs("ann"));
      const { app } = headerApp(store, { secret: [SECRET, OLD_SECRET] });
      expect((await (await app.request("/prefs", as("ann"))).json<Json>()).pins).toEqual(["new"]);
    });

    test("concurrent first requests after a rotation adopt the old state once", async () => {
      const store = makeStore();
      await headerApp(store, { secret: OLD_SECRET }).app.request("/pin/kept", postAs("ann"));
      const { app } = headerApp(store, { secret: [SECRET, OLD_SECRET] });
      const answers = await Promise.all(
        Array.from({ length: 4 }, (_, i) => app.request(`/pin/p${i}`, postAs("ann"))),
      );
      expect(answers.map((r) => r.status)).toEqual([200, 200, 200, 200]);
      const pins = (await (await app.request("/prefs", as("ann"))).json<Json>()).pins;
      expect([...pins].sort()).toEqual(["kept", "p0", "p1", "p2", "p3"]);
    });

    test("an option `device` answering no string: the request goes on, listed without one", async () => {
      const { app, persisted } = accountApp(makeStore(), {
        device: () => ({ ua: "x" }) as unknown as string,
      });
      const browser = new Browser(app);
      // Found now: 500, TypeError: config.device(...)?.slice is not a function.
      expect((await browser.request("/signin/ann", post())).status).toBe(200);
      expect(await (await browser.request("/whoami")).text()).toBe("ann");
      expect((await persisted.sessions("ann")).map((s) => s.device)).toEqual([undefined]);
    });

    test("no `expired` event for a user with nothing stored, rotated secrets or not", async () => {
      const events: Recorded[] = [];
      const hooks = recorder((event) => void events.push(event));
      const store = makeStore();
      await headerApp(store, { hooks }).app.request("/prefs", as("ann"));
      await headerApp(store, { hooks, secret: [SECRET, OLD_SECRET] }).app.request(
        "/prefs",
        as("bob"),
      );
      expect(events.map((e) => e.name)).toEqual([]);
    });

    test("ending every session from inside a request, the current one too", async () => {
      const store = makeStore();
      const options = store instanceof FileStore ? { lock: { timeout: 2 } } : {};
      const { app } = accountApp(store, options, (app, persisted) =>
        app.post("/end-all", async (c) => {
          new Visits().n++;
          const ended = await persisted.endSessions("ann");
          // Changed after its end: not saved.
          new Visits().n++;
          return c.text(String(ended));
        }),
      );
      const [laptop, phone] = [new Browser(app), new Browser(app)];
      await laptop.request("/signin/ann", post("L"));
      await laptop.request("/visit", post("L"));
      await phone.request("/signin/ann", post("P"));
      expect(await (await laptop.request("/end-all", post("L"))).text()).toBe("2");
      for (const browser of [laptop, phone]) {
        expect(await (await browser.request("/whoami")).text()).toBe("nobody");
        expect(await (await browser.request("/visit", post())).text()).toBe("1");
      }
    });

    test("a browser ended while its request is mid-handler saves nothing back", async () => {
      let atGate!: () => void;
      const arrived = new Promise<void>((resolve) => {
        atGate = resolve;
      });
      let open!: () => void;
      const gate = new Promise<void>((resolve) => {
        open = resolve;
      });
      const { app, persisted } = accountApp(makeStore(), {}, (app) =>
        app.post("/slow", async (c) => {
          new Visits().n++;
          atGate();
          await gate;
          new Visits().n += 10;
          new Account().user = "mallory";
          return c.text("slow");
        }),
      );
      const browser = new Browser(app);
      await browser.request("/signin/ann", post());
      await browser.request("/visit", post());
      const slow = browser.request("/slow", post());
      await arrived;
      expect(await persisted.endSessions("ann")).toBe(1);
      open();
      expect((await slow).status).toBe(200);
      expect(await (await browser.request("/whoami")).text()).toBe("nobody");
      expect(await (await browser.request("/visit", post())).text()).toBe("1");
    });

    test("sessions after regenerate(): one browser, then ended", async () => {
      const { app, persisted } = accountApp(makeStore(), {}, (app) =>
        app.post("/regenerate", async (c) => {
          await new Account().regenerate();
          return c.text("moved");
        }),
      );
      const browser = new Browser(app);
      await browser.request("/signin/ann", post());
      await browser.request("/visit", post());
      await browser.request("/regenerate", post());
      expect((await persisted.sessions("ann")).map((s) => s.keys)).toEqual([["account", "visits"]]);
      expect(await persisted.endSessions("ann")).toBe(1);
      expect(await (await browser.request("/whoami")).text()).toBe("nobody");
    });

    test("sessions recorded under an older secret are listed and ended after a rotation", async () => {
      const store = makeStore();
      const old = accountApp(store, { secret: OLD_SECRET });
      const browser = new Browser(old.app);
      await browser.request("/signin/ann", post("Old"));
      const rotated = accountApp(store, { secret: [SECRET, OLD_SECRET] });
      expect((await rotated.persisted.sessions("ann")).map((s) => s.device)).toEqual(["Old"]);
      expect(await rotated.persisted.endSessions("ann")).toBe(1);
      expect(await rotated.persisted.sessions("ann")).toEqual([]);
      expect(await (await browser.request("/whoami")).text()).toBe("nobody");
    });

    test("except current, from a browser with no state yet: only the others end", async () => {
      const { app } = accountApp(
        makeStore(),
        { user: (c) => c.req.header("x-user") },
        (app, persisted) =>
          app.post("/end-others-of-ann", async (c) =>
            c.text(String(await persisted.endSessions("ann", { except: "current" }))),
          ),
      );
      const other = new Browser(app);
      await other.request("/visit", { method: "POST", headers: { "x-user": "ann" } });
      const fresh = new Browser(app);
      const answer = await fresh.request("/end-others-of-ann", {
        method: "POST",
        headers: { "x-user": "ann" },
      });
      expect(await answer.text()).toBe("1");
      expect(await (await other.request("/visit", post())).text()).toBe("1");
    });

    test("merge when the class has no anonymous state: no call", async () => {
      const { app } = headerApp(makeStore());
      await app.request("/pin/a", postAs("ann"));
      expect(mergeCalls).toBe(0);
    });
  });
}

describe("a user's cached state, deleted by another process", () => {
  test("forgetUser() on one process: the other's next request starts fresh", async () => {
    const one = headerApp(new FileStore({ dir, sweepInterval: 0 }), { lock: true });
    const two = headerApp(new FileStore({ dir, sweepInterval: 0 }), { lock: true });
    await one.app.request("/pin/a", postAs("ann"));
    await two.persisted.forgetUser("ann");
    expect((await (await one.app.request("/prefs", as("ann"))).json<Json>()).pins).toEqual([]);
    await one.app.request("/pin/b", postAs("ann"));
    expect((await (await two.app.request("/prefs", as("ann"))).json<Json>()).pins).toEqual(["b"]);
  });
});

describe("a user's lock across two processes (two FileStores of one directory)", () => {
  test("clearCookieState() then `new` in one request keeps the user's lock", async () => {
    let atGate!: () => void;
    const arrived = new Promise<void>((resolve) => {
      atGate = resolve;
    });
    let open!: () => void;
    const gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    const one = headerApp(new FileStore({ dir, sweepInterval: 0 }), { lock: { timeout: 1 } });
    one.app.post("/reset", async (c) => {
      const prefs: Prefs = new Prefs();
      await prefs.clearCookieState();
      new Prefs().pins.push("after-reset");
      atGate();
      await gate;
      return c.text("reset");
    });
    const two = headerApp(new FileStore({ dir, sweepInterval: 0 }), { lock: { timeout: 1 } });
    await one.app.request("/pin/before", postAs("ann"));
    const reset = one.app.request("/reset", postAs("ann"));
    await arrived;
    // The other process's request must wait for the user's lock (here: time out, 503).
    // Found now: 200 at once, then one of the two changes is lost.
    const other = await two.app.request("/pin/other", postAs("ann"));
    open();
    expect((await reset).status).toBe(200);
    expect(other.status).toBe(503);
    expect((await (await two.app.request("/prefs", as("ann"))).json<Json>()).pins).toEqual([
      "after-reset",
    ]);
  });

  test("concurrent sign-ins with one anonymous cookie on two processes merge once", async () => {
    const one = headerApp(new FileStore({ dir, sweepInterval: 0 }), { lock: true });
    const two = headerApp(new FileStore({ dir, sweepInterval: 0 }), { lock: true });
    const browser = new Browser(one.app);
    await browser.request("/pin/cart", postAs());
    const cookie = `review-prefs=${browser.cookies.get("review-prefs")}`;
    const answers = await Promise.all(
      [one, two, one, two].map(({ app }) =>
        app.request("/prefs", { headers: { cookie, ...as("ann").headers } }),
      ),
    );
    expect(answers.map((r) => r.status)).toEqual([200, 200, 200, 200]);
    expect(mergeCalls).toBe(1);
    expect((await (await two.app.request("/prefs", as("ann"))).json<Json>()).pins).toEqual([
      "cart",
    ]);
  });
});

describe("a user's state cleared on one device while another device's request arrives", () => {
  test("the other device's change, answered 200 meanwhile, is not lost", async () => {
    let deleting!: () => void;
    const inDelete = new Promise<void>((resolve) => {
      deleting = resolve;
    });
    let open!: () => void;
    const gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    class SlowDelete extends MemoryStore {
      slow = false;
      override async delete(id: string): Promise<void> {
        if (this.slow) {
          deleting();
          await gate;
        }
        return super.delete(id);
      }
    }
    const store = new SlowDelete({ sweepInterval: 0 });
    const { app } = headerApp(store);
    app.post("/reset", async (c) => {
      const prefs: Prefs = new Prefs();
      await prefs.clearCookieState();
      new Prefs().pins.push("a");
      return c.text("reset");
    });
    await app.request("/pin/old", postAs("ann"));
    store.slow = true;
    const reset = app.request("/reset", postAs("ann"));
    await inDelete;
    store.slow = false;
    // The phone's request, while the laptop's clear deletes the entry.
    const phone = app.request("/pin/b", postAs("ann"));
    open();
    expect((await reset).status).toBe(200);
    expect((await phone).status).toBe(200);
    const pins = (await (await app.request("/prefs", as("ann"))).json<Json>()).pins;
    // Found now: ["a"]: the phone's "b", answered 200, was overwritten (or deleted).
    expect([...pins].sort()).toEqual(["a", "b"]);
  });
});

describe("merge, further", () => {
  test("the anonymous state is of an older version: migrated, then merged", async () => {
    const merged: unknown[] = [];
    const V1 = persist("review-mig", { scope: "user", merge: () => {} })(
      class {
        tags = "a,b";
      },
    );
    const store = new MemoryStore({ sweepInterval: 0 });
    const app1 = new Hono();
    app1.use(persistSession({ secret: SECRET, store, logger }));
    app1.post("/", (c) => {
      (new V1() as { tags: string }).tags = "x,y";
      return c.text("ok");
    });
    const browser = new Browser(app1);
    await browser.request("/", { method: "POST" });
    const V2 = persist("review-mig", {
      scope: "user",
      version: 2,
      migrate: (fields) => ({ list: String(fields.tags).split(",") }),
      merge(user: { list: string[] }, anonymous: { list: string[] }) {
        merged.push(anonymous.list);
        user.list.push(...anonymous.list);
      },
    })(
      class {
        list: string[] = [];
      },
    );
    const app2 = new Hono();
    app2.use(persistSession({ secret: SECRET, store, logger, user: () => "ann" }));
    app2.get("/", (c) => c.json((new V2() as { list: string[] }).list));
    const signedIn = new Browser(app2);
    signedIn.cookies.set("review-mig", browser.cookies.get("review-mig") as string);
    expect(await (await signedIn.request("/")).json()).toEqual(["x", "y"]);
    expect(merged).toEqual([["x", "y"]]);
    expect(signedIn.cookies.size).toBe(0);
    expect(errors).toEqual([]);
  });

  test("with `lock`, a merge that throws leaves no lock held; the retry merges", async () => {
    let refuse = true;
    const Cart = persist("review-cart", {
      scope: "user",
      merge(user: { items: string[] }, anonymous: { items: string[] }) {
        if (refuse) throw new Error("merge refused");
        user.items.push(...anonymous.items);
      },
    })(
      class {
        items: string[] = [];
      },
    );
    const app = new Hono();
    app.use(
      persistSession({
        secret: SECRET,
        store: new FileStore({ dir, sweepInterval: 0 }),
        lock: { timeout: 1 },
        logger,
        user: (c) => c.req.header("x-user"),
      }),
    );
    app.post("/add", (c) => {
      (new Cart() as { items: string[] }).items.push("book");
      return c.text("ok");
    });
    app.get("/", (c) => c.json((new Cart() as { items: string[] }).items));
    app.onError((error, c) => c.text(String(error), 500));
    const browser = new Browser(app);
    await browser.request("/add", { method: "POST" });
    const failed = await browser.request("/", { headers: { "x-user": "ann" } });
    expect(failed.status).toBe(500);
    refuse = false;
    const retried = await browser.request("/", { headers: { "x-user": "ann" } });
    expect(retried.status).toBe(200);
    expect(await retried.json()).toEqual(["book"]);
    expect(browser.cookies.size).toBe(0);
  });
});

describe("the store never sees the user's id", () => {
  test("no file of a FileStore, nor a hook event, names the user", async () => {
    const user = "ann.lee@example.com";
    const events: Recorded[] = [];
    const store = new FileStore({ dir, sweepInterval: 0 });
    const { app, persisted } = accountApp(store, {
      lock: true,
      hooks: recorder((event) => void events.push(event)),
    });
    app.post("/dark", (c) => {
      new Prefs().pins.push("dark");
      return c.text("ok");
    });
    const browser = new Browser(app);
    await browser.request(`/signin/${user}`, post());
    await browser.request("/dark", post());
    expect(await persisted.sessions(user)).toHaveLength(1);
    const { readdirSync, readFileSync, statSync } = await import("node:fs");
    const { join } = await import("node:path");
    const seen: string[] = [];
    const walk = (path: string) => {
      for (const name of readdirSync(path)) {
        const full = join(path, name);
        seen.push(name);
        if (statSync(full).isDirectory()) walk(full);
        else seen.push(readFileSync(full, "utf8"));
      }
    };
    walk(dir);
    // The Account state holds it (the app's own data); nothing else does.
    const naming = seen.filter((text) => text.includes("example.com"));
    expect(naming).toHaveLength(1);
    expect(naming[0]).toContain('"user"');
    expect(JSON.stringify(events)).not.toContain("example.com");
  });
});
