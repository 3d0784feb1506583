/**
 * The conformance list: class behaviours, each written once over a class, that
 * `conformance.test.ts` runs on the plain class, on the @persist-decorated class inside a
 * request, and once more on the instance restored from the store in the next request.
 *
 * `act` changes the state (the first request, and the plain instance); `observe` reads it and
 * must give identical results everywhere. A behaviour that cannot hold after a restore says so
 * in `limitation`, with what is observed instead; docs/limitations.md must name
 * every one of them.
 */

import { toRaw } from "../../src/index.js";

// biome-ignore lint/suspicious/noExplicitAny: behaviours reach into every kind of class
export type State = any;

export interface Behaviour {
  name: string;
  /** A fresh class on each call: decorating changes the class's prototype. */
  make: () => new () => object;
  act?: (state: State, Class: State) => unknown;
  observe: (state: State, Class: State) => unknown;
  /**
   * A documented difference: the words docs/limitations.md uses for it, what a restored instance shows instead
   * of the plain result, and what the persisted instance shows when that differs already.
   */
  limitation?: { readme: string; restored: unknown; persisted?: unknown };
}

/** What `run` throws, as text, so that an observation can hold several errors. */
const thrown = (run: () => unknown) => {
  try {
    run();
    return "no error";
  } catch (error) {
    return `${(error as Error).name}: ${(error as Error).message}`;
  }
};

const keysOf = (value: object) => {
  const forIn: string[] = [];
  for (const key in value) forIn.push(key);
  return { keys: Object.keys(value), forIn, entries: JSON.stringify(Object.entries(value)) };
};

export const behaviours: Behaviour[] = [
  // 1. Fields, accessors, methods
  {
    name: "fields, getters and setters on the prototype",
    make: () =>
      class {
        first = "Ada";
        last = "Lovelace";
        get full() {
          return `${this.first} ${this.last}`;
        }
        set full(value: string) {
          [this.first = "", this.last = ""] = value.split(" ");
        }
      },
    act: (s) => {
      s.full = "Grace Hopper";
    },
    observe: (s) => [s.first, s.last, s.full],
  },
  {
    name: "a getter that fills a field on its first read",
    make: () => {
      let made = 0;
      return class {
        token: number | undefined = undefined;
        get lazy() {
          this.token ??= ++made;
          return this.token;
        }
      };
    },
    act: (s) => s.lazy,
    observe: (s) => [s.lazy, s.token],
  },
  {
    name: "methods calling methods, and `this` returned for chaining",
    make: () =>
      class {
        total = 0;
        add(n: number) {
          this.total += this.double(n);
          return this;
        }
        double(n: number) {
          return n * 2;
        }
      },
    act: (s) => s.add(1).add(2) === s,
    observe: (s) => s.total,
  },
  {
    name: "arrow-function fields",
    make: () =>
      class {
        clicks = 0;
        onClick = () => {
          this.clicks++;
        };
      },
    act: (s) => {
      const handler = s.onClick;
      handler();
      s.onClick();
    },
    observe: (s) => [s.clicks, typeof s.onClick],
  },
  {
    name: "the name and length of methods read through the instance",
    make: () =>
      class {
        list = [1];
        map = new Map();
        set = new Set();
        when = new Date(0);
        add(a: number, b: number) {
          return a + b;
        }
      },
    observe: (s) =>
      [
        s.add,
        s.list.push,
        s.list.splice,
        s.list.indexOf,
        s.list.sort,
        s.map.get,
        s.map.set,
        s.map.entries,
        s.map.forEach,
        s.set.add,
        s.set.values,
        s.when.setTime,
        s.when.getTime,
      ].map((method) => `${method.name}/${method.length}`),
    limitation: {
      readme: "Methods read through the instance are wrappers",
      persisted: {
        value: [
          "wrapped/0",
          "push/0",
          "mutate/0",
          "/0",
          "mutate/0",
          "wrapped/0",
          "wrapped/0",
          "wrapped/0",
          "forEach/2",
          "wrapped/0",
          "wrapped/0",
          "wrapped/0",
          "wrapped/0",
        ],
      },
      restored: {
        value: [
          "wrapped/0",
          "push/0",
          "mutate/0",
          "/0",
          "mutate/0",
          "wrapped/0",
          "wrapped/0",
          "wrapped/0",
          "forEach/2",
          "wrapped/0",
          "wrapped/0",
          "wrapped/0",
          "wrapped/0",
        ],
      },
    },
  },
  // 2. Private, static, inheritance
  {
    name: "#private fields and methods",
    make: () =>
      class {
        #hits = 0;
        visible = 0;
        hit() {
          this.#bump();
          this.visible = this.#hits;
        }
        #bump() {
          this.#hits++;
        }
        get hits() {
          return this.#hits;
        }
      },
    act: (s) => {
      s.hit();
      s.hit();
    },
    observe: (s) => [s.visible, s.hits],
    limitation: {
      readme: "`#private` fields are not stored",
      restored: { value: [2, 0] },
    },
  },
  {
    name: "static fields, methods and blocks",
    make: () =>
      class {
        static created = 0;
        static label: string;
        static {
          // biome-ignore lint/complexity/noThisInStatic: `this` in statics is the behaviour under test
          this.label = "made in a static block";
        }
        static describe() {
          // biome-ignore lint/complexity/noThisInStatic: `this` in statics is the behaviour under test
          return `${this.label} (${this.created})`;
        }
        n = 1;
      },
    act: (s, C) => {
      C.created++;
      s.n = 2;
    },
    observe: (s, C) => [C.describe(), s.n, s instanceof C],
  },
  {
    name: "static #private members reached through `this`",
    make: () =>
      class {
        static #made = 0;
        static make() {
          // biome-ignore lint/complexity/noThisInStatic: `this` in statics is the behaviour under test
          return ++this.#made;
        }
        n = 1;
      },
    observe: (_, C) => C.make(),
    limitation: {
      readme: "Static `#private` members reached through `this`",
      persisted: {
        throws: "TypeError",
        message: "Cannot read private member #made from an object whose class did not declare it",
      },
      restored: {
        throws: "TypeError",
        message: "Cannot read private member #made from an object whose class did not declare it",
      },
    },
  },
  {
    name: "a decorated subclass of a plain base, with super calls",
    make: () => {
      class Base {
        log: string[] = [];
        record(entry: string) {
          this.log.push(`base:${entry}`);
        }
      }
      return class Sub extends Base {
        override record(entry: string) {
          super.record(entry);
          this.log.push(`sub:${entry}`);
        }
      };
    },
    act: (s) => s.record("x"),
    observe: (s) => [s.log, Object.getPrototypeOf(Object.getPrototypeOf(s)).constructor.name],
  },
  {
    name: "`accessor` fields",
    make: () =>
      class {
        name = "accessor";
        accessor level = 1;
      },
    act: (s) => {
      s.level = 5;
    },
    observe: (s) => s.level,
    limitation: { readme: "`accessor` fields", restored: { value: 1 } },
  },
  // 3. Introspection
  {
    name: "Object.keys, for…in, Object.entries, spread and JSON.stringify",
    make: () =>
      class {
        a = 1;
        nested = { b: [1, 2] };
        method() {
          return 1;
        }
      },
    act: (s) => s.nested.b.push(3),
    observe: (s) => [keysOf(s), JSON.stringify({ ...s }), JSON.stringify(s)],
  },
  {
    name: "instanceof for nested instances of registered classes",
    make: () => {
      class Point {
        constructor(
          public x = 0,
          public y = 0,
        ) {}
        length() {
          return Math.hypot(this.x, this.y);
        }
      }
      return class {
        static Point = Point;
        points = [new Point(3, 4)];
      };
    },
    act: (s, C) => s.points.push(new C.Point(6, 8)),
    observe: (s, C) => s.points.map((p: State) => [p instanceof C.Point, p.length()]),
  },
  {
    name: "structuredClone of a nested plain value",
    make: () =>
      class {
        settings = { theme: "dark", sizes: [1, 2] };
      },
    act: (s) => s.settings.sizes.push(3),
    observe: (s) => structuredClone(s.settings),
    limitation: {
      readme: "`structuredClone` of a value reached through the instance throws",
      persisted: { throws: "DataCloneError", message: "#<Object> could not be cloned." },
      restored: { throws: "DataCloneError", message: "#<Object> could not be cloned." },
    },
  },
  {
    name: "a write through an object inheriting from a state object lands on that object",
    make: () =>
      class {
        defaults = { theme: "light" };
        other = { theme: "none" };
      },
    act: (s) => {
      const mine = Object.create(s.defaults);
      mine.theme = "dark";
      const done = Reflect.set(s.defaults, "theme", "blue", s.other);
      return [mine.theme, Object.hasOwn(mine, "theme"), done, s.other.theme];
    },
    observe: (s) => [s.defaults.theme, s.other.theme],
  },
  {
    name: "Object.getOwnPropertyDescriptor(s) of the instance hand out the objects themselves",
    make: () =>
      class {
        obj = { n: 1 };
        list = [{ n: 1 }];
      },
    act: (s) => {
      (Object.getOwnPropertyDescriptor(s, "obj") as PropertyDescriptor).value.n = 2;
      (Object.getOwnPropertyDescriptors(s.list)[0] as PropertyDescriptor).value.n = 3;
    },
    observe: (s) => [s.obj.n, s.list[0].n],
    // Wrapping them made every `Object.keys` and `JSON.stringify` of the instance ask for each
    // value's Proxy: 2.5x and 1.35x slower (commit message).
    limitation: {
      readme: "`Object.getOwnPropertyDescriptor(state, key).value` is the object itself",
      restored: { value: [1, 1] },
    },
  },
  {
    name: "prototype cycles are refused, through the instance too",
    make: () =>
      class {
        a = { n: 1 };
        b = { n: 2 };
      },
    observe: (s) => {
      const results = [
        Reflect.setPrototypeOf(s.a, s.a),
        Reflect.setPrototypeOf(s.a, s.b),
        Object.getPrototypeOf(s.a) === s.b,
        Reflect.setPrototypeOf(s.b, s.a),
        Reflect.setPrototypeOf(s.b, Object.create(s.a)),
      ];
      Reflect.setPrototypeOf(s.a, Object.prototype);
      Reflect.setPrototypeOf(s.b, Object.prototype);
      return results;
    },
  },
  // 4. Arrays
  // One behaviour per method, so that each one untracked would show alone.
  ...(
    [
      ["push", (l: number[]) => l.push(9, 8)],
      ["pop", (l: number[]) => l.pop()],
      ["shift", (l: number[]) => l.shift()],
      ["unshift", (l: number[]) => l.unshift(7)],
      ["splice", (l: number[]) => l.splice(1, 1, 2, 3)],
      ["sort", (l: number[]) => l.sort((a, b) => a - b)],
      ["reverse", (l: number[]) => l.reverse()],
      ["fill", (l: number[]) => l.fill(0, 1)],
      ["copyWithin", (l: number[]) => l.copyWithin(0, 2)],
    ] as const
  ).map(
    ([method, mutate]): Behaviour => ({
      name: `Array ${method}`,
      make: () =>
        class {
          list = [5, 1, 4];
        },
      act: (s) => {
        mutate(s.list);
      },
      observe: (s) => [...s.list],
    }),
  ),
  {
    name: "index and length writes, iteration, Array.isArray",
    make: () =>
      class {
        list = ["a", "b", "c"];
      },
    act: (s) => {
      s.list[1] = "B";
      s.list.length = 2;
      s.list[s.list.length] = "z";
    },
    observe: (s) => [
      Array.isArray(s.list),
      [...s.list],
      s.list.entries().next().value,
      s.list.map((x: string) => x),
    ],
  },
  {
    name: "Array sort with a comparator that is neither a function nor undefined",
    make: () =>
      class {
        list = [3, 1, 2];
      },
    observe: (s) => [thrown(() => s.list.sort(null)), thrown(() => s.list.sort({})), [...s.list]],
  },
  {
    name: "array holes",
    make: () =>
      class {
        list: (number | undefined)[] = [1, 2];
      },
    act: (s) => {
      s.list[3] = 4;
    },
    observe: (s) => [s.list.length, 2 in s.list, s.list[2]],
    limitation: {
      readme: "Array holes come back as `undefined` elements",
      restored: { value: [4, true, undefined] },
    },
  },
  // 5. Map and Set
  ...(
    [
      ["set", (m: Map<unknown, unknown>) => m.set("new", 3)],
      ["delete", (m: Map<unknown, unknown>) => m.delete("drop")],
      ["clear", (m: Map<unknown, unknown>) => m.clear()],
      ["set with an object key", (m: Map<unknown, unknown>) => m.set({ id: 7 }, "object key")],
      [
        "a change inside a value",
        (m: Map<unknown, unknown>) => {
          (m.get("nested") as { n: number }).n = 2;
        },
      ],
    ] as const
  ).map(
    ([method, mutate]): Behaviour => ({
      name: `Map ${method}, then iteration and size`,
      make: () =>
        class {
          map = new Map<unknown, unknown>([
            ["keep", 1],
            ["drop", 2],
            ["nested", { n: 1 }],
          ]);
        },
      act: (s) => {
        mutate(s.map);
      },
      observe: (s) => {
        const forEach: unknown[] = [];
        s.map.forEach((value: unknown, key: unknown) => {
          forEach.push([key, value]);
        });
        return [
          s.map instanceof Map,
          s.map.size,
          JSON.stringify([...s.map.entries()]),
          JSON.stringify([...s.map]),
          JSON.stringify([...s.map.values()]),
          JSON.stringify(forEach),
        ];
      },
    }),
  ),
  ...(
    [
      ["add", (set: Set<unknown>) => set.add("c")],
      ["add of an object", (set: Set<unknown>) => set.add({ nested: true })],
      ["delete", (set: Set<unknown>) => set.delete("a")],
      ["clear", (set: Set<unknown>) => set.clear()],
    ] as const
  ).map(
    ([method, mutate]): Behaviour => ({
      name: `Set ${method}, then iteration and size`,
      make: () =>
        class {
          set = new Set<unknown>(["a", "b"]);
        },
      act: (s) => {
        mutate(s.set);
      },
      observe: (s) => {
        const forEach: unknown[] = [];
        s.set.forEach((value: unknown) => {
          forEach.push(value);
        });
        return [
          s.set instanceof Set,
          s.set.size,
          JSON.stringify([...s.set]),
          JSON.stringify([...s.set.entries()]),
          JSON.stringify(forEach),
        ];
      },
    }),
  ),
  {
    name: "a built-in method called on a Map with .call()",
    make: () =>
      class {
        map = new Map([["a", 1]]);
      },
    observe: (s) => Map.prototype.entries.call(s.map).next().value,
    limitation: {
      readme: "`Map.prototype.entries.call(state.map)`",
      persisted: {
        throws: "TypeError",
        message: "Method Map.prototype.entries called on incompatible receiver #<Map>",
      },
      restored: {
        throws: "TypeError",
        message: "Method Map.prototype.entries called on incompatible receiver #<Map>",
      },
    },
  },
  {
    name: "Map and Set iterators are Map and Set Iterators",
    make: () =>
      class {
        map = new Map([["a", { n: 1 }]]);
        set = new Set(["x"]);
      },
    observe: (s) => {
      const tag = (value: unknown) => Object.prototype.toString.call(value);
      const entries = s.map.entries();
      const values = s.set.values();
      return [
        tag(entries),
        tag(s.map.keys()),
        tag(s.map[Symbol.iterator]()),
        tag(values),
        tag(s.set.entries()),
        entries.next.name,
        entries.next.length,
        thrown(() => entries.next.call({})),
        thrown(() => entries.next.call(1)),
        thrown(() => values.next.call(new Map().entries())),
        entries[Symbol.iterator]() === entries,
        Object.keys(entries),
        JSON.stringify(entries.next()),
        JSON.stringify(entries.next()),
        JSON.stringify([...s.set.entries()]),
      ];
    },
  },
  {
    name: "the prototype of a Map iterator",
    make: () =>
      class {
        map = new Map([["a", 1]]);
      },
    observe: (s) => [
      Object.getPrototypeOf(s.map.entries()) === Object.getPrototypeOf(new Map().entries()),
      s.map.entries() instanceof Object.getPrototypeOf(new Map().entries()).constructor,
    ],
    limitation: {
      readme: "The iterators of a nested `Map` or `Set`",
      persisted: { value: [false, true] },
      restored: { value: [false, true] },
    },
  },
  // 6. Dates
  ...(
    [
      "setFullYear",
      "setMonth",
      "setDate",
      "setHours",
      "setMinutes",
      "setSeconds",
      "setMilliseconds",
      "setTime",
      "setUTCFullYear",
      "setUTCMonth",
      "setUTCDate",
      "setUTCHours",
      "setUTCMinutes",
      "setUTCSeconds",
      "setUTCMilliseconds",
    ] as const
  ).map(
    (setter): Behaviour => ({
      name: `Date ${setter}, in a field, an array and a Map`,
      make: () =>
        class {
          when = new Date(0);
          list = [new Date(0)];
          byName = new Map([["start", new Date(0)]]);
        },
      act: (s) => {
        for (const date of [s.when, s.list[0], s.byName.get("start")])
          date[setter](setter === "setTime" ? 86_400_000 : 3);
      },
      observe: (s) => [
        s.when instanceof Date,
        s.when.getTime(),
        s.list[0].getTime(),
        s.byName.get("start").getTime(),
      ],
    }),
  ),
  {
    name: "Object.prototype.toString of a Date",
    make: () =>
      class {
        when = new Date(0);
      },
    observe: (s) => Object.prototype.toString.call(s.when),
  },
  {
    name: "Symbol.toStringTag of a Date",
    make: () =>
      class {
        when = new Date(0);
      },
    observe: (s) => [s.when[Symbol.toStringTag], Symbol.toStringTag in s.when],
    limitation: {
      readme: '`state.when[Symbol.toStringTag]` is `"Date"`',
      persisted: { value: ["Date", false] },
      restored: { value: ["Date", false] },
    },
  },
  {
    name: "new Date() of a Date",
    make: () =>
      class {
        when = new Date(1234);
      },
    observe: (s) => [
      new Date(s.when).getTime(),
      new Date(s.when.getTime()).getTime(),
      new Date(+s.when).getTime(),
    ],
    limitation: {
      readme: "`new Date(state.when)` drops the milliseconds",
      persisted: { value: [1000, 1234, 1234] },
      restored: { value: [1000, 1234, 1234] },
    },
  },
  // 7. Identity
  {
    name: "identity: one Proxy per object, shared objects and cycles survive a restore",
    make: () =>
      class {
        shared = { n: 1 };
        a = { ref: this.shared };
        b = { ref: this.shared };
        cycle: { self?: unknown } = {};
      },
    act: (s) => {
      s.cycle.self = s.cycle;
      s.a.ref.n = 2;
    },
    observe: (s) => {
      const again = s;
      return [s.a === again.a, s.a.ref === s.b.ref, s.b.ref.n, s.cycle.self === s.cycle];
    },
  },
  {
    name: "identity: indexOf, includes and lastIndexOf find the object put in",
    make: () =>
      class {
        items = [{ n: 1 }, { n: 2 }];
      },
    act: (s) => {
      const temp = { n: 3 };
      s.items.push(temp, { n: 4 });
      const found = [
        s.items.indexOf(temp),
        s.items.includes(temp),
        s.items.lastIndexOf(temp),
        s.items.indexOf(s.items[1]),
        s.items.includes(s.items[3], 3),
        s.items.indexOf(temp, 3),
      ];
      s.items.splice(s.items.indexOf(temp), 1);
      return found;
    },
    observe: (s) => s.items.map((item: { n: number }) => item.n),
  },
  {
    name: "identity: an array built from the state's values still finds them",
    make: () =>
      class {
        items = [{ n: 1 }, { n: 2 }];
        picked: { n: number }[] = [];
      },
    act: (s) => {
      const added = { n: 3 };
      s.items.push(added);
      s.picked = s.items.filter(() => true);
      const second = s.items[1];
      return [
        s.picked.indexOf(added),
        s.picked.indexOf(second),
        s.picked.lastIndexOf(second),
        s.picked.includes(added),
      ];
    },
    observe: (s) => [s.picked.map((item: { n: number }) => item.n), s.picked[2] === s.items[2]],
  },
  {
    name: "identity: Map and Set find the object put in",
    make: () =>
      class {
        map = new Map<object, string>();
        set = new Set<object>();
      },
    act: (s) => {
      const key = { id: 1 };
      const gone = { id: 2 };
      s.map.set(key, "v").set(gone, "w");
      s.set.add(key).add(gone);
      return [
        s.map.has(key),
        s.map.get(key),
        s.set.has(key),
        s.map.delete(gone),
        s.set.delete(gone),
        s.map.get([...s.map.keys()][0]),
        s.set.has([...s.set][0]),
        s.set.add(key).size,
        s.map.set(key, "again").size,
      ];
    },
    observe: (s) => [JSON.stringify([...s.map]), JSON.stringify([...s.set])],
  },
  {
    name: "identity: a Map and a Set built from the state's values",
    make: () =>
      class {
        items = [{ n: 1 }, { n: 2 }];
        byItem = new Map<object, number>();
        picked = new Set<object>();
      },
    act: (s) => {
      s.picked = new Set(s.items);
      s.byItem = new Map(s.items.map((item: object, index: number) => [item, index]));
      const [first, second] = s.items;
      return [
        s.picked.has(first),
        s.picked.add(second).size,
        s.byItem.get(second),
        s.byItem.set(first, 10).size,
        s.picked.delete(first),
        s.byItem.delete(second),
        s.picked.size,
        s.byItem.size,
      ];
    },
    observe: (s) => [s.picked.has(s.items[1]), s.byItem.get(s.items[0]), s.byItem.size],
  },
  {
    name: "identity: a Map and a Set built from toRaw() of the state's values",
    make: () =>
      class {
        items = [{ n: 1 }, { n: 2 }];
        byItem = new Map<object, number>();
        picked = new Set<object>();
      },
    act: (s) => {
      s.picked = new Set(toRaw(s.items));
      s.byItem = new Map(toRaw(s.items).map((item: object, index: number) => [item, index]));
      return [s.picked.has(s.items[0]), s.byItem.get(s.items[1])];
    },
    observe: (s) => [s.picked.has(s.items[1]), s.byItem.get(s.items[0]), s.byItem.size],
  },
  {
    name: "identity: a value read back is the Proxy, not the object put in",
    make: () =>
      class {
        sel: object | undefined;
        map = new Map<object, number>();
        items: object[] = [];
      },
    observe: (s) => {
      const item = { n: 1 };
      const key = { id: 1 };
      s.sel = item;
      s.map.clear();
      s.map.set(key, 1);
      s.items.length = 0;
      s.items.push(item);
      const seen = new Set(s.items);
      return [
        s.sel === item,
        [...s.map.keys()][0] === key,
        seen.has(item),
        seen.add(item).size,
        toRaw(s.sel) === item,
        toRaw([...s.map.keys()][0]) === key,
        new Set(toRaw(s.items)).has(item),
      ];
    },
    limitation: {
      readme: "`state.sel = item; state.sel === item` is `false`",
      persisted: { value: [false, false, false, 2, true, true, true] },
      restored: { value: [false, false, false, 2, true, true, true] },
    },
  },
  // 8. Symbols and non-enumerable properties
  {
    name: "symbol-keyed and non-enumerable properties",
    make: () =>
      class {
        visible = 1;
      },
    act: (s) => {
      s[Symbol.for("tag")] = "symbol";
      Object.defineProperty(s, "hidden", {
        value: "hidden",
        enumerable: false,
        writable: true,
        configurable: true,
      });
    },
    observe: (s) => [s[Symbol.for("tag")], s.hidden, Object.keys(s)],
    limitation: {
      readme: "symbol keys, non-enumerable properties",
      restored: { value: [undefined, undefined, ["visible"]] },
    },
  },
  // 9. Frozen objects, defineProperty
  {
    name: "frozen nested objects refuse writes: Reflect's operations return false",
    make: () =>
      class {
        config = { mode: "open" };
      },
    act: (s) => {
      s.config = Object.freeze({ mode: "fixed" });
    },
    observe: (s) => [
      Reflect.set(s.config, "mode", "changed"),
      Reflect.deleteProperty(s.config, "mode"),
      Reflect.defineProperty(s.config, "mode", { value: "defined" }),
      Reflect.setPrototypeOf(s.config, null),
      s.config.mode,
      Object.isFrozen(s.config),
    ],
    limitation: {
      readme: "Frozen objects come back unfrozen",
      restored: { value: [true, true, true, true, "defined", false] },
    },
  },
  {
    name: "writes refused by a frozen object, and prototype cycles, throw a TypeError",
    make: () =>
      class {
        config = { mode: "open" };
        a = {};
      },
    observe: (s) => {
      s.config = Object.freeze({ mode: "fixed" });
      return [
        thrown(() => {
          s.config.mode = "changed";
        }),
        thrown(() => {
          delete s.config.mode;
        }),
        thrown(() => Object.defineProperty(s.config, "mode", { value: "defined" })),
        thrown(() => Object.setPrototypeOf(s.config, null)),
        thrown(() => Object.setPrototypeOf(s.a, s.a)),
        s.config.mode,
      ];
    },
    limitation: {
      readme: "A write refused by a frozen or read-only object",
      persisted: {
        value: [
          "TypeError: 'set' on proxy: trap returned falsish for property 'mode'",
          "TypeError: 'deleteProperty' on proxy: trap returned falsish for property 'mode'",
          "TypeError: 'defineProperty' on proxy: trap returned falsish for property 'mode'",
          "TypeError: 'setPrototypeOf' on proxy: trap returned falsish for property 'undefined'",
          "TypeError: 'setPrototypeOf' on proxy: trap returned falsish for property 'undefined'",
          "fixed",
        ],
      },
      restored: {
        value: [
          "TypeError: 'set' on proxy: trap returned falsish for property 'mode'",
          "TypeError: 'deleteProperty' on proxy: trap returned falsish for property 'mode'",
          "TypeError: 'defineProperty' on proxy: trap returned falsish for property 'mode'",
          "TypeError: 'setPrototypeOf' on proxy: trap returned falsish for property 'undefined'",
          "TypeError: 'setPrototypeOf' on proxy: trap returned falsish for property 'undefined'",
          "fixed",
        ],
      },
    },
  },
  {
    name: "Object.defineProperty on the instance",
    make: () =>
      class {
        n = 0;
      },
    act: (s) => {
      Object.defineProperty(s, "n", {
        value: 5,
        enumerable: true,
        writable: true,
        configurable: true,
      });
    },
    observe: (s) => [s.n, Object.getOwnPropertyDescriptor(s, "n")],
  },
  // 10. Values
  {
    name: "BigInt, undefined, NaN, -0, Infinity, RegExp, URL",
    make: () =>
      class {
        big = 1n;
        nothing: undefined = undefined;
        nan = 0;
        zero = 0;
        inf = 0;
        pattern = /a/;
        url = new URL("https://example.com/");
      },
    act: (s) => {
      s.big = 2n ** 64n;
      s.nan = Number.NaN;
      s.zero = -0;
      s.inf = Number.NEGATIVE_INFINITY;
      s.pattern = /b+/gi;
      s.url = new URL("https://example.com/path?q=1");
    },
    observe: (s) => [
      typeof s.big,
      String(s.big),
      "nothing" in s && s.nothing === undefined,
      Number.isNaN(s.nan),
      Object.is(s.zero, -0),
      s.inf,
      s.pattern instanceof RegExp && s.pattern.source + s.pattern.flags,
      s.url instanceof URL && s.url.href,
    ],
  },
];
