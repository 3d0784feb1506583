/**
 * The conformance list: class behaviours, each written once over a class, that
 * `conformance.test.ts` runs on the plain class, on the @persist-decorated class inside a
 * request, and once more on the instance restored from the store in the next request.
 *
 * `act` changes the state (the first request, and the plain instance); `observe` reads it and
 * must give identical results everywhere. A behaviour that cannot hold after a restore says so
 * in `limitation`, with what is observed instead; the README's Limitations section must name
 * every one of them.
 */

// biome-ignore lint/suspicious/noExplicitAny: behaviours reach into every kind of class
export type State = any;

export interface Behaviour {
  name: string;
  /** A fresh class on each call: decorating changes the class's prototype. */
  make: () => new () => object;
  act?: (state: State, Class: State) => unknown;
  observe: (state: State, Class: State) => unknown;
  /**
   * A documented difference: the README's words for it, what a restored instance shows instead
   * of the plain result, and what the persisted instance shows when that differs already.
   */
  limitation?: { readme: string; restored: unknown; persisted?: unknown };
}

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
    limitation: {
      readme: "`Object.prototype.toString` of a nested `Date` gives `[object Object]`",
      persisted: { value: "[object Object]" },
      restored: { value: "[object Object]" },
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
    name: "frozen nested objects refuse writes with the plain TypeError",
    make: () =>
      class {
        config = { mode: "open" };
      },
    act: (s) => {
      s.config = Object.freeze({ mode: "fixed" });
      s.config.mode = "changed";
    },
    observe: (s) => [s.config.mode, Object.isFrozen(s.config)],
    limitation: {
      readme: "Frozen objects come back unfrozen",
      restored: { value: ["fixed", false] },
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
