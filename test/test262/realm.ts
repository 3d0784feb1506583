/**
 * The built-in objects a test may change (`Array.prototype[1] = …`, a global assigned in sloppy
 * mode), captured once and put back after each run: the tests share one realm with the library,
 * Hono and Vitest, whose own objects (`Object.prototype`, `instanceof Map`) must be the tests'.
 *
 * Putting back runs while the test's changes are in place, so it calls only primordials.
 */
import {
  bare,
  defineProperty,
  deleteProperty,
  ErrorClass,
  getOwnPropertyDescriptor,
  getPrototypeOf,
  hasOwn,
  is,
  isExtensible,
  MapClass,
  mapGetOf,
  mapSetOf,
  ownKeys,
  SetClass,
  StringOf,
  setAddOf,
  setHasOf,
  setPrototypeOf,
} from "./primordials.js";

interface Shape {
  object: object;
  proto: object | null;
  extensible: boolean;
  /** What `Reflect.ownKeys` gave: own elements, read by index. */
  keys: PropertyKey[];
  descriptors: PropertyDescriptor[];
  present: Set<PropertyKey>;
  /**
   * A built-in method: only its keys are compared (verifyProperty deletes its `name` or
   * `length`); comparing each of the thousand methods' descriptors would double the time.
   */
  method: boolean;
}

/** The built-ins as they were when captured, in a realm no test had changed. */
export type Snapshot = Shape[];

/** One property as a test left it: `descriptor` undefined when the test deleted it. */
interface Change {
  object: object;
  key: PropertyKey;
  descriptor: PropertyDescriptor | undefined;
}

/** What a restore undid, indexed 0 … size - 1, to be done again by `reapply`. */
export type Changes = Map<number, Change>;

const GLOBALS = [
  "Object",
  "Function",
  "Array",
  "Number",
  "Boolean",
  "String",
  "Symbol",
  "BigInt",
  "Date",
  "RegExp",
  "Map",
  "Set",
  "WeakMap",
  "WeakSet",
  "WeakRef",
  "Promise",
  "Proxy",
  "Reflect",
  "JSON",
  "Math",
  "ArrayBuffer",
  "SharedArrayBuffer",
  "DataView",
  "Error",
  "TypeError",
  "RangeError",
  "SyntaxError",
  "ReferenceError",
  "EvalError",
  "URIError",
  "AggregateError",
  "Int8Array",
  "Uint8Array",
  "Uint8ClampedArray",
  "Int16Array",
  "Uint16Array",
  "Int32Array",
  "Uint32Array",
  "Float32Array",
  "Float64Array",
  "BigInt64Array",
  "BigUint64Array",
];

/** The built-ins, then (from `methodsFrom` on) their methods. */
function intrinsics(): { objects: object[]; methodsFrom: number } {
  const found = new Set<object>([globalThis]);
  const add = (value: unknown) => {
    if ((typeof value === "object" || typeof value === "function") && value !== null) {
      found.add(value);
    }
  };
  const global = globalThis as unknown as Record<string, unknown>;
  for (const name of GLOBALS) {
    const value = global[name] as { prototype?: unknown } | undefined;
    add(value);
    add(value?.prototype);
  }
  const typedArray = Object.getPrototypeOf(Int8Array) as { prototype: unknown };
  add(typedArray);
  add(typedArray.prototype);
  const arrayIterator = Object.getPrototypeOf([][Symbol.iterator]()) as object;
  add(arrayIterator);
  add(Object.getPrototypeOf(arrayIterator));
  add(Object.getPrototypeOf(new Map()[Symbol.iterator]()));
  add(Object.getPrototypeOf(new Set()[Symbol.iterator]()));
  add(Object.getPrototypeOf(""[Symbol.iterator]()));
  const generatorFunction = Object.getPrototypeOf(function* () {}) as { prototype: unknown };
  add(generatorFunction);
  add(generatorFunction.prototype);
  add((Array.prototype as unknown as Record<symbol, unknown>)[Symbol.unscopables]);
  const methodsFrom = found.size;
  // Their methods too: verifyProperty deletes a method's `name` and `length` to see that they
  // are configurable.
  for (const object of [...found]) {
    if (object === globalThis) continue;
    for (const key of Reflect.ownKeys(object)) {
      const descriptor = Reflect.getOwnPropertyDescriptor(object, key) as PropertyDescriptor;
      for (const value of [descriptor.value, descriptor.get, descriptor.set]) {
        if (typeof value === "function" && !found.has(value)) found.add(value);
      }
    }
  }
  return { objects: [...found], methodsFrom };
}

const { objects, methodsFrom } = intrinsics();
const builtIns = new Set(objects);

/** Whether `value` is one of the built-in objects this module keeps. */
export function isBuiltIn(value: object): boolean {
  return setHasOf(builtIns, value);
}

/** Call only while no test has changed the built-ins. */
export function capture(): Snapshot {
  return objects.map((object, index) => {
    const keys = ownKeys(object);
    return {
      object,
      method: index >= methodsFrom,
      proto: getPrototypeOf(object),
      extensible: isExtensible(object),
      keys,
      descriptors: keys.map((key) => getOwnPropertyDescriptor(object, key) as PropertyDescriptor),
      present: new Set(keys),
    };
  });
}

/** Whether `current` describes what `kept` does (both as `getOwnPropertyDescriptor` returns them). */
function same(current: PropertyDescriptor, kept: PropertyDescriptor): boolean {
  if (current.enumerable !== kept.enumerable || current.configurable !== kept.configurable) {
    return false;
  }
  if (hasOwn(current, "value")) {
    return (
      hasOwn(kept, "value") && is(current.value, kept.value) && current.writable === kept.writable
    );
  }
  return !hasOwn(kept, "value") && current.get === kept.get && current.set === kept.set;
}

/** The part of `snapshot` about `objects`: putting back only those is quicker. */
export function part(snapshot: Snapshot, objects: ReadonlySet<object>): Snapshot {
  return snapshot.filter((shape) => objects.has(shape.object));
}

/**
 * Makes the built-ins what `snapshot` holds and returns what it undid. Throws when something
 * cannot be put back (a property made non-configurable, an object made non-extensible, a
 * prototype changed): such a test cannot share the realm.
 */
export function restore(snapshot: Snapshot): Changes {
  const changes: Changes = new MapClass();
  let count = 0;
  const record = (object: object, key: PropertyKey, descriptor: PropertyDescriptor | undefined) => {
    mapSetOf(changes, count++, { object, key, descriptor });
  };
  // What cannot be put back is reported after everything else has been.
  let problem: string | undefined;
  for (let index = 0; index < snapshot.length; index++) {
    const { object, proto, extensible, keys, descriptors, present, method } = snapshot[
      index
    ] as Shape;
    const now = ownKeys(object);
    // Usually nothing was added or deleted: the keys come in the same order.
    let sameKeys = now.length === keys.length;
    for (let key = 0; sameKeys && key < now.length; key++) sameKeys = now[key] === keys[key];
    if (method && sameKeys) continue;
    if (isExtensible(object) !== extensible) problem ??= "a built-in was made non-extensible";
    if (getPrototypeOf(object) !== proto && !setPrototypeOf(object, proto)) {
      problem ??= "a built-in's prototype was changed";
    }
    for (let key = 0; !sameKeys && key < now.length; key++) {
      const name = now[key] as PropertyKey;
      if (setHasOf(present, name)) continue;
      const added = getOwnPropertyDescriptor(object, name) as PropertyDescriptor;
      if (deleteProperty(object, name)) record(object, name, bare(added));
      else problem ??= `a non-configurable ${StringOf(name)} was added to a built-in`;
    }
    for (let key = 0; key < keys.length; key++) {
      const name = keys[key] as PropertyKey;
      const kept = descriptors[key] as PropertyDescriptor;
      const current = getOwnPropertyDescriptor(object, name);
      if (current && same(current, kept)) continue;
      if (defineProperty(object, name, bare(kept))) {
        record(object, name, current && bare(current));
      } else problem ??= `a built-in's ${StringOf(name)} cannot be put back`;
    }
  }
  if (problem !== undefined) throw new ErrorClass(problem);
  return changes;
}

/** The objects `changes` touched (without iterators or array methods: see above). */
export function touched(changes: Changes): Set<object> {
  const objects = new SetClass<object>();
  for (let index = 0; index < changes.size; index++) {
    setAddOf(objects, (mapGetOf(changes, index) as Change).object);
  }
  return objects;
}

/** Makes the changes `restore` undid again, each value passed through `map`. */
export function reapply(changes: Changes, map: (value: unknown) => unknown): void {
  for (let index = 0; index < changes.size; index++) {
    const { object, key, descriptor } = mapGetOf(changes, index) as Change;
    if (descriptor === undefined) deleteProperty(object, key);
    else {
      if (hasOwn(descriptor, "value")) descriptor.value = map(descriptor.value);
      defineProperty(object, key, descriptor);
    }
  }
}
