import { randomUUID } from "node:crypto";
import { Hono } from "hono";
import { describe, expect, test } from "vitest";
import { MemoryStore, persist, persistSession } from "../src/index.js";
import { Tracker, toRaw } from "../src/tracking.js";
import { Browser, SECRET } from "./helpers.js";

function tracked<T extends object>(value: T) {
  const log = { changes: 0 };
  const tracker = new Tracker(() => log.changes++);
  return { proxy: tracker.wrap(value), log, reset: () => (log.changes = 0) };
}

class Point {
  #moves = 0;
  constructor(
    public x = 0,
    public y = 0,
  ) {}
  move(dx: number) {
    this.x += dx;
    this.#moves++;
    return this;
  }
  get moves() {
    return this.#moves;
  }
}

describe("what counts as a change", () => {
  const cases: [string, () => object, (state: never) => unknown][] = [
    ["a top-level set", () => ({ a: 1 }), (s: { a: number }) => (s.a = 2)],
    ["a delete", () => ({ a: 1 }), (s: { a?: number }) => delete s.a],
    [
      "a nested set",
      () => ({ a: { b: { c: 1 } } }),
      (s: { a: { b: { c: number } } }) => (s.a.b.c = 2),
    ],
    [
      "Object.defineProperty",
      () => ({}),
      (s: object) => Object.defineProperty(s, "x", { value: 1 }),
    ],
    ["Array push", () => ({ list: [1] }), (s: { list: number[] }) => s.list.push(2)],
    ["Array splice", () => ({ list: [1, 2] }), (s: { list: number[] }) => s.list.splice(0, 1)],
    ["Array sort", () => ({ list: [2, 1] }), (s: { list: number[] }) => s.list.sort()],
    ["Array length", () => ({ list: [2, 1] }), (s: { list: number[] }) => (s.list.length = 0)],
    ["Map set", () => ({ m: new Map() }), (s: { m: Map<string, number> }) => s.m.set("a", 1)],
    [
      "Map delete",
      () => ({ m: new Map([["a", 1]]) }),
      (s: { m: Map<string, number> }) => s.m.delete("a"),
    ],
    [
      "Map clear",
      () => ({ m: new Map([["a", 1]]) }),
      (s: { m: Map<string, number> }) => s.m.clear(),
    ],
    ["Set add", () => ({ s: new Set() }), (s: { s: Set<number> }) => s.s.add(1)],
    ["Set delete", () => ({ s: new Set([1]) }), (s: { s: Set<number> }) => s.s.delete(1)],
    ["Set clear", () => ({ s: new Set([1]) }), (s: { s: Set<number> }) => s.s.clear()],
    ["Date setter", () => ({ d: new Date(0) }), (s: { d: Date }) => s.d.setFullYear(2000)],
    [
      "a value inside a Map",
      () => ({ m: new Map([["a", { n: 1 }]]) }),
      (s: { m: Map<string, { n: number }> }) => {
        const entry = s.m.get("a");
        if (entry) entry.n = 2;
      },
    ],
    [
      "a value reached by Map iteration",
      () => ({ m: new Map([["a", { n: 1 }]]) }),
      (s: { m: Map<string, { n: number }> }) => {
        for (const [, value] of s.m) value.n = 2;
      },
    ],
    [
      "a value reached by Set forEach",
      () => ({ s: new Set([{ n: 1 }]) }),
      (s: { s: Set<{ n: number }> }) => {
        s.s.forEach((value) => {
          value.n = 2;
        });
      },
    ],
    ["a class method", () => ({ p: new Point() }), (s: { p: Point }) => s.p.move(1)],
    [
      "a class getter (it may write unseen)",
      () => ({ p: new Point() }),
      (s: { p: Point }) => s.p.moves,
    ],
  ];

  test.each(cases)("%s is seen", (_, make, mutate) => {
    const { proxy, log } = tracked(make());
    mutate(proxy as never);
    expect(log.changes).toBeGreaterThan(0);
  });

  const reads: [string, () => object, (state: never) => unknown][] = [
    ["property reads", () => ({ a: { b: 1 } }), (s: { a: { b: number } }) => s.a.b],
    [
      "Array reads",
      () => ({ list: [3, 1] }),
      (s: { list: number[] }) => [s.list.map((x) => x * 2), s.list.includes(1), [...s.list]],
    ],
    [
      "Map reads",
      () => ({ m: new Map([["a", 1]]) }),
      (s: { m: Map<string, number> }) => [s.m.get("a"), s.m.has("a"), s.m.size, [...s.m.keys()]],
    ],
    [
      "Set reads",
      () => ({ s: new Set([1]) }),
      (s: { s: Set<number> }) => [s.s.has(1), s.s.size, [...s.s]],
    ],
    [
      "Date getters",
      () => ({ d: new Date(0) }),
      (s: { d: Date }) => [s.d.getTime(), s.d.toISOString(), `${s.d}`],
    ],
    ["JSON.stringify", () => ({ a: [1, { b: new Date(0) }] }), (s: object) => JSON.stringify(s)],
    [
      "Object.keys, spread, hasOwn and property descriptors",
      () => ({ a: { b: [1] }, list: [{ c: 1 }] }),
      (s: { a: { b: number[] }; list: object[] }) => [
        Object.keys(s),
        { ...s.a },
        Object.hasOwn(s, "a"),
        Object.getOwnPropertyDescriptors(s),
        Object.getOwnPropertyDescriptor(s.list, 0),
      ],
    ],
    [
      "class fields and built-in getters",
      () => ({ p: new Point(), m: new Map(), d: new Date(0) }),
      (s: { p: Point; m: Map<string, number>; d: Date }) => [s.p.x, s.p.y, s.m.size, s.d.getTime()],
    ],
  ];

  test.each(reads)("%s are not changes", (_, make, read) => {
    const { proxy, log } = tracked(make());
    read(proxy as never);
    expect(log.changes).toBe(0);
  });
});

describe("fidelity", () => {
  test("identity is stable and proxies never nest", () => {
    const { proxy } = tracked({ a: { b: 1 }, list: [{ c: 1 }] });
    expect(proxy.a).toBe(proxy.a);
    proxy.list.push(proxy.a as never);
    expect(toRaw(proxy).list[1]).toBe(toRaw(proxy.a));
    expect(proxy.list[1]).toBe(proxy.a);
  });

  test("built-ins keep their type and work through the Proxy", () => {
    const { proxy } = tracked({
      m: new Map([[{ k: 1 }, "v"]]),
      s: new Set([1]),
      d: new Date(0),
      list: [1],
    });
    expect(proxy.m).toBeInstanceOf(Map);
    expect(proxy.s).toBeInstanceOf(Set);
    expect(proxy.d).toBeInstanceOf(Date);
    expect(Array.isArray(proxy.list)).toBe(true);
    const [key] = [...proxy.m.keys()];
    expect(key && proxy.m.get(key)).toBe("v");
    expect(proxy.d.getTime()).toBe(0);
  });

  test("#private fields of nested class instances work, and `this` chaining returns the Proxy", () => {
    const { proxy } = tracked({ p: new Point() });
    expect(proxy.p.move(1).move(2)).toBe(proxy.p);
    expect(proxy.p.x).toBe(3);
    expect(proxy.p.moves).toBe(2);
  });

  test("no bookkeeping leaks into keys or JSON", () => {
    const value = { a: 1, nested: { b: [1, 2] } };
    const { proxy } = tracked(structuredClone(value));
    proxy.nested.b.push(3);
    expect(Object.keys(proxy)).toEqual(["a", "nested"]);
    expect(JSON.parse(JSON.stringify(proxy))).toEqual({ a: 1, nested: { b: [1, 2, 3] } });
  });

  test("array mutators give back what the plain array would: the same objects, through their Proxies", () => {
    const { proxy, log } = tracked({ items: [{ n: 1 }, { n: 2 }, { n: 3 }] as { n: number }[] });
    const [first, second, third] = [proxy.items[0], proxy.items[1], proxy.items[2]];
    const seen: unknown[] = [];
    proxy.items.sort((a, b) => {
      seen.push(a, b);
      return b.n - a.n;
    });
    expect(seen.every((item) => item === first || item === second || item === third)).toBe(true);
    expect(proxy.items.pop()).toBe(first);
    expect(proxy.items.shift()).toBe(third);
    expect(proxy.items.splice(0, 1)).toEqual([second]);
    expect(proxy.items.splice(0, 0)).toEqual([]);
    expect(proxy.items.push(first as { n: number })).toBe(1);
    expect(proxy.items.reverse()).toBe(proxy.items);
    expect(log.changes).toBeGreaterThanOrEqual(6);
  });

  test("push of none, one and several elements, Proxies among them, stores raw objects and counts each as a change", () => {
    const { proxy, log } = tracked({ list: [] as unknown[], a: { n: 1 } });
    expect(proxy.list.push()).toBe(0);
    expect(log.changes).toBe(1);
    expect(proxy.list.push(proxy.a)).toBe(1);
    expect(proxy.list.push(proxy.a, 2, proxy.a)).toBe(4);
    expect(log.changes).toBe(3);
    const raw = toRaw(proxy);
    expect(raw.list).toEqual([{ n: 1 }, { n: 1 }, 2, { n: 1 }]);
    expect(raw.list.every((item) => item === 2 || item === raw.a)).toBe(true);
    expect(proxy.list[0]).toBe(proxy.a);
  });

  test("a push read through the Proxy is the built-in one, whatever the array gets later", () => {
    const { proxy, log } = tracked({ list: [1] as unknown[] });
    const push = proxy.list.push;
    Object.defineProperty(toRaw(proxy.list), "push", { value: () => "custom", configurable: true });
    expect(push.call(proxy.list, 9)).toBe(2);
    expect(toRaw(proxy).list).toEqual([1, 9]);
    expect(log.changes).toBeGreaterThan(0);
  });

  test("an array mutator called on another tracked array changes (and marks) that one", () => {
    const one = tracked({ list: [1] });
    const two = tracked({ list: [] as number[] });
    one.proxy.list.push.call(two.proxy.list, 42);
    expect(toRaw(two.proxy).list).toEqual([42]);
    expect(toRaw(one.proxy).list).toEqual([1]);
    expect(two.log.changes).toBeGreaterThan(0);
  });

  test("indexOf, includes and lastIndexOf find an object in either form the array holds it, and are no change", () => {
    const { proxy, log } = tracked({ list: [] as object[] });
    const [a, b] = [{ n: 1 }, { n: 2 }];
    proxy.list.push(a, b);
    const readA = proxy.list[0] as object;
    // A copy made through the state holds the Proxy; `toRaw` code may add the object itself.
    toRaw(proxy.list).push(readA, a);
    const list = proxy.list;
    expect([list.indexOf(a), list.indexOf(readA), list.indexOf(a, 1), list.indexOf(b, 2)]).toEqual([
      0, 0, 2, -1,
    ]);
    expect([list.lastIndexOf(a), list.lastIndexOf(readA, 2), list.lastIndexOf(b, -4)]).toEqual([
      3, 2, -1,
    ]);
    expect([list.includes(readA), list.includes(a, 3), list.includes(b, 2)]).toEqual([
      true,
      true,
      false,
    ]);
    const other = [a];
    expect(list.indexOf.call(other, a)).toBe(0);
    expect(log.changes).toBe(1);
  });

  test("toRaw() gives what structuredClone accepts", () => {
    const { proxy } = tracked({ nested: { list: [1, { deep: true }] } });
    expect(() => structuredClone(proxy.nested)).toThrow("could not be cloned");
    expect(structuredClone(toRaw(proxy.nested))).toEqual({ list: [1, { deep: true }] });
  });

  test("frozen objects are returned as they are (a Proxy may not wrap them)", () => {
    const frozen = Object.freeze({ inner: { x: 1 } });
    const { proxy } = tracked({ frozen });
    expect(proxy.frozen.inner).toBe(frozen.inner);
  });

  // Each Proxy remembers the last child it handed out; freezing the parent afterwards must not
  // make the next read return that Proxy (V8 would throw: the trap must return the very value).
  test.each([
    ["through the Proxy", (p: { box: { inner: object } }) => Object.freeze(p.box)],
    ["through toRaw()", (p: { box: { inner: object } }) => Object.freeze(toRaw(p.box))],
    [
      "inside a method (it runs on the raw object)",
      (p: { box: { inner: object; lock(): void } }) => p.box.lock(),
    ],
    [
      "by defineProperty through the Proxy",
      (p: { box: { inner: object } }) =>
        Object.defineProperty(p.box, "inner", { writable: false, configurable: false }),
    ],
    ["by a getter (it runs on the raw object)", (p: { box: { sealed: boolean } }) => p.box.sealed],
    [
      "by a setter (it runs on the raw object)",
      (p: { box: { frozen: boolean } }) => {
        p.box.frozen = true;
      },
    ],
    [
      "after an await in an async method, with a read in between",
      (p: { box: { inner: object; lockLater(): Promise<void> } }) => {
        const done = p.box.lockLater();
        void p.box.inner;
        return done;
      },
    ],
    [
      "through toRaw(), with a read in between",
      (p: { box: { inner: object } }) => {
        const raw = toRaw(p.box);
        void p.box.inner;
        Object.freeze(raw);
      },
    ],
  ])("a child read before its parent is frozen %s is then returned as it is", async (_, freeze) => {
    class Box {
      inner = { x: 1 };
      lock() {
        Object.freeze(this);
      }
      get sealed() {
        Object.freeze(this);
        return true;
      }
      set frozen(_: boolean) {
        Object.freeze(this);
      }
      async lockLater() {
        await Promise.resolve();
        Object.freeze(this);
      }
    }
    const box = new Box();
    const { proxy } = tracked({ box });
    const before = proxy.box.inner;
    expect(before).not.toBe(box.inner); // a tracking Proxy
    await freeze(proxy as never);
    expect(proxy.box.inner).toBe(box.inner);
  });

  test("a getter defined on a class instance through the Proxy counts as a change when read", () => {
    const { proxy, log, reset } = tracked({ p: new Point() });
    void proxy.p.x;
    Object.defineProperty(proxy.p, "far", { get: () => true, configurable: true });
    reset();
    void proxy.p.x;
    expect(log.changes).toBe(0);
    void (proxy.p as Point & { far: boolean }).far;
    expect(log.changes).toBe(1);
  });

  test("a getter read through an object inheriting from a class instance runs on that object", () => {
    class Person {
      first = "Ada";
      last = "Lovelace";
      get full() {
        return `${this.first} ${this.last}`;
      }
    }
    const { proxy } = tracked({ person: new Person() });
    const child = Object.create(proxy.person) as Person;
    child.first = "Byron";
    expect([child.full, proxy.person.full, Object.hasOwn(child, "first")]).toEqual([
      "Byron Lovelace",
      "Ada Lovelace",
      true,
    ]);
  });

  test("an async method counts as a change when it settles", async () => {
    class Loader {
      data: number[] = [];
      async load() {
        await Promise.resolve();
        this.data.push(1);
      }
    }
    const { proxy, log, reset } = tracked({ loader: new Loader() });
    const done = proxy.loader.load();
    reset();
    await done;
    expect(log.changes).toBe(1);
  });
});

describe("through a persisted class", () => {
  test("a field filled by a getter on its first read is saved: a restore gives the value first seen", async () => {
    @persist("lazy-token")
    class Session {
      _token: string | undefined = undefined;
      get token() {
        this._token ??= randomUUID();
        return this._token;
      }
    }
    const app = new Hono();
    // cacheSize 0: every request restores the instance from the store.
    app.use(persistSession({ secret: SECRET, store: new MemoryStore(), cacheSize: 0 }));
    app.get("/", (c) => c.text(new Session().token));
    const browser = new Browser(app);
    const first = await browser.text("/");
    expect(first).toMatch(/^[0-9a-f-]{36}$/);
    expect(await browser.text("/")).toBe(first);
  });
});
