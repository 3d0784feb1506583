// User-scoped state (`@persist(key, { scope: "user" })` with `persistSession({ user })`): one
// state per signed-in user, shared by every device, driven through app.request() over
// MemoryStore and FileStore.
import { Hono } from "hono";
import { afterEach, beforeEach, describe, expect, test } from "vitest";
import {
  FileStore,
  isSessionId,
  MemoryStore,
  type Persisted,
  type PersistSessionOptions,
  persist,
  persistInfo,
  persistSession,
  type Store,
} from "../src/index.js";
import { type Recorded, recorder } from "./fixtures/hook-recorder.js";
import { Browser, SECRET, tempDir } from "./helpers.js";

// biome-ignore lint/suspicious/noExplicitAny: JSON bodies of the test app
type Json = any;

const OLD_SECRET = "an-older-secret-that-is-at-least-32-chars-long";

@persist("user-prefs", {
  scope: "user",
  merge(user: Prefs, anonymous: Prefs) {
    mergeCalls++;
    for (const pin of anonymous.pins) if (!user.pins.includes(pin)) user.pins.push(pin);
    if (user.theme === "light") user.theme = anonymous.theme;
    if (anonymous.theme === "explode") throw new Error("merge refused");
  },
})
class Prefs {
  theme = "light";
  pins: string[] = [];
  get pinned(): number {
    return this.pins.length;
  }
}
interface Prefs extends Persisted {}

@persist("user-plain", { scope: "user" })
class Plain {
  n = 0;
}

@persist("user-browser")
class Visits {
  n = 0;
}

let mergeCalls = 0;
let errors: string[];
let events: Recorded[];
let dir: string;
let removeDir: () => void;

beforeEach(() => {
  mergeCalls = 0;
  errors = [];
  events = [];
  ({ dir, remove: removeDir } = tempDir());
});
afterEach(() => removeDir());

/** The app's sign-in: header `x-user`, as an auth middleware would put it in the context. */
function makeApp(store: Store, options: Partial<PersistSessionOptions> = {}): Hono {
  const app = new Hono();
  app.use(
    persistSession({
      secret: SECRET,
      store,
      user: (c) => c.req.header("x-user"),
      logger: { warn: () => {}, error: (m: string) => errors.push(m) },
      hooks: recorder((event) => void events.push(event)),
      ...options,
    }),
  );
  app.get("/prefs", (c) => {
    const prefs = new Prefs();
    return c.json({ theme: prefs.theme, pins: prefs.pins, ...persistInfo(prefs) });
  });
  app.post("/pin/:name", (c) => {
    const prefs = new Prefs();
    prefs.pins.push(c.req.param("name"));
    return c.json(prefs.pins);
  });
  app.post("/theme/:name", (c) => {
    new Prefs().theme = c.req.param("name");
    return c.text("ok");
  });
  app.get("/pinned", (c) => c.text(String(new Prefs().pinned)));
  app.post("/plain", (c) => c.text(String(++new Plain().n)));
  app.post("/visit", (c) => c.text(String(++new Visits().n)));
  app.post("/clear", async (c) => {
    const prefs: Prefs = new Prefs();
    await prefs.clearCookieState();
    return c.text("cleared");
  });
  app.post("/regenerate", async (c) => {
    await new Prefs().regenerate();
    return c.text("moved");
  });
  return app;
}

const as = (user: string) => ({ headers: { "x-user": user } });
const post = (user?: string) => ({ method: "POST", ...(user && as(user)) });

for (const [name, makeStore] of [
  ["MemoryStore", () => new MemoryStore({ sweepInterval: 0 })],
  ["FileStore", () => new FileStore({ dir, sweepInterval: 0 })],
] as const) {
  describe(`user-scoped state on ${name}`, () => {
    test("two devices of one user share the state; no cookie names it", async () => {
      const app = makeApp(makeStore());
      const [laptop, phone] = [new Browser(app), new Browser(app)];
      const pinned = await laptop.request("/pin/auth", post("ann"));
      expect(await pinned.json<Json>()).toEqual(["auth"]);
      expect(pinned.headers.getSetCookie()).toEqual([]);
      const seen = await (await phone.request("/prefs", as("ann"))).json<Json>();
      expect(seen).toMatchObject({ pins: ["auth"], scope: "user" });
      expect(Object.hasOwn(seen, "cookieName")).toBe(false);
      expect(isSessionId(seen.id)).toBe(true);
      await phone.request("/pin/search", post("ann"));
      expect((await (await laptop.request("/prefs", as("ann"))).json<Json>()).pins).toEqual([
        "auth",
        "search",
      ]);
      // Another user, and nobody, see their own.
      expect((await (await laptop.request("/prefs", as("bob"))).json<Json>()).pins).toEqual([]);
      expect((await (await laptop.request("/prefs")).json<Json>()).pins).toEqual([]);
      expect(laptop.cookies.size + phone.cookies.size).toBe(0);
    });

    test("nobody signed in: a per-browser state with its cookie", async () => {
      const app = makeApp(makeStore());
      const browser = new Browser(app);
      await browser.request("/pin/x", post());
      expect(browser.cookie("user-prefs")).toBeDefined();
      const info = await (await browser.request("/prefs")).json<Json>();
      expect(info).toMatchObject({ pins: ["x"], scope: "browser", cookieName: "user-prefs" });
    });

    test("the id is the same across processes and restarts, and differs by user and key", async () => {
      const store = makeStore();
      const first = await (await makeApp(store).request("/prefs", as("ann"))).json<Json>();
      const again = await (await makeApp(store).request("/prefs", as("ann"))).json<Json>();
      const bob = await (await makeApp(store).request("/prefs", as("bob"))).json<Json>();
      expect(again.id).toBe(first.id);
      expect(bob.id).not.toBe(first.id);
      const other = await (
        await makeApp(store, { secret: `${SECRET}-other` }).request("/prefs", as("ann"))
      ).json<Json>();
      expect(other.id).not.toBe(first.id);
    });

    test("a read-only visit of a signed-in user stores nothing", async () => {
      const store = new MemoryStore({ sweepInterval: 0 });
      const app = makeApp(store);
      expect(await (await app.request("/pinned", as("ann"))).text()).toBe("0");
      await app.request("/prefs", as("ann"));
      expect(store.size).toBe(0);
      expect(events.filter((e) => e.name === "created")).toEqual([]);
    });

    test("sign-in merges the anonymous state once and expires its cookie", async () => {
      const app = makeApp(makeStore());
      const laptop = new Browser(app);
      const phone = new Browser(app);
      await phone.request("/pin/reports", post("ann"));
      await laptop.request("/pin/auth", post());
      await laptop.request("/theme/dark", post());
      expect(laptop.cookie("user-prefs")).toBeDefined();
      const merged = await laptop.request("/prefs", as("ann"));
      expect(await merged.json<Json>()).toMatchObject({ theme: "dark", pins: ["reports", "auth"] });
      expect(merged.headers.getSetCookie().join()).toMatch(/^user-prefs=;.*Max-Age=0/);
      expect(laptop.cookie("user-prefs")).toBeUndefined();
      expect(mergeCalls).toBe(1);
      // Stored: the phone sees the merge; the anonymous state is gone.
      expect((await (await phone.request("/prefs", as("ann"))).json<Json>()).pins).toEqual([
        "reports",
        "auth",
      ]);
      expect((await (await laptop.request("/prefs")).json<Json>()).pins).toEqual([]);
      expect(mergeCalls).toBe(1);
    });

    test("two concurrent sign-in requests with one anonymous cookie merge once", async () => {
      const app = makeApp(makeStore());
      const laptop = new Browser(app);
      await laptop.request("/pin/auth", post());
      const cookie = `user-prefs=${laptop.cookies.get("user-prefs")}`;
      const responses = await Promise.all(
        Array.from({ length: 4 }, () =>
          app.request("/prefs", { headers: { cookie, "x-user": "ann" } }),
        ),
      );
      expect(responses.map((r) => r.status)).toEqual([200, 200, 200, 200]);
      expect(mergeCalls).toBe(1);
      expect((await (await app.request("/prefs", as("ann"))).json<Json>()).pins).toEqual(["auth"]);
    });

    test("a class without merge leaves the anonymous state for after sign-out", async () => {
      const app = makeApp(makeStore());
      const browser = new Browser(app);
      expect(await (await browser.request("/plain", post())).text()).toBe("1");
      expect(await (await browser.request("/plain", post("ann"))).text()).toBe("1");
      expect(await (await browser.request("/plain", post("ann"))).text()).toBe("2");
      expect(await (await browser.request("/plain", post())).text()).toBe("2");
    });

    test("a merge that throws saves nothing of it; the anonymous state stays", async () => {
      const app = makeApp(makeStore());
      const browser = new Browser(app);
      await browser.request("/theme/explode", post());
      expect((await browser.request("/pin/a", post("ann"))).status).toBe(500);
      expect((await (await app.request("/prefs", as("ann"))).json<Json>()).theme).toBe("light");
      expect((await (await browser.request("/prefs")).json<Json>()).theme).toBe("explode");
    });

    test("clearCookieState() deletes it for every device; regenerate() is refused", async () => {
      const app = makeApp(makeStore());
      await app.request("/pin/a", post("ann"));
      const cleared = await app.request("/clear", post("ann"));
      expect(cleared.status).toBe(200);
      expect(cleared.headers.getSetCookie()).toEqual([]);
      expect((await (await app.request("/prefs", as("ann"))).json<Json>()).pins).toEqual([]);
      const refused = await app.request("/regenerate", post("ann"));
      expect(refused.status).toBe(500);
      expect(errors.join()).toBe("");
    });

    test("a malformed user id answers 200 as anonymous and logs one TypeError", async () => {
      for (const bad of [42, "", "\ud800", "x".repeat(1025), { id: 1 }] as unknown[]) {
        errors = [];
        const app = new Hono();
        app.use(
          persistSession({
            secret: SECRET,
            store: makeStore(),
            user: () => bad as string,
            logger: { warn: () => {}, error: (m: string) => errors.push(String(m)) },
          }),
        );
        app.post("/", (c) => c.json(persistInfo(new Prefs())));
        const first = await app.request("/", { method: "POST" });
        expect(first.status).toBe(200);
        expect((await first.json<Json>()).scope).toBe("browser");
        await app.request("/", { method: "POST" });
        expect(errors).toHaveLength(1);
        expect(errors[0]).toMatch(/TypeError.*option `user` returned/);
      }
    });

    test("a user's state survives a secret rotation", async () => {
      const store = makeStore();
      await makeApp(store, { secret: OLD_SECRET }).request("/pin/kept", post("ann"));
      const rotated = makeApp(store, { secret: [SECRET, OLD_SECRET] });
      const info = await (await rotated.request("/prefs", as("ann"))).json<Json>();
      expect(info.pins).toEqual(["kept"]);
      await rotated.request("/pin/more", post("ann"));
      // Moved to the new secret's id: the old secret's id holds nothing any more.
      const fresh = makeApp(store, { secret: SECRET });
      expect((await (await fresh.request("/prefs", as("ann"))).json<Json>()).pins).toEqual([
        "kept",
        "more",
      ]);
      expect(
        (
          await (
            await makeApp(store, { secret: OLD_SECRET }).request("/prefs", as("ann"))
          ).json<Json>()
        ).pins,
      ).toEqual([]);
    });

    test("maxAge does not end a user's state; idleTimeout does", async () => {
      const store = makeStore();
      const app = makeApp(store, { maxAge: 1, idleTimeout: 3600 });
      await app.request("/pin/a", post("ann"));
      const realNow = Date.now;
      try {
        Date.now = () => realNow() + 5_000;
        expect((await (await app.request("/prefs", as("ann"))).json<Json>()).pins).toEqual(["a"]);
      } finally {
        Date.now = realNow;
      }
    });

    test("a user-scoped class made inside the resolver is a TypeError", async () => {
      const app = new Hono();
      app.use(
        persistSession({
          secret: SECRET,
          store: makeStore(),
          user: () => {
            new Prefs();
            return "ann";
          },
        }),
      );
      app.get("/", (c) => c.text("no"));
      app.onError((error, c) => c.text(String(error), 500));
      expect(await (await app.request("/")).text()).toMatch(/TypeError.*resolver/);
    });

    test("per-browser classes are untouched by a signed-in user", async () => {
      const app = makeApp(makeStore());
      const browser = new Browser(app);
      await browser.request("/visit", post("ann"));
      expect(await (await browser.request("/visit", post("ann"))).text()).toBe("2");
      expect(browser.cookie("user-browser")).toBeDefined();
      expect(await (await new Browser(app).request("/visit", post("ann"))).text()).toBe("1");
    });
  });
}

describe("misuse", () => {
  test("merge needs scope user; scope is browser or user", () => {
    expect(() => persist("m1", { merge: () => {} } as never)).toThrow(/`merge`.*scope: "user"/);
    expect(() => persist("m2", { scope: "device" } as never)).toThrow(/`scope`/);
    expect(() => persist("m3", { scope: "user", merge: 1 } as never)).toThrow(/`merge`/);
  });
  test("user and device must be functions", () => {
    expect(() => persistSession({ secret: SECRET, user: "ann" } as never)).toThrow(/`user`/);
    expect(() => persistSession({ secret: SECRET, user: () => "a", device: 1 } as never)).toThrow(
      /`device`/,
    );
  });
});
