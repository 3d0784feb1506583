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
    expect(decodeEnvelope("app-state", encodeEnvelope("app-state", envelope)).absent).toBe(
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
      expect(decodeEnvelope("app-state", record.data).absent).toEqual(
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
      "another key",
      encodeEnvelope("prefs", envelope),
      'stored state belongs to key "prefs", not "app-state"',
    ],
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

  test("writes exactly what superjson writes, for any state (2,000 generated)", () => {
    fc.assert(
      fc.property(state, (instance) => {
        const text = encodeState(json, instance, new Set(), new Set([Money.prototype]));
        expect(text).toBe(JSON.stringify(json.serialize(instance)));
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
