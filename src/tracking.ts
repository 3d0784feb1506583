/**
 * Deep mutation tracking: a Proxy over the instance and, lazily, over every object reached
 * through it, that reports each change. Bookkeeping stays in WeakMaps, never on the user's
 * objects, so nothing leaks into `Object.keys`, `JSON.stringify` or the stored state.
 *
 * Methods run against the raw object, not the Proxy: `#private` fields and the internal slots
 * of `Map`, `Set` and `Date` only exist there. A method call on a class instance therefore counts
 * as a change (what it did inside is not seen); the store skips the write when the serialized
 * state turns out unchanged.
 */

/** Proxy → the object it wraps, for every tracker. */
const raws = new WeakMap<object, object>();

/** The object behind a tracking Proxy, or `value` itself. */
export function toRaw<T>(value: T): T {
  return ((typeof value === "object" && value !== null && raws.get(value)) || value) as T;
}

type Kind = "native" | "map" | "set" | "date" | "other";

const MUTATORS: Record<"map" | "set", ReadonlySet<PropertyKey>> = {
  map: new Set(["set", "delete", "clear"]),
  set: new Set(["add", "delete", "clear"]),
};
const ITERATORS: ReadonlySet<PropertyKey> = new Set(["entries", "values", "keys", Symbol.iterator]);
// Run on the raw array, once, instead of element by element through the traps: a loop of
// `push` through a Proxy is otherwise tens of times slower than on the array itself.
const ARRAY_MUTATORS: ReadonlySet<PropertyKey> = new Set([
  "push",
  "pop",
  "shift",
  "unshift",
  "splice",
  "sort",
  "reverse",
  "fill",
  "copyWithin",
]);

function kindOf(target: object): Kind {
  if (Array.isArray(target)) return "native";
  const proto: unknown = Object.getPrototypeOf(target);
  if (proto === Object.prototype || proto === null) return "native";
  if (target instanceof Map) return "map";
  if (target instanceof Set) return "set";
  if (target instanceof Date) return "date";
  return "other";
}

function changes(kind: Kind, key: PropertyKey): boolean {
  if (kind === "map" || kind === "set") return MUTATORS[kind].has(key);
  if (kind === "date") return typeof key === "string" && key.startsWith("set");
  return true;
}

type AnyFunction = (...args: unknown[]) => unknown;

export class Tracker {
  readonly #proxies = new WeakMap<object, object>();
  readonly #onChange: () => void;

  constructor(onChange: () => void) {
    this.#onChange = onChange;
  }

  /** The tracking Proxy for `value` (one per object, so `a.b === a.b`); primitives and functions as they are. */
  wrap<T>(value: T): T {
    if (typeof value !== "object" || value === null || value instanceof Promise) return value;
    const raw = toRaw(value) as object;
    return (this.#proxies.get(raw) ?? this.#create(raw)) as T;
  }

  /** The Proxy for a root instance, with `extras` (methods such as `clearCookieState`) on top. */
  root<T extends object>(target: T, extras: Readonly<Record<PropertyKey, unknown>>): T {
    return this.#create(target, extras) as T;
  }

  #create(target: object, extras?: Readonly<Record<PropertyKey, unknown>>): object {
    const kind = kindOf(target);
    const onChange = this.#onChange;
    const tracker = this;
    let methods: WeakMap<AnyFunction, AnyFunction> | undefined; // most objects never have a method read

    const child = (key: PropertyKey, value: object): object => {
      // A Proxy must return the very value of a non-writable, non-configurable property (a
      // frozen parent). Changes below it cannot be seen, so count the read as a possible change:
      // the flush then compares the serialized state and writes only if it differs.
      const own = Reflect.getOwnPropertyDescriptor(target, key);
      if (own && !own.configurable && !own.writable && "value" in own) {
        if (!Object.isFrozen(value)) onChange();
        return value;
      }
      return tracker.wrap(value);
    };

    const settle = (result: unknown): unknown => {
      if (result === target) return proxy;
      // An async method goes on changing state after it returns: count its end as a change too.
      if (result instanceof Promise) {
        return result.then(
          (value: unknown) => {
            onChange();
            return value;
          },
          (error: unknown) => {
            onChange();
            throw error;
          },
        );
      }
      return tracker.wrap(result);
    };

    const method = (key: PropertyKey, fn: AnyFunction): AnyFunction => {
      methods ??= new WeakMap();
      let wrapped = methods.get(fn);
      if (wrapped) return wrapped;
      const marks = changes(kind, key);
      if ((kind === "map" || kind === "set") && key === "forEach") {
        wrapped = function forEach(this: unknown, callback: unknown, thisArg?: unknown) {
          if (typeof callback !== "function") return Reflect.apply(fn, toRaw(this), [callback]);
          return Reflect.apply(fn, toRaw(this), [
            (value: unknown, entryKey: unknown) =>
              Reflect.apply(callback, thisArg, [
                tracker.wrap(value),
                tracker.wrap(entryKey),
                proxy,
              ]),
          ]);
        };
      } else if ((kind === "map" || kind === "set") && ITERATORS.has(key)) {
        const pairs = kind === "map" ? key !== "keys" && key !== "values" : key === "entries";
        wrapped = function* iterate(this: unknown, ...args: unknown[]) {
          const entries = Reflect.apply(fn, toRaw(this), args) as Iterable<unknown>;
          for (const entry of entries) {
            if (!pairs) yield tracker.wrap(entry);
            else {
              const [entryKey, value] = entry as [unknown, unknown];
              yield [tracker.wrap(entryKey), tracker.wrap(value)];
            }
          }
        };
      } else if (Array.isArray(target)) {
        wrapped = function (this: unknown, ...args: unknown[]) {
          // Called on another array (`push.call(other, …)`): that array's own traps see it.
          if (toRaw(this) !== target) return Reflect.apply(fn, this, args);
          let result: unknown;
          try {
            result = Reflect.apply(fn, target, key === "sort" ? sortArgs(args) : args.map(toRaw));
          } finally {
            // Even a comparator that throws half-way through a sort has moved elements.
            onChange();
          }
          // What comes out is what came in: Proxies of the elements, the array's own Proxy.
          if (result === target) return proxy;
          if (key === "splice") return (result as unknown[]).map((item) => tracker.wrap(item));
          return tracker.wrap(result);
        };
        const sortArgs = ([compare]: unknown[]) =>
          typeof compare === "function"
            ? [(a: unknown, b: unknown) => compare(tracker.wrap(a), tracker.wrap(b))]
            : [];
      } else {
        wrapped = function (this: unknown, ...args: unknown[]) {
          const result = Reflect.apply(fn, toRaw(this), args.map(toRaw));
          if (marks) onChange();
          return settle(result);
        };
      }
      methods.set(fn, wrapped);
      return wrapped;
    };

    const proxy: object = new Proxy(target, {
      get(t, key, receiver) {
        if (extras && Object.hasOwn(extras, key)) return extras[key];
        // Arrays and plain objects work through the Proxy itself, so their built-in methods
        // (push, splice, sort …) go through the traps below and are tracked as they write.
        const value: unknown = Reflect.get(t, key, kind === "native" ? receiver : t);
        if (typeof value === "function") {
          // Own functions too (arrow-function fields): their `this` is the raw object, so what
          // they change is only seen through the call.
          if (kind === "native") {
            const mutator =
              ARRAY_MUTATORS.has(key) &&
              Array.isArray(t) &&
              value === Reflect.get(Array.prototype, key);
            return mutator ? method(key, value as AnyFunction) : value;
          }
          return key === "constructor" ? value : method(key, value as AnyFunction);
        }
        return typeof value === "object" && value !== null ? child(key, value) : value;
      },
      // When the raw operation is refused (frozen, read-only), repeat it the plain way so the
      // user gets the very TypeError a plain object throws, not the Proxy's "trap returned falsish".
      set(t, key, value) {
        const raw = toRaw(value);
        if (!Reflect.set(t, key, raw, t)) (t as Record<PropertyKey, unknown>)[key] = raw;
        onChange();
        return true;
      },
      deleteProperty(t, key) {
        if (!Reflect.deleteProperty(t, key)) delete (t as Record<PropertyKey, unknown>)[key];
        onChange();
        return true;
      },
      defineProperty(t, key, descriptor) {
        if (!Reflect.defineProperty(t, key, descriptor)) Object.defineProperty(t, key, descriptor);
        onChange();
        return true;
      },
      setPrototypeOf(t, proto) {
        const done = Reflect.setPrototypeOf(t, proto);
        if (done) onChange();
        return done;
      },
    });
    raws.set(proxy, target);
    this.#proxies.set(target, proxy);
    return proxy;
  }
}
