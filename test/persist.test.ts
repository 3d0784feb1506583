import { Hono } from "hono";
import { describe, expect, test } from "vitest";
import { MemoryStore, persist, persistInfo, persistSession } from "../src/index.js";
import { type CounterClass, decoratorSuite } from "./decorator-suite.js";
import { Browser, SECRET } from "./helpers.js";

@persist("standard-counter")
class Counter {
  static instances = 0;
  static label() {
    return "counter";
  }
  static create() {
    return new this();
  }
  static createByName() {
    return new Counter();
  }
  #secret = 0;
  count: number;
  constructor(start = 0) {
    this.count = start;
    Counter.instances++;
  }
  get secret() {
    return this.#secret;
  }
  set half(value: number) {
    this.count = value * 2;
  }
  bump() {
    this.count++;
    return this;
  }
  bumpSecret() {
    this.#bump();
  }
  #bump() {
    this.#secret++;
  }
}

decoratorSuite("standard", Counter as unknown as CounterClass);

describe("@persist options and misuse", () => {
  test("keys that are not cookie names, and options of the wrong type, throw at once", () => {
    expect(() => persist("app state")).toThrow(
      new TypeError(
        '[hono-persist] @persist key "app state" is not a valid cookie name (letters, digits and !#$%&\'*+-.^_`|~)',
      ),
    );
    expect(() => persist("ok", { version: 0 })).toThrow(
      new TypeError("[hono-persist] option `version` must be a positive integer"),
    );
    expect(() => persist("ok", { exclude: "count" as unknown as string[] })).toThrow(
      new TypeError("[hono-persist] option `exclude` must be an array of field names"),
    );
  });

  test("decorating something other than a class throws", () => {
    expect(() =>
      persist("method")(function notAClass() {} as never, { kind: "method" } as never),
    ).toThrow(new TypeError('[hono-persist] @persist("method") decorates classes only'));
  });

  test("esbuild/tsx bind the class's own name in its body to the undecorated class (esbuild#3968)", async () => {
    // Documented in the README: inside the class body, write `new this()`, not `new Counter()`.
    const app = new Hono();
    app.use(persistSession({ secret: SECRET, store: new MemoryStore() }));
    app.get("/", (c) => {
      const byName = Counter.createByName();
      return c.json({
        persisted: (() => {
          try {
            persistInfo(byName);
            return true;
          } catch {
            return false;
          }
        })(),
      });
    });
    expect(await (await app.request("/")).json()).toEqual({ persisted: false });
  });

  test("`version` + `migrate` upgrade a stored state", async () => {
    const store = new MemoryStore();
    const browser = new Browser(new Hono());
    {
      @persist("migrating")
      class V1 {
        fullName = "Ada Lovelace";
      }
      const app = new Hono();
      app.use(persistSession({ secret: SECRET, store, cacheSize: 0 }));
      app.post("/", (c) => {
        new V1().fullName = "Grace Hopper";
        return c.text("ok");
      });
      const first = new Browser(app);
      await first.request("/", { method: "POST" });
      for (const [name, value] of first.cookies) browser.cookies.set(name, value);
    }
    // The same key, as a new process would see it after the class changed.
    const { registry } = await import("../src/internal/registry.js");
    registry.delete("migrating");
    @persist("migrating", {
      version: 2,
      migrate: (old, from) => {
        const [first = "", last = ""] = String(old.fullName).split(" ");
        return { first, last, from };
      },
    })
    class V2 {
      first = "";
      last = "";
      from = 0;
      greeting = "hello";
    }
    const app = new Hono();
    app.use(persistSession({ secret: SECRET, store, cacheSize: 0 }));
    app.get("/", (c) => c.json({ ...new V2() }));
    const upgraded = new Browser(app);
    for (const [name, value] of browser.cookies) upgraded.cookies.set(name, value);
    expect(await (await upgraded.request("/")).json()).toEqual({
      first: "Grace",
      last: "Hopper",
      from: 1,
      greeting: "hello",
    });
  });
});
