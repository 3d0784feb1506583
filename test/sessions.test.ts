// Sessions a user can see and end (`persistSession({ user })` + `sessions`, `endSessions`,
// `forgetUser`), through app.request() over MemoryStore and FileStore; the lock test over two
// FileStores of one directory, as two processes would share it.
import { Hono } from "hono";
import {
  afterAll,
  afterEach,
  beforeAll,
  beforeEach,
  describe,
  expect,
  onTestFinished,
  test,
} from "vitest";
import {
  FileStore,
  MemoryStore,
  type PersistSessionOptions,
  persist,
  persistSession,
  type Store,
} from "../src/index.js";
import { RedisStore } from "../src/stores/redis.js";
import { Account, accountApp, Visits } from "./fixtures/account-app.js";
import { hasRedisServer, type RedisServer, startRedisServer } from "./fixtures/redis-server.js";
import { until } from "./fixtures/store-app.js";
import { Browser, SECRET, tempDir } from "./helpers.js";

@persist("sessions-prefs", { scope: "user" })
class Prefs {
  theme = "light";
}

let dir: string;
let removeDir: () => void;
let errors: unknown[];
beforeEach(() => {
  errors = [];
  ({ dir, remove: removeDir } = tempDir());
});
afterEach(() => removeDir());

/** The demo's sign-in (test/fixtures/account-app.ts), with a route that changes the user's state. */
function makeApp(
  store: Store,
  options: Partial<PersistSessionOptions> = {},
  routes?: (app: Hono, persisted: ReturnType<typeof persistSession>) => void,
) {
  return accountApp(store, errors, options, (app, persisted) => {
    app.post("/dark", (c) => {
      new Prefs().theme = "dark";
      return c.text("ok");
    });
    routes?.(app, persisted);
  });
}

const ua = (name: string) => ({ headers: { "User-Agent": name } });
const post = (name: string) => ({ method: "POST", ...ua(name) });

for (const [name, makeStore] of [
  ["MemoryStore", () => new MemoryStore({ sweepInterval: 0 })],
  ["FileStore", () => new FileStore({ dir, sweepInterval: 0 })],
] as const) {
  describe(`sessions on ${name}`, () => {
    test("two signed-in browsers are listed, grouped, with device and current", async () => {
      const { app, persisted } = makeApp(makeStore());
      const [laptop, phone] = [new Browser(app), new Browser(app)];
      await laptop.request("/visit", post("Laptop"));
      await laptop.request("/signin/ann", post("Laptop"));
      await phone.request("/signin/ann", post("Phone"));
      await new Browser(app).request("/signin/bob", post("Other"));
      const listed = (await (await laptop.request("/sessions", ua("Laptop"))).json()) as {
        browser: string;
        keys: string[];
        device: string;
        current: boolean;
      }[];
      expect(listed.map((s) => [s.device, s.current, s.keys]).sort()).toEqual([
        ["Laptop", true, ["account", "visits"]],
        ["Phone", false, ["account"]],
      ]);
      // Outside a request: nobody's is current.
      const outside = await persisted.sessions("ann");
      expect(outside.map((s) => s.current)).toEqual([false, false]);
      expect(outside[0]?.seen).toBeInstanceOf(Date);
      expect(await persisted.sessions("nobody-at-all")).toEqual([]);
    });

    test("sign out everywhere else: the other browser's next request starts signed out", async () => {
      const { app } = makeApp(makeStore());
      const [laptop, phone] = [new Browser(app), new Browser(app)];
      await laptop.request("/signin/ann", post("Laptop"));
      await phone.request("/signin/ann", post("Phone"));
      await phone.request("/visit", post("Phone"));
      // The phone's states are cached idle in this process: ended all the same.
      expect(await (await laptop.request("/end-others", post("Laptop"))).text()).toBe("1");
      const next = await phone.request("/whoami", ua("Phone"));
      expect(await next.text()).toBe("nobody");
      expect(next.headers.getSetCookie().join()).toMatch(/account=;.*Max-Age=0/);
      expect(phone.cookies.size).toBe(0);
      expect(await (await phone.request("/visit", post("Phone"))).text()).toBe("1");
      expect(await (await laptop.request("/whoami", ua("Laptop"))).text()).toBe("ann");
      const listed = (await (await laptop.request("/sessions")).json()) as unknown[];
      expect(listed).toHaveLength(1);
    });

    test("endSessions() outside a request ends every browser; browsers: [id] only that one", async () => {
      const { app, persisted } = makeApp(makeStore());
      const [a, b, c] = [new Browser(app), new Browser(app), new Browser(app)];
      for (const [browser, device] of [
        [a, "A"],
        [b, "B"],
        [c, "C"],
      ] as const) {
        await browser.request("/signin/ann", post(device));
      }
      const listed = await persisted.sessions("ann");
      const onlyB = listed.find((s) => s.device === "B")?.browser as string;
      expect(await persisted.endSessions("ann", { browsers: [onlyB] })).toBe(1);
      expect(await (await b.request("/whoami")).text()).toBe("nobody");
      expect(await (await a.request("/whoami")).text()).toBe("ann");
      expect(await persisted.endSessions("ann")).toBe(2);
      expect(await (await a.request("/whoami")).text()).toBe("nobody");
      expect(await (await c.request("/whoami")).text()).toBe("nobody");
      expect(await persisted.sessions("ann")).toEqual([]);
      await expect(persisted.endSessions("ann", { except: "current" })).rejects.toThrow(
        /inside a request/,
      );
    });

    test("signing out (clearCookieState) leaves the list at once", async () => {
      const { app, persisted } = makeApp(makeStore());
      const browser = new Browser(app);
      await browser.request("/signin/ann", post("A"));
      expect(await persisted.sessions("ann")).toHaveLength(1);
      await browser.request("/signout", post("A"));
      expect(await persisted.sessions("ann")).toEqual([]);
    });

    test("forgetUser() deletes the user's state and sessions", async () => {
      const store = makeStore();
      const { app, persisted } = makeApp(store);
      const browser = new Browser(app);
      await browser.request("/signin/ann", post("A"));
      await browser.request("/dark", post("A"));
      await persisted.forgetUser("ann");
      expect(await persisted.sessions("ann")).toEqual([]);
      expect(await (await browser.request("/whoami")).text()).toBe("nobody");
      if (store instanceof MemoryStore) expect(store.size).toBe(0);
    });
  });
}

describe("a browser whose user changed between requests (a token, not a state)", () => {
  for (const [name, makeStore] of [
    ["MemoryStore", () => new MemoryStore({ sweepInterval: 0 })],
    ["FileStore", () => new FileStore({ dir, sweepInterval: 0 })],
  ] as const) {
    test(`is the new user's only, on ${name}`, async () => {
      const persisted = persistSession({
        secret: SECRET,
        store: makeStore(),
        user: (c) => c.req.header("x-user"),
      });
      const app = new Hono();
      app.use(persisted);
      app.post("/visit", (c) => c.text(String(++new Visits().n)));
      const browser = new Browser(app);
      const as = (user: string) => ({ method: "POST", headers: { "x-user": user } });
      await browser.request("/visit", as("ann"));
      // ann's token expired; bob signed in on the same browser: no request saw both.
      expect(await (await browser.request("/visit", as("bob"))).text()).toBe("2");
      expect((await persisted.sessions("bob")).map((s) => s.keys)).toEqual([["visits"]]);
      expect(await persisted.sessions("ann")).toEqual([]);
      expect(await persisted.endSessions("ann")).toBe(0);
      expect(await (await browser.request("/visit", as("bob"))).text()).toBe("3");
      // And back: ann's again, bob's no more.
      await browser.request("/visit", as("ann"));
      expect(await persisted.endSessions("bob")).toBe(0);
      expect(await persisted.endSessions("ann")).toBe(1);
      expect(await (await browser.request("/visit", as("ann"))).text()).toBe("1");
    });
  }
});

describe("the index is written when needed only", () => {
  class Counting extends MemoryStore {
    indexes = 0;
    fail = false;
    override async index(user: string, id: string, entry: string, ttl: number): Promise<void> {
      this.indexes++;
      if (this.fail) throw new Error("index down");
      return super.index(user, id, entry, ttl);
    }
  }

  test("without option `user`, and for nobody signed in, no record is written", async () => {
    const store = new Counting({ sweepInterval: 0 });
    const app = new Hono();
    app.use(persistSession({ secret: SECRET, store }));
    app.post("/signin", (c) => {
      new Account().user = "ann";
      return c.text("in");
    });
    const browser = new Browser(app);
    await browser.request("/signin", post("A"));
    await browser.request("/signin", post("A"));
    expect(store.size).toBe(1);
    expect(store.indexes).toBe(0);
    const { app: withUser } = makeApp(store);
    await new Browser(withUser).request("/visit", post("A"));
    expect(store.indexes).toBe(0);
  });

  test("a browser state is recorded once per refresh, not per request", async () => {
    const store = new Counting({ sweepInterval: 0 });
    const { app } = makeApp(store);
    const browser = new Browser(app);
    await browser.request("/signin/ann", post("A"));
    // Each record is two writes: under the user, and the state's owner.
    expect(store.indexes).toBe(2);
    for (let i = 0; i < 5; i++) await browser.request("/visit", post("A"));
    // The visits state, recorded once; the account's record is fresh.
    expect(store.indexes).toBe(4);
  });

  test("a first record that fails fails the request; a refresh that fails is logged", async () => {
    const store = new Counting({ sweepInterval: 0 });
    const { app } = makeApp(store, { idleTimeout: 8 });
    const browser = new Browser(app);
    store.fail = true;
    const failed = await browser.request("/signin/ann", post("A"));
    expect(failed.status).toBe(500);
    expect(await failed.text()).toMatch(/STORE_FAILED|sessions index/);
    store.fail = false;
    await browser.request("/signin/ann", post("A"));
    await browser.request("/visit", post("A"));
    store.fail = true;
    const realNow = Date.now;
    try {
      Date.now = () => realNow() + 2_000; // past refresh = idleTimeout / 8 = 1 s
      expect((await browser.request("/visit", post("A"))).status).toBe(200);
    } finally {
      Date.now = realNow;
    }
    expect(String(errors.at(-1))).toMatch(/sessions index/);
  });

  test("a store without the index: sessions() is a TypeError naming it", async () => {
    class Bare implements Store {
      readonly inner = new MemoryStore({ sweepInterval: 0 });
      get = (id: string, ttl: number) => this.inner.get(id, ttl);
      set = (id: string, data: string, ttl: number) => this.inner.set(id, data, ttl);
      delete = (id: string) => this.inner.delete(id);
    }
    const { persisted } = makeApp(new Bare());
    await expect(persisted.sessions("ann")).rejects.toThrow(/Bare.*sessions index/);
    await expect(persisted.forgetUser("ann")).resolves.toBeUndefined();
  });
});

describe("ending sessions with `lock`, across two stores (two processes' views of one)", () => {
  let redis: RedisServer | undefined;
  beforeAll(async () => {
    if (hasRedisServer()) redis = await startRedisServer();
  });
  afterAll(async () => {
    await redis?.dispose();
  });
  const stores = {
    FileStore: () => new FileStore({ dir, sweepInterval: 0 }),
    // Writes after a delete land for sure here (a FileStore may drop one).
    RedisStore: () => new RedisStore({ url: redis?.url ?? "", prefix: `sessions-${dir}:` }),
  };
  // The ending request answers, or its save fails after endSessions() (its locked pass then
  // runs behind the error response).
  test.for([
    ["FileStore", "answers", false],
    ["RedisStore", "answers", false],
    ["RedisStore", "fails to save after it", true],
  ] as const)(
    "%s: ending a browser whose request is under way elsewhere: no deadlock, it stays ended (the ending request %s)",
    async ([kind, , fails], { skip }) => {
      if (kind === "RedisStore" && !redis) skip();
      const made = [stores[kind](), stores[kind]()] as const;
      onTestFinished(async () => {
        await Promise.all(made.map((store) => store.close?.()));
      });
      let loaded: (() => void) | undefined;
      let holding!: () => void;
      const laptopHolds = new Promise<void>((resolve) => {
        holding = resolve;
      });
      let release!: () => void;
      const gate = new Promise<void>((resolve) => {
        release = resolve;
      });
      const one = makeApp(made[0], { lock: true }, (app, persisted) =>
        app.post("/end-others-later", async (c) => {
          new Prefs(); // the user's lock is held by this request from its start
          holding();
          await gate;
          const ended = await persisted.endSessions("ann", { except: "current" });
          // Fails the middleware's own save (not the handler, whose throw Hono answers).
          if (fails) new Account().user = "x".repeat(2 ** 21);
          return c.text(String(ended));
        }),
      );
      const phoneStore = made[1];
      const two = makeApp(
        phoneStore,
        {
          lock: true,
          // The phone's browser states are loaded, so locked: next it waits for the user's lock.
          hooks: { loaded: (event) => void (event.key === "visits" && loaded?.()) },
        },
        // The phone's request changes its state after the end was asked.
        (app) =>
          app.post("/slow-visit", (c) => {
            new Prefs().theme = "dark";
            return c.text(String(++new Visits().n));
          }),
      );
      const laptop = new Browser(one.app);
      const phone = new Browser(two.app);
      await laptop.request("/signin/ann", post("Laptop"));
      await phone.request("/signin/ann", post("Phone"));
      await phone.request("/visit", post("Phone"));
      // What the phone's request saves back.
      const phoneVisits = phone.cookie("visits")?.split(".")[0] as string;
      const started = Date.now();
      const ending = laptop.request("/end-others-later", post("Laptop"));
      // The laptop's request holds the user's lock; the phone's takes its browser lock, then waits.
      await laptopHolds;
      const locked = new Promise<void>((resolve) => {
        loaded = resolve;
      });
      const visit = phone.request("/slow-visit", post("Phone"));
      await locked;
      release();
      const ended = await ending;
      expect(await ended.text()).toMatch(fails ? /STATE_TOO_LARGE|over `maxBytes`/ : /^1$/);
      expect(Date.now() - started).toBeLessThan(4_000);
      expect((await visit).status).toBe(200);
      // Whatever the phone's request saved back is deleted under its lock: before the answer, or
      // just after the failed one.
      if (fails)
        await until(async () => (await phoneStore.get(phoneVisits, 60)) === undefined, 4_000);
      expect(await phoneStore.get(phoneVisits, 60)).toBeUndefined();
      expect(await (await phone.request("/whoami")).text()).toBe("nobody");
      expect(await (await phone.request("/visit", post("Phone"))).text()).toBe("1");
    },
  );
});
