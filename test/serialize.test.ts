import { runInNewContext } from "node:vm";
import fc from "fast-check";
import { Hono } from "hono";
import { SuperJSON } from "superjson";
import { describe, expect, test } from "vitest";
import { PersistError } from "../src/errors.js";
import { MemoryStore, persist, persistSession, toRaw } from "../src/index.js";
import {
  decodeEnvelope,
  decodeState,
  encodeEnvelope,
  encodeRecord,
  encodeState,
} from "../src/serialize.js";
import { Browser, SECRET } from "./helpers.js";

class Money {
  constructor(
    public cents = 0,
    public currency = "EUR",
  ) {}
  format() {
    return `${(this.cents / 100).toFixed(2)} ${this.currency}`;
  }
}

const json = new SuperJSON();
json.registerClass(Money);

describe("state round-trip", () => {
  test("Date, Map, Set, BigInt, undefined, RegExp, NaN, Infinity, -0 and registered classes come back as themselves", () => {
    const instance = {
      when: new Date("2026-01-02T03:04:05.006Z"),
      map: new Map<string, Set<number>>([["a", new Set([1, 2])]]),
      big: 2n ** 70n,
      missing: undefined,
      pattern: /a+b/gi,
      nan: Number.NaN,
      inf: Number.POSITIVE_INFINITY,
      negativeZero: -0,
      price: new Money(1234),
      skipped: "transient",
      method: () => "functions are not state",
    };
    const state = encodeState(json, instance, new Set(["skipped"]), new Set([Money.prototype]));
    const restored = decodeState(json, state);
    expect(restored).toEqual({
      when: instance.when,
      map: instance.map,
      big: instance.big,
      missing: undefined,
      pattern: /a+b/gi,
      nan: Number.NaN,
      inf: Number.POSITIVE_INFINITY,
      negativeZero: -0,
      price: new Money(1234),
    });
    expect("missing" in restored).toBe(true);
    expect(Object.is(restored.negativeZero, -0)).toBe(true);
    expect((restored.price as Money).format()).toBe("12.34 EUR");
  });

  test.each([
    [
      "a nested function",
      { handlers: { onClick: () => 1 } },
      "field `handlers.onClick` holds a function, which cannot be stored",
    ],
    ["a symbol", { list: [Symbol("x")] }, "field `list[0]` holds a symbol, which cannot be stored"],
    [
      "an unregistered class instance",
      { items: new Map([["a", new Money()]]) },
      "field `items.get(a)` holds an instance of `Money`, which would come back as a plain object: add the class to @persist's `classes` option",
    ],
    [
      "a WeakMap",
      { cache: new WeakMap() },
      "field `cache` holds an instance of `WeakMap`, which would come back as a plain object: add the class to @persist's `classes` option",
    ],
    [
      "an own __proto__ key",
      { form: JSON.parse('{"__proto__":{"admin":true}}') },
      "field `form` holds an own `__proto__` key",
    ],
  ])("%s is refused with UNSERIALIZABLE, naming the field", (_, instance, message) => {
    expect(() => encodeState(json, instance, new Set(), new Set())).toThrow(
      new PersistError("UNSERIALIZABLE", message),
    );
  });

  test("a value reachable by two paths stays one object", () => {
    const shared = { n: 1 };
    const restored = decodeState(
      json,
      encodeState(json, { a: shared, b: shared }, new Set(), new Set()),
    );
    expect(restored.a).toBe(restored.b);
  });

  test("__proto__ payloads do not pollute prototypes", () => {
    const payload =
      '{"json":{"__proto__":{"polluted":true},"a":{"__proto__":{"polluted":true}}},"meta":{"values":{"a.__proto__":["map"]}}}';
    try {
      decodeState(json, payload);
    } catch {
      // Refusing it is fine too; polluting is not.
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe("superjson's paths", () => {
  test.each([
    ["a value annotation", (name: string) => ({ values: { [`a.${name}.x`]: ["undefined"] } })],
    [
      "a referential equality",
      (name: string) => ({ referentialEqualities: { a: [`b.${name}.x`] } }),
    ],
    [
      "a referential equality's first path",
      (name: string) => ({ referentialEqualities: { [`b.${name}`]: ["a"] } }),
    ],
  ])("%s through __proto__, constructor or prototype is refused with INVALID_STATE", (_, meta) => {
    for (const name of ["__proto__", "constructor", "prototype"]) {
      const state = JSON.stringify({ json: { a: {}, b: {} }, meta: { ...meta(name), v: 1 } });
      expect(() => decodeState(json, state)).toThrow(
        expect.objectContaining({
          code: "INVALID_STATE",
          message: expect.stringContaining(`${name} is not allowed as a property`),
        }),
      );
      expect(({} as Record<string, unknown>).x).toBeUndefined();
    }
  });

  test("keys with dots and backslashes, in both path formats, name one object", () => {
    const shared = { n: 1 };
    const state = encodeState(
      json,
      { "a.b": shared, c: { "d\\e.": shared } },
      new Set(),
      new Set(),
    );
    expect(JSON.parse(state).meta.referentialEqualities).toEqual({ "a\\.b": ["c.d\\\\e\\."] });
    const restored = decodeState(json, state);
    expect(restored["a.b"]).toBe((restored.c as Fields)["d\\e."]);
    // Before format 1 (no `v`), only dots were escaped.
    const legacy = decodeState(
      json,
      '{"json":{"a.b":{"n":1},"c":{"d\\\\e":{"n":1}}},"meta":{"referentialEqualities":{"a\\\\.b":["c.d\\\\e"]}}}',
    );
    expect(legacy["a.b"]).toBe((legacy.c as Fields)["d\\e"]);
  });
});

describe("envelope", () => {
  const envelope = { version: 3, created: 1, saved: 2, state: '{"json":{"a":1}}' };

  test("round-trips and names its key", () => {
    const data = encodeEnvelope("app-state", envelope);
    expect(JSON.parse(data)).toEqual({
      "hono-persist": 1,
      key: "app-state",
      version: 3,
      created: 1,
      saved: 2,
      state: { json: { a: 1 } },
    });
    expect(decodeEnvelope("app-state", data)).toEqual(envelope);
  });

  test("carries the fields an instance no longer has, only when there are some", () => {
    const absent = ["draft", 'odd,"state":name'];
    const data = encodeEnvelope("app-state", { ...envelope, absent });
    expect(JSON.parse(data)).toMatchObject({ absent, state: { json: { a: 1 } } });
    expect(decodeEnvelope("app-state", data)).toEqual({ ...envelope, absent });
    expect(encodeEnvelope("app-state", { ...envelope, absent: [] })).toBe(
      encodeEnvelope("app-state", envelope),
    );
    expect(decodeEnvelope("app-state", encodeEnvelope("app-state", envelope))?.absent).toBe(
      undefined,
    );
    // What a save writes: the same envelope, the state's part cut out of it exactly.
    const info = { key: "app-state", exclude: new Set<string>(), classes: new Set<object>() };
    const header = { version: 3, created: 1, saved: 2 };
    for (const list of [absent, [], undefined]) {
      const record = encodeRecord(json, { a: 1 }, info, { ...header, absent: list });
      expect(record).toEqual({
        data: encodeEnvelope("app-state", { ...envelope, absent: list }),
        state: envelope.state,
      });
      expect(decodeEnvelope("app-state", record.data)?.absent).toEqual(
        list?.length ? list : undefined,
      );
    }
  });

  test.each([
    [
      "torn JSON",
      '{"hono-persist":1,"key":"app-st',
      "stored state is not valid JSON (torn or foreign file)",
    ],
    ["another program's JSON", '{"cookie":{}}', "stored state is not a hono-persist state"],
    [
      "a broken envelope",
      '{"hono-persist":1,"key":"app-state","version":"x"}',
      "stored state has a malformed envelope",
    ],
    ...['"draft"', "[1]", "{}", "null", '["a",null]'].map((absent) => [
      `an \`absent\` of ${absent}`,
      encodeEnvelope("app-state", envelope).replace(',"state":', `,"absent":${absent},"state":`),
      "stored state has a malformed envelope",
    ]),
  ])("refuses %s with INVALID_STATE", (_, data, message) => {
    expect(() => decodeEnvelope("app-state", data)).toThrow(
      new PersistError("INVALID_STATE", message),
    );
  });

  test("answers undefined for another key's state, whole or not: not corrupt, only not this key's", () => {
    expect(decodeEnvelope("app-state", encodeEnvelope("prefs", envelope))).toBeUndefined();
    expect(decodeEnvelope("app-state", '{"hono-persist":1,"key":"prefs","version":"x"}')).toBe(
      undefined,
    );
  });
});

describe("the plain-JSON fast path", () => {
  const key = fc
    .string({ maxLength: 4 })
    .filter((k) => !["__proto__", "constructor", "prototype"].includes(k));
  const leaf = fc.oneof(
    fc.string({ maxLength: 6 }),
    fc.integer(),
    fc.double(),
    fc.boolean(),
    fc.constant(null),
    fc.constant(undefined),
    fc.constant(-0),
    fc.bigInt(),
    fc.date({ noInvalidDate: true }),
  );
  const { node } = fc.letrec((tie) => ({
    node: fc.oneof(
      { depthSize: "small", withCrossShrink: true },
      leaf,
      fc.array(tie("node"), { maxLength: 4 }),
      fc.sparseArray(tie("node"), { maxLength: 4 }),
      fc.dictionary(key, tie("node"), { maxKeys: 4 }),
      fc.array(tie("node"), { maxLength: 3 }).map((items) => new Set(items)),
      fc.array(fc.tuple(key, tie("node")), { maxLength: 3 }).map((entries) => new Map(entries)),
      fc.integer().map((cents) => new Money(cents)),
    ),
  }));
  // Some states hold one object at two paths (superjson then records a referential equality).
  const state = fc
    .tuple(fc.dictionary(key, node, { maxKeys: 5 }), fc.boolean())
    .map(([fields, share]) => {
      const objects = Object.values(fields).filter((v) => typeof v === "object" && v !== null);
      return share && objects.length > 0 ? { ...fields, again: objects[0] } : fields;
    });

  /** Each hole of the arrays in `value`, as [array, index]. */
  function holesOf(value: unknown, seen = new Set<unknown>()): [unknown[], number][] {
    if (typeof value !== "object" || value === null || seen.has(value)) return [];
    seen.add(value);
    const items =
      value instanceof Map
        ? [...value].flat()
        : value instanceof Set
          ? [...value]
          : Object.values(value);
    const own: [unknown[], number][] = [];
    if (Array.isArray(value)) {
      for (let index = 0; index < value.length; index++)
        if (!(index in value)) own.push([value, index]);
    }
    return [...own, ...items.flatMap((item) => holesOf(item, seen))];
  }

  test("writes exactly what superjson writes of the state, holes as `undefined`, for any state (2,000 generated)", () => {
    fc.assert(
      fc.property(state, (instance) => {
        const holes = holesOf(instance);
        const text = encodeState(json, instance, new Set(), new Set([Money.prototype]));
        expect(holesOf(instance)).toEqual(holes);
        for (const [array, index] of holes) array[index] = undefined;
        expect(text).toBe(JSON.stringify(json.serialize(instance)));
        // And it comes back: equal, the shared object one object.
        const restored = decodeState(json, text);
        expect(restored).toEqual(instance);
        const first = Object.keys(instance).find(
          (name) => name !== "again" && (instance as Fields)[name] === (instance as Fields).again,
        );
        if (first !== undefined) expect(restored.again).toBe(restored[first]);
        for (const [array, index] of holes) delete array[index];
        // What a save writes: the same state, in the envelope, in one piece.
        const header = { version: 2, created: 1, saved: 3 };
        const info = {
          key: 'odd,"state":key',
          exclude: new Set<string>(),
          classes: new Set([Money.prototype]),
        };
        expect(encodeRecord(json, instance, info, header)).toEqual({
          data: encodeEnvelope(info.key, { ...header, state: text }),
          state: text,
        });
      }),
      { numRuns: 2_000 },
    );
  });

  test("objects and arrays with a hidden toJSON are written field by field, as superjson does", () => {
    const instance = {
      form: Object.defineProperty({ a: 1 }, "toJSON", { value: () => "X" }),
      list: Object.defineProperty([1, 2], "toJSON", { value: () => "Y" }),
      plain: { b: [3] },
    };
    const text = encodeState(json, instance, new Set(), new Set());
    expect(text).toBe(JSON.stringify(json.serialize(instance)));
    expect(JSON.parse(text).json).toEqual({ form: { a: 1 }, list: [1, 2], plain: { b: [3] } });
  });

  test("keys superjson refuses are refused with UNSERIALIZABLE, naming the field", () => {
    expect(() => encodeState(json, { prototype: 1 }, new Set(), new Set())).toThrow(
      new PersistError("UNSERIALIZABLE", "field `prototype` has a name that cannot be stored"),
    );
    expect(() =>
      encodeState(json, { tree: { list: [{ constructor: 1 }] } }, new Set(), new Set()),
    ).toThrow(
      new PersistError(
        "UNSERIALIZABLE",
        "field `tree.list[0]` holds a `constructor` key, which cannot be stored",
      ),
    );
  });
});

// biome-ignore lint/suspicious/noExplicitAny: the states below hold every kind of value
type Fields = Record<string, any>;

let keys = 0;

/**
 * A fresh @persist class in an app with a MemoryStore and no cache: `act` changes an instance in
 * one request, the next request restores it from the store and hands its raw object to `observe`.
 * `plant` may replace the stored record in between.
 */
async function throughApp(
  act: (state: Fields) => void,
  options: { classes?: (new () => object)[]; plant?: (record: string) => string } = {},
) {
  const key = `serialize-${keys++}`;
  const State = persist(key, { classes: options.classes ?? [] })(class {});
  const store = new MemoryStore();
  const warnings: string[] = [];
  const errors: unknown[] = [];
  const app = new Hono();
  app.use(
    persistSession({
      secret: SECRET,
      store,
      cacheSize: 0,
      logger: {
        warn: (message) => warnings.push(message),
        error: (message) => warnings.push(message),
      },
    }),
  );
  app.onError((error, c) => {
    errors.push(error);
    return c.text("failed", 500);
  });
  let restored: Fields | undefined;
  app.post("/", (c) => {
    act(new State() as Fields);
    return c.text("ok");
  });
  app.get("/", (c) => {
    restored = toRaw(new State()) as Fields;
    return c.text("ok");
  });
  const browser = new Browser(app);
  const saved = await browser.request("/", { method: "POST" });
  const id = browser.cookie(key)?.split(".")[0];
  if (options.plant && id) {
    const record = await store.get(id, 3_600);
    if (record !== undefined) await store.set(id, options.plant(record), 3_600);
  }
  await browser.request("/");
  return { status: saved.status, errors, warnings, restored: restored ?? {} };
}

describe("what a restore gives back, through an app", () => {
  test.each([
    ['a key ending in `"__proto__`', { votes: { 'x"__proto__': 1 } }],
    ['a key holding `"__proto__": 1`', { form: { '"__proto__": 1': "y" } }],
    [
      'strings holding `"__proto__`',
      { a: 'x"__proto__', b: '{"a":"\\"__proto__\\": 1"}', c: ['"__proto__":'] },
    ],
    ['a Map key ending in `"__proto__`', { tags: new Map([['x"__proto__', 'y"__proto__']]) }],
  ])("%s is data: the state survives a restore", async (_, fields) => {
    const { restored, warnings } = await throughApp((state) => Object.assign(state, fields));
    expect(warnings).toEqual([]);
    expect(restored).toEqual(fields);
  });

  test.each([
    ["an own `__proto__` key", '"__proto__"'],
    ["an own `__proto__` key written with escapes", '"\\u005f_proto__"'],
  ])("a stored state with %s is quarantined; nothing is polluted", async (_, name) => {
    const { restored, warnings } = await throughApp(
      (state) => {
        state.form = { admin: false };
      },
      { plant: (record) => record.replace('"admin"', `${name}:{"admin":true},"admin"`) },
    );
    expect(warnings).toEqual([
      expect.stringMatching(
        /quarantined state "serialize-\d+" [0-9a-f-]+: \[hono-persist\] stored state has a `__proto__` key \(a prototype-pollution payload\)$/,
      ),
    ]);
    expect(restored).toEqual({});
    expect(({} as Fields).admin).toBeUndefined();
  });
});

describe("subclasses of built-ins, through an app", () => {
  class Cart extends Array<number> {
    total() {
      return this.reduce((sum, n) => sum + n, 0);
    }
  }
  class Day extends Date {}
  class Pattern extends RegExp {}
  class Link extends URL {}
  class Failure extends Error {}
  class Bytes extends Uint8Array {}
  const cases: [string, () => object, string][] = [
    ["Array", () => Cart.from([1, 2]), "Cart"],
    ["Date", () => new Day(5), "Day"],
    ["RegExp", () => new Pattern("a+", "g"), "Pattern"],
    ["URL", () => new Link("https://example.com/"), "Link"],
    ["Error", () => new Failure("failed"), "Failure"],
    ["Error", () => new TypeError("failed"), "TypeError"],
    ["Uint8Array", () => new Bytes([1, 2]), "Bytes"],
  ];
  test.each(
    cases.flatMap(([base, make, name]) => [
      [name, base, "unregistered", make] as const,
      [name, base, "registered", make] as const,
    ]),
  )(
    "`%s` (a subclass of %s, %s) is refused at save, naming the field",
    async (name, base, registered, make) => {
      const classes = registered === "registered" ? [make().constructor as new () => object] : [];
      const { status, errors, restored } = await throughApp(
        (state) => {
          state.count = 1;
          state.field = { list: [make()] };
        },
        { classes },
      );
      expect(status).toBe(500);
      expect(errors).toEqual([
        new PersistError(
          "UNSERIALIZABLE",
          `field \`field.list[0]\` holds an instance of \`${name}\`, a subclass of \`${base}\`, which would not come back as itself`,
        ),
      ]);
      expect(restored).toEqual({});
    },
  );
});

test("an array of another realm is stored as an array", async () => {
  const { restored, errors } = await throughApp((state) => {
    state.list = runInNewContext("[1, [2]]");
  });
  expect(errors).toEqual([]);
  expect(restored.list).toEqual([1, [2]]);
});

// Float16Array (Node 24) is a typed array superjson does not know either.
const { Float16Array } = globalThis as { Float16Array?: new (items: number[]) => object };
const views: [string, () => object][] = [["DataView", () => new DataView(new ArrayBuffer(2))]];
if (Float16Array) views.push(["Float16Array", () => new Float16Array([1])]);
test.each(views)(
  "a `%s`, a view superjson cannot restore, is refused at save",
  async (name, make) => {
    const { errors } = await throughApp((state) => {
      state.view = make();
    });
    expect(errors).toEqual([
      new PersistError(
        "UNSERIALIZABLE",
        `field \`view\` holds an instance of \`${name}\`, which cannot be stored`,
      ),
    ]);
  },
);

describe("arrays, dates and special numbers, through an app", () => {
  test("an array's holes come back as `undefined` elements, its length kept", async () => {
    const trailing = new Array(3);
    trailing[0] = 1;
    const { restored } = await throughApp((state) => {
      state.trailing = trailing;
      state.middle = Object.assign(new Array(3), { 0: 1, 2: 3 });
      state.nested = { grid: [Object.assign(new Array(2), { 1: "x" }), new Array(2)] };
      state.inMap = new Map([["k", Object.assign(new Array(2), { 1: 1 })]]);
    });
    expect(restored.trailing).toHaveLength(3);
    expect(restored.trailing).toEqual([1, undefined, undefined]);
    expect(restored.middle).toEqual([1, undefined, 3]);
    expect(restored.nested.grid).toEqual([
      [undefined, "x"],
      [undefined, undefined],
    ]);
    expect(restored.inMap.get("k")).toEqual([undefined, 1]);
    // The saved arrays keep their holes.
    expect(Object.keys(trailing)).toEqual(["0"]);
  });

  test.each([
    [
      "an array with a named property",
      () => Object.assign([1, 2], { total: 3 }),
      "field `value` holds an array with a named property `total`, which would not be stored",
    ],
    [
      "a match result",
      () => ({ found: "abc".match(/b/) }),
      "field `value.found` holds an array with a named property `index`, which would not be stored",
    ],
    [
      "a frozen array with holes",
      () => Object.freeze(new Array(2)),
      "field `value` holds a frozen or sealed array with holes, which cannot be stored",
    ],
    [
      "an invalid Date",
      () => new Map([["due", new Date("not a date")]]),
      "field `value.get(due)` holds an invalid Date, which would come back as null",
    ],
  ])("%s is refused at save, naming the field", async (_, make, message) => {
    const { status, errors } = await throughApp((state) => {
      state.value = make();
    });
    expect(status).toBe(500);
    expect(errors).toEqual([new PersistError("UNSERIALIZABLE", message)]);
  });

  test("-0, NaN, ±Infinity, BigInt and undefined come back in arrays, Maps and Sets", async () => {
    const values = [
      -0,
      Number.NaN,
      Number.POSITIVE_INFINITY,
      Number.NEGATIVE_INFINITY,
      2n ** 64n,
      undefined,
    ];
    const { restored } = await throughApp((state) => {
      state.list = [...values];
      state.map = new Map(values.map((value, index) => [index, value]));
      state.keys = new Map(values.map((value, index) => [value, index]));
      state.set = new Set(values);
    });
    expect(restored.list).toEqual(values);
    expect(Object.is(restored.list[0], -0)).toBe(true);
    expect([...restored.map.values()]).toEqual(values);
    expect(Object.is(restored.map.get(0), -0)).toBe(true);
    // A Map or Set holds -0 as 0, as the plain ones do.
    expect(restored.keys).toEqual(new Map(values.map((value, index) => [value, index])));
    expect(restored.set).toEqual(new Set(values));
  });
});

describe("one object reached by several paths, through an app", () => {
  class Box {
    item: unknown = null;
  }
  test.each([
    [
      "two top-level fields",
      (state: Fields) => {
        const shared = { n: 1 };
        state.a = shared;
        state.b = shared;
      },
      (r: Fields) => r.a === r.b,
    ],
    [
      "a Date in two fields",
      (state: Fields) => {
        const date = new Date(5);
        state.a = date;
        state.b = [date];
      },
      (r: Fields) => r.a === r.b[0] && r.a.getTime() === 5,
    ],
    [
      "a cycle through a Map value",
      (state: Fields) => {
        const node: Fields = { map: new Map() };
        node.map.set("self", node);
        state.node = node;
      },
      (r: Fields) => r.node.map.get("self") === r.node,
    ],
    [
      "a cycle through a Map value, the Map first",
      (state: Fields) => {
        const map = new Map<string, unknown>();
        const node = { map };
        map.set("node", node);
        state.map = map;
        state.node = node;
      },
      (r: Fields) => r.map.get("node") === r.node && r.node.map === r.map,
    ],
    [
      "an object in a registered class's field and in a field",
      (state: Fields) => {
        const box = new Box();
        box.item = { n: 1 };
        state.shared = box.item;
        state.box = box;
      },
      (r: Fields) => r.box.item === r.shared,
    ],
    [
      "a Map in a registered class's field and in a field",
      (state: Fields) => {
        const box = new Box();
        box.item = new Map([["a", 1]]);
        state.box = box;
        state.map = box.item;
      },
      (r: Fields) => r.box.item === r.map && r.map.get("a") === 1,
    ],
    [
      "a Date in a registered class's field and in a field",
      (state: Fields) => {
        const box = new Box();
        box.item = new Date(5);
        state.box = box;
        state.date = box.item;
      },
      (r: Fields) => r.box.item === r.date && r.date.getTime() === 5,
    ],
    [
      "a registered class holding itself",
      (state: Fields) => {
        const box = new Box();
        box.item = box;
        state.box = box;
      },
      (r: Fields) => r.box.item === r.box && r.box instanceof Box,
    ],
    [
      "a tree with parent links",
      (state: Fields) => {
        const root: Fields = { children: [] };
        for (const name of ["a", "b"]) root.children.push({ name, parent: root, children: [] });
        root.children[0].children.push({ name: "c", parent: root.children[0], children: [] });
        state.tree = root;
        state.selected = root.children[0].children[0];
      },
      (r: Fields) =>
        r.tree.children[0].parent === r.tree &&
        r.tree.children[1].parent === r.tree &&
        r.selected === r.tree.children[0].children[0] &&
        r.selected.parent === r.tree.children[0],
    ],
    [
      "an Error's cause and a field",
      (state: Fields) => {
        const cause = { n: 1 };
        state.error = new Error("failed", { cause });
        state.cause = cause;
      },
      (r: Fields) => r.error.cause === r.cause && r.error.message === "failed",
    ],
  ])("%s: one object after a restore", async (_, act, same) => {
    const { restored, errors, warnings } = await throughApp(act, { classes: [Box] });
    expect(errors).toEqual([]);
    expect(warnings).toEqual([]);
    expect(same(restored)).toBe(true);
  });
});

describe("objects reached by several paths", () => {
  class Node {
    links: unknown[] = [];
  }
  const graphs = new SuperJSON();
  graphs.registerClass(Node);
  const kinds = ["object", "array", "map", "set", "node"] as const;

  /** Whether `b` is `a` restored: the same shape, with one object wherever `a` has one. */
  function sameGraph(a: unknown, b: unknown, seen = new Map<unknown, unknown>()): boolean {
    if (typeof a !== "object" || a === null) return Object.is(a, b);
    if (seen.has(a)) return seen.get(a) === b;
    if ([...seen.values()].includes(b)) return false;
    if (typeof b !== "object" || b === null) return false;
    if (Object.getPrototypeOf(a) !== Object.getPrototypeOf(b)) return false;
    seen.set(a, b);
    const entries = (value: object): unknown[] =>
      value instanceof Map || value instanceof Set
        ? [...value.entries()].flat()
        : Object.entries(value).flat();
    const [x, y] = [entries(a), entries(b)];
    return x.length === y.length && x.every((item, index) => sameGraph(item, y[index], seen));
  }

  test("a graph of objects, arrays, Maps (keys and values), Sets and class instances comes back the same graph (1,000 generated)", () => {
    const graph = fc.record({
      nodes: fc.array(fc.constantFrom(...kinds), { minLength: 1, maxLength: 6 }),
      links: fc.array(fc.tuple(fc.nat(), fc.nat()), { maxLength: 12 }),
      fields: fc.array(fc.nat(), { minLength: 1, maxLength: 4 }),
    });
    fc.assert(
      fc.property(graph, ({ nodes: kindsOf, links, fields }) => {
        const nodes = kindsOf.map((kind) =>
          kind === "object"
            ? {}
            : kind === "array"
              ? []
              : kind === "map"
                ? new Map()
                : kind === "set"
                  ? new Set()
                  : new Node(),
        );
        links.forEach(([from, to], index) => {
          const node = nodes[from % nodes.length] as object;
          const target = nodes[to % nodes.length];
          if (node instanceof Map) node.set(index % 2 ? target : `k${index}`, target);
          else if (node instanceof Set) node.add(target);
          else if (node instanceof Node) node.links.push(target);
          else if (Array.isArray(node)) node.push(target);
          else (node as Fields)[`k.${index}`] = target;
        });
        const instance = Object.fromEntries(
          fields.map((node, index) => [`f${index}`, nodes[node % nodes.length]]),
        );
        const text = encodeState(graphs, instance, new Set(), new Set([Node.prototype]));
        expect(sameGraph(instance, decodeState(graphs, text))).toBe(true);
      }),
      { numRuns: 1_000 },
    );
  });
});
