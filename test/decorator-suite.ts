import { Hono } from "hono";
import { describe, expect, test } from "vitest";
import { MemoryStore, persist, persistInfo, persistSession } from "../src/index.js";
import { Browser, SECRET } from "./helpers.js";

/** What each flavour's test file decorates, the same class written in that flavour. */
export interface CounterClass {
  new (start?: number): CounterInstance;
  instances: number;
  label(): string;
  create(): CounterInstance;
  createByName(): CounterInstance;
}
export interface CounterInstance {
  count: number;
  readonly secret: number;
  half: number;
  bump(): CounterInstance;
  bumpSecret(): void;
}

/**
 * The behaviour both decorator flavours must show. `Counter` is decorated with key
 * `<flavour>-counter`; its `createByName()` does `new Counter()` inside the class body.
 */
export function decoratorSuite(flavour: string, Counter: CounterClass): void {
  function appWith(handler: (counter: CounterInstance) => unknown) {
    const app = new Hono();
    // cacheSize 0: each request restores from the store.
    app.use(persistSession({ secret: SECRET, store: new MemoryStore(), cacheSize: 0 }));
    app.all("/", (c) => c.json(handler(new Counter(5)) ?? null));
    return app;
  }

  describe(`@persist as a ${flavour} decorator`, () => {
    test("keeps the class's name, instanceof, static members and methods", async () => {
      expect(Counter.name).toBe("Counter");
      expect(Counter.label()).toBe("counter");
      const before = Counter.instances;
      const browser = new Browser(
        appWith((counter) => [
          counter instanceof Counter,
          counter.constructor === Counter,
          counter.count,
        ]),
      );
      expect(await (await browser.request("/")).json()).toEqual([true, true, 5]);
      expect(Counter.instances).toBe(before + 1);
      Counter.instances = 100;
      expect(Counter.instances).toBe(100);
    });

    test("persists across requests; constructor arguments only shape a fresh state", async () => {
      const browser = new Browser(appWith((counter) => counter.bump().count));
      expect(await (await browser.request("/")).json()).toBe(6);
      expect(await (await browser.request("/")).json()).toBe(7);
    });

    test("methods, getters and setters see `this` as the instance; chaining returns the Proxy", async () => {
      const browser = new Browser(
        appWith((counter) => {
          const chained = counter.bump().bump();
          counter.half = 50;
          return [chained === counter, counter.count];
        }),
      );
      expect(await (await browser.request("/")).json()).toEqual([true, 100]);
      expect(await (await browser.request("/")).json()).toEqual([true, 100]);
    });

    test("#private fields work through methods and getters, and are not stored", async () => {
      const browser = new Browser(
        appWith((counter) => {
          counter.bumpSecret();
          counter.bumpSecret();
          return counter.secret;
        }),
      );
      expect(await (await browser.request("/")).json()).toBe(2);
      // Restored into a freshly constructed instance: #secret starts again from its initializer.
      expect(await (await browser.request("/")).json()).toBe(2);
    });

    test("`new this()` in a static method is persisted", async () => {
      const browser = new Browser(appWith(() => persistInfo(Counter.create()).key));
      expect(await (await browser.request("/")).json()).toBe(`${flavour}-counter`);
    });

    test("a plain subclass is refused when constructed, with the fix in the message", async () => {
      class Special extends (Counter as unknown as new () => object) {}
      const app = new Hono();
      app.use(persistSession({ secret: SECRET, store: new MemoryStore() }));
      app.get("/", () => {
        new Special();
        return new Response("unreachable");
      });
      let error: unknown;
      app.onError((caught, c) => {
        error = caught;
        return c.text("error", 500);
      });
      expect((await app.request("/")).status).toBe(500);
      expect(error).toEqual(
        new TypeError(
          "[hono-persist] `Special` extends the persisted class `Counter`: decorate it with @persist and a key of its own",
        ),
      );
    });

    test("the same key twice is refused at decoration time", () => {
      expect(() => persist(`${flavour}-counter`)(class Other {})).toThrow(
        new TypeError(
          `[hono-persist] @persist key "${flavour}-counter" is already used by class \`Counter\``,
        ),
      );
    });
  });
}
