import { types } from "node:util";
import { toRaw } from "../../src/index.js";

/**
 * What a store-and-load round trip lost: the restore mode takes an inventory of the values it
 * stores before the save (which may run the test's getters and change them), and compares the
 * values the next request loads with it. The causes table matches on these names, so that a test
 * failing after a restore is classified by what its values lost, not by the words of its
 * assertion. Getters are never called (descriptors only), and the test's own Proxies are not
 * entered: both would run the test's code.
 */
export type Loss =
  | "accessor" // a getter/setter came back as a data property
  | "named-property" // a named property of an array, Date, Map or Set is gone
  | "attributes" // a read-only or non-configurable property came back writable/configurable
  | "extensible" // a frozen, sealed or non-extensible object came back extensible
  | "hole" // an array hole came back as a value, or trailing holes shortened the array
  | "invalid-date" // an Invalid Date came back as something else
  | "non-enumerable" // a non-enumerable property is gone
  | "prototype" // the object came back with another prototype
  | "symbol-key" // a symbol-keyed property is gone
  | "value"; // anything else differs: a value, a type, a Map or Set entry

interface Shape {
  proto: object | null;
  extensible: boolean;
  array: boolean;
  /** A Date, Map or Set: only its contents are stored. */
  builtIn: boolean;
  /** A Date's time value. */
  time: number | undefined;
  keys: [PropertyKey, PropertyDescriptor][];
  /** A Map's or Set's values, in order. */
  entries: unknown[] | undefined;
}

/** The shapes of `values` and of every object reached from them (as the save would see them). */
export type Inventory = Map<object, Shape>;

export function inventory(values: readonly unknown[]): Inventory {
  const shapes: Inventory = new Map();
  const visit = (value: unknown): void => {
    value = toRaw(value);
    if (typeof value !== "object" || value === null) return;
    if (types.isProxy(value) || shapes.has(value)) return;
    const keys = Reflect.ownKeys(value).map(
      (key) =>
        [key, Reflect.getOwnPropertyDescriptor(value, key) as PropertyDescriptor] as [
          PropertyKey,
          PropertyDescriptor,
        ],
    );
    const entries = types.isMap(value)
      ? [...value.values()]
      : types.isSet(value)
        ? [...value]
        : undefined;
    shapes.set(value, {
      proto: Object.getPrototypeOf(value),
      extensible: Object.isExtensible(value),
      array: Array.isArray(value),
      builtIn: types.isDate(value) || types.isMap(value) || types.isSet(value),
      time: types.isDate(value) ? value.getTime() : undefined,
      keys,
      entries,
    });
    for (const [, descriptor] of keys) visit(descriptor.value);
    for (const entry of entries ?? []) visit(entry);
  };
  for (const value of values) visit(value);
  return shapes;
}

/** What `after[i]` lost against `before[i]` as `shapes` recorded it. */
export function losses(shapes: Inventory, pairs: readonly (readonly [unknown, unknown])[]): Loss[] {
  const found = new Set<Loss>();
  const seen = new Set<object>();
  const compare = (before: unknown, after: unknown): void => {
    before = toRaw(before);
    after = toRaw(after);
    if (typeof before === "function") return;
    if (typeof before !== "object" || before === null) {
      if (!Object.is(before, after)) found.add("value");
      return;
    }
    const shape = shapes.get(before);
    if (!shape || seen.has(before)) return;
    seen.add(before);
    if (typeof after !== "object" || after === null) {
      found.add(shape.time !== undefined && Number.isNaN(shape.time) ? "invalid-date" : "value");
      return;
    }
    if (shape.proto !== Object.getPrototypeOf(after)) found.add("prototype");
    if (!shape.extensible && Object.isExtensible(after)) found.add("extensible");
    if (shape.time !== undefined) {
      if (!types.isDate(after) || !Object.is(shape.time, after.getTime())) {
        found.add(Number.isNaN(shape.time) ? "invalid-date" : "value");
      }
    }
    if (shape.entries) {
      const now = types.isMap(after) ? [...after.values()] : types.isSet(after) ? [...after] : [];
      if (now.length !== shape.entries.length) found.add("value");
      for (const [index, entry] of shape.entries.entries()) compare(entry, now[index]);
    }
    for (const [key, was] of shape.keys) {
      const now = Reflect.getOwnPropertyDescriptor(after, key);
      if (!now) {
        if (typeof key === "symbol") found.add("symbol-key");
        else if (shape.array && isIndex(String(key))) found.add("hole");
        else if (shape.array || shape.builtIn) found.add("named-property");
        else if (!was.enumerable) found.add("non-enumerable");
        else if (typeof was.value !== "function") found.add("value");
        continue;
      }
      if (!("value" in was)) {
        if ("value" in now) found.add("accessor");
        continue;
      }
      if ((!was.writable && now.writable) || (!was.configurable && now.configurable)) {
        found.add("attributes");
      }
      if (shape.array && key === "length" && !Object.is(was.value, now.value)) found.add("hole");
      else compare(was.value, now.value);
    }
    if (shape.array) {
      const had = new Set(shape.keys.map(([key]) => key));
      for (const key of Reflect.ownKeys(after)) {
        if (typeof key === "string" && isIndex(key) && !had.has(key)) found.add("hole");
      }
    }
  };
  for (const [before, after] of pairs) compare(before, after);
  return [...found].sort();
}

function isIndex(key: string): boolean {
  return /^(0|[1-9]\d*)$/.test(key) && Number(key) < 2 ** 32 - 1;
}
