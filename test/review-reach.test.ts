// An outside review of issue #18 (reach): what a user hits with the dev-server takeover of a
// key, and with two modules that declare a class of the same name.
import { Hono } from "hono";
import { describe, expect, test } from "vitest";
import { MemoryStore, persist, persistSession, type Store } from "../src/index.js";
import { Browser, SECRET } from "./helpers.js";

const POST = { method: "POST" } as const;

function appOver(store: Store): Hono {
  const app = new Hono();
  app.use(persistSession({ secret: SECRET, store }));
  app.onError((error, c) => c.text(`error: ${error.message}`, 500));
  return app;
}

/** Status and body as text: a failure shows its message. */
async function reply(response: Promise<Response>): Promise<string> {
  const answer = await response;
  return `${answer.status} ${await answer.text()}`;
}

/** `class Counter` as a dev server evaluates its module: a new class object at each call. */
function counterModule(key: string) {
  @persist(key)
  class Counter {
    count = 0;
  }
  return Counter;
}

/** The same module after an edit: a method added. */
function editedCounterModule(key: string) {
  @persist(key)
  class Counter {
    count = 0;
    describe() {
      return `count ${this.count}`;
    }
  }
  return Counter;
}

describe("a key taken over by a class of the same name (a dev server re-running a module)", () => {
  test("the first request after the edit gets the new class, even when the old instance changed late", async () => {
    const key = "review-late-first";
    const first = counterModule(key);
    let edited: ReturnType<typeof editedCounterModule> | undefined;
    let kept: InstanceType<typeof first> | undefined;
    const app = appOver(new MemoryStore());
    app.post("/", (c) => {
      kept = new first();
      kept.count++;
      return c.text(String(kept.count));
    });
    app.get("/", (c) => {
      if (!edited) throw new Error("not edited yet");
      const counter = new edited();
      return c.text(counter instanceof edited ? counter.describe() : "old class");
    });
    const browser = new Browser(app);
    expect(await reply(browser.request("/", POST))).toBe("200 1");
    // A timer of the old module changes the state after its request; then the file is saved.
    (kept as InstanceType<typeof first>).count++;
    edited = editedCounterModule(key);
    expect(await reply(browser.request("/"))).toBe("200 count 2");
  });
});

describe("two modules that each declare `class AppState` under one key (no dev server)", () => {
  /** cart.ts, then preferences.ts, written later by someone else, with the same key by mistake. */
  function declareBoth(key: string) {
    @persist(key)
    class AppState {
      items: string[] = [];
    }
    expect(AppState).toBeTypeOf("function");
    return () => {
      @persist(key)
      class AppState {
        theme = "light";
      }
      return AppState;
    };
  }

  test("the second one is refused in production, as a class of another name is", () => {
    const before = process.env.NODE_ENV;
    process.env.NODE_ENV = "production";
    try {
      expect(declareBoth("review-two-modules")).toThrow(
        new TypeError(
          '[hono-persist] @persist key "review-two-modules" is already used by class `AppState`',
        ),
      );
    } finally {
      if (before === undefined) delete process.env.NODE_ENV;
      else process.env.NODE_ENV = before;
    }
  });

  test("outside production the second one takes the key over (the dev-server rule)", async () => {
    expect(process.env.NODE_ENV).not.toBe("production");
    const Second = declareBoth("review-two-modules-dev")();
    const app = appOver(new MemoryStore());
    app.get("/", (c) => c.text(`theme ${new Second().theme}`));
    expect(await reply(new Browser(app).request("/"))).toBe("200 theme light");
  });
});

describe("Hono's onError after a failed save, on Node (test/workers.test.ts has workerd)", () => {
  test("onError gets the request's unsaved instance", async () => {
    @persist("review-on-error")
    class Visits {
      count = 0;
    }
    const failing: Store = {
      get: async () => undefined,
      set: () => Promise.reject(new Error("disk full")),
      delete: async () => {},
    };
    const app = new Hono();
    app.use(persistSession({ secret: SECRET, store: failing }));
    app.post("/visit", (c) => {
      new Visits().count++;
      return c.text("visited");
    });
    app.onError((error, c) =>
      c.text(`error page, count ${new Visits().count}: ${error.message}`, 500),
    );
    expect(await reply(new Browser(app).request("/visit", POST))).toMatch(
      /^500 error page, count 1: \[hono-persist\] could not save state "review-on-error" [0-9a-f-]{36}: disk full$/,
    );
  });
});
