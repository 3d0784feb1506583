/**
 * Deep mutation tracking: a Proxy over the instance and, lazily, over every object reached
 * through it, that reports each change. Bookkeeping stays in WeakMaps, never on the user's
 * objects, so nothing leaks into `Object.keys`, `JSON.stringify` or the stored state.
 *
 * Methods run against the raw object, not the Proxy: `#private` fields and the internal slots
 * of `Map`, `Set` and `Date` only exist there. A method call or a getter read on a class instance
 * therefore counts as a change (what it did inside is not seen); the store skips the write when
 * the serialized state turns out unchanged.
 */

import { types } from "node:util";

/** Proxy → the object it wraps, for every tracker. */
const raws = new WeakMap<object, object>();

/**
 * Counts the moments when code may have changed a property's attributes unseen: a raw object
 * handed out (`toRaw`, a method running on the raw object) or a property redefined. A child
 * Proxy remembered before such a moment is checked again before it is returned.
 */
let epoch = 0;

/** The object behind a tracking Proxy, or `value` itself (for this module and serialize.ts). */
export function rawOf<T>(value: T): T {
  return ((typeof value === "object" && value !== null && raws.get(value)) || value) as T;
}

/** The object behind a tracking Proxy, or `value` itself. */
export function toRaw<T>(value: T): T {
  const raw = rawOf(value);
  // Whoever holds the raw object may freeze what a Proxy has handed out (see Handler#child).
  if (raw !== value) epoch++;
  return raw;
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
// Run on the raw array, whose elements are the objects the code put in; a search through the
// Proxy would compare each element's Proxy with them and never find one.
const ARRAY_SEARCHES: ReadonlySet<PropertyKey> = new Set(["includes", "indexOf", "lastIndexOf"]);
// The Map and Set methods whose first argument is a key or an element.
const KEYED: ReadonlySet<PropertyKey> = new Set(["get", "has", "delete", "set", "add"]);

/** Per prototype: the keys its chain reads through a getter written in JavaScript, or null. */
const getterKeys = new WeakMap<object, ReadonlySet<PropertyKey> | null>();
const NATIVE = /\{\s*\[native code\]\s*\}\s*$/;

function gettersOf(proto: object | null): ReadonlySet<PropertyKey> | undefined {
  if (proto === null) return undefined;
  let keys = getterKeys.get(proto);
  if (keys === undefined) {
    const found = new Set<PropertyKey>();
    const seen = new Set<PropertyKey>();
    for (let p: object | null = proto; p !== null && p !== Object.prototype; ) {
      for (const key of Reflect.ownKeys(p)) {
        if (seen.has(key)) continue; // shadowed by a prototype nearer the object
        seen.add(key);
        const get = Reflect.getOwnPropertyDescriptor(p, key)?.get;
        // Built-in getters (`Map#size`, `RegExp#flags`) change nothing; Node writes `URL`'s in
        // JavaScript, so reading `url.href` counts like calling `url.toString()` did already.
        if (get && !NATIVE.test(Function.prototype.toString.call(get))) found.add(key);
      }
      p = Reflect.getPrototypeOf(p);
    }
    keys = found.size > 0 ? found : null;
    getterKeys.set(proto, keys);
  }
  return keys ?? undefined;
}

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
  readonly onChange: () => void;
  /**
   * Called once, right before code first runs on the raw objects (a getter, a method) where
   * the changes it makes are unseen, unless cleared before. A fresh state takes its snapshot
   * here, so that such a call that changed nothing saves nothing.
   */
  beforeUnseen: (() => void) | undefined;
  /** Async methods called through the Proxy that have not settled yet. */
  pending = 0;

  constructor(onChange: () => void) {
    this.onChange = onChange;
  }

  /** Runs `beforeUnseen` if it is still set. */
  unseen(): void {
    const hook = this.beforeUnseen;
    if (hook === undefined) return;
    this.beforeUnseen = undefined;
    hook();
  }

  /** The tracking Proxy for `value` (one per object, so `a.b === a.b`); primitives and functions as they are. */
  wrap<T>(value: T): T {
    if (typeof value !== "object" || value === null || value instanceof Promise) return value;
    const raw = rawOf(value) as object;
    return (this.#proxies.get(raw) ?? this.#create(raw)) as T;
  }

  /** The Proxy already made for `raw`, if any. */
  existing(raw: object): object | undefined {
    return this.#proxies.get(raw);
  }

  /** The Proxy for a root instance, with `extras` (methods such as `clearCookieState`) on top. */
  root<T extends object>(target: T, extras: Readonly<Record<PropertyKey, unknown>>): T {
    return this.#create(target, extras) as T;
  }

  #create(target: object, extras?: Readonly<Record<PropertyKey, unknown>>): object {
    const handler = new Handler(this, target, kindOf(target), extras);
    const proxy = new Proxy(target, handler);
    handler.proxy = proxy;
    raws.set(proxy, target);
    this.#proxies.set(target, proxy);
    return proxy;
  }
}

/**
 * The traps of one tracked object. One class for all of them, its state in fields rather than
 * in closures per object: the traps stay monomorphic and a Proxy costs one small object.
 */
class Handler implements ProxyHandler<object> {
  readonly tracker: Tracker;
  readonly target: object;
  readonly kind: Kind;
  readonly extras: Readonly<Record<PropertyKey, unknown>> | undefined;
  proxy: object = {};
  // The last child handed out and the last method: a loop over `state.items.push(…)` finds
  // both without a lookup.
  #key: PropertyKey | undefined;
  #raw: object | undefined;
  #child: object | undefined;
  #epoch = -1;
  #fn: unknown;
  #method: AnyFunction | undefined;
  #methods: WeakMap<AnyFunction, AnyFunction> | undefined; // most objects never have a method read
  // The keys a class instance reads through its own getters (undefined for most objects), and
  // the last key read that is none of them: a loop over `state.count` checks no set.
  #getters: ReadonlySet<PropertyKey> | undefined;
  #notGetter: PropertyKey | undefined;

  constructor(
    tracker: Tracker,
    target: object,
    kind: Kind,
    extras: Readonly<Record<PropertyKey, unknown>> | undefined,
  ) {
    this.tracker = tracker;
    this.target = target;
    this.kind = kind;
    this.extras = extras;
    if (kind === "other") this.#getters = gettersOf(Reflect.getPrototypeOf(target));
  }

  get(t: object, key: PropertyKey, receiver: unknown): unknown {
    const extras = this.extras;
    // The key of the child last handed out is not an extra (those are looked up first).
    if (extras !== undefined && key !== this.#key && Object.hasOwn(extras, key)) return extras[key];
    // Arrays and plain objects work through the Proxy itself, so their built-in methods
    // (splice, map, …) go through the traps below and are tracked as they write.
    const native = this.kind === "native";
    const value: unknown =
      this.#getters === undefined || key === this.#notGetter
        ? Reflect.get(t, key, native ? receiver : t)
        : this.#viaGetter(t, key, receiver);
    if (typeof value === "object") return value === null ? value : this.#childFor(key, value);
    // `Object.prototype.toString` finds no [[DateValue]] slot on a Proxy: the tag names it.
    if (value === undefined && key === Symbol.toStringTag && this.kind === "date") return "Date";
    if (typeof value !== "function") return value;
    if (value === this.#fn) return this.#method;
    let method = value as AnyFunction;
    // Own functions too (arrow-function fields): their `this` is the raw object, so what
    // they change is only seen through the call.
    if (native) {
      if (
        (ARRAY_MUTATORS.has(key) || ARRAY_SEARCHES.has(key)) &&
        Array.isArray(t) &&
        value === Reflect.get(Array.prototype, key)
      )
        method = this.#wrapped(key, method);
    } else if (key !== "constructor") method = this.#wrapped(key, method);
    this.#fn = value;
    this.#method = method;
    return method;
  }

  /** A read of a class instance that has getters of its own. */
  #viaGetter(t: object, key: PropertyKey, receiver: unknown): unknown {
    if (!this.#getters?.has(key)) {
      this.#notGetter = key;
      return Reflect.get(t, key, t);
    }
    // The getter runs on the raw object too (for its #private fields), so what it writes
    // (`this._token ??= …`) is unseen: count the read as a change, like a method call. Through
    // an object inheriting from this one, it runs on that object, as without a Proxy.
    this.tracker.unseen();
    try {
      return Reflect.get(t, key, receiver === this.proxy ? t : receiver);
    } finally {
      epoch++;
      this.tracker.onChange();
    }
  }

  #childFor(key: PropertyKey, value: object): object {
    // Freezing or sealing makes an object non-extensible first, whoever does it (a getter or an
    // async method on the raw object, a library handed `toRaw()`): the remembered child is then
    // checked again. What is left, `Object.defineProperty` on a raw object that stays
    // extensible, bumps the epoch when it goes through a Proxy, `toRaw()` or a method.
    if (
      value === this.#raw &&
      key === this.#key &&
      this.#epoch === epoch &&
      Object.isExtensible(this.target)
    )
      return this.#child as object;
    // A Proxy must return the very value of a non-writable, non-configurable property (a
    // frozen parent). Changes below it cannot be seen, so count the read as a possible change:
    // the flush then compares the serialized state and writes only if it differs.
    const own = Reflect.getOwnPropertyDescriptor(this.target, key);
    if (own && !own.configurable && !own.writable && "value" in own) {
      if (!Object.isFrozen(value)) {
        this.tracker.unseen();
        this.tracker.onChange();
      }
      return value;
    }
    const child = this.tracker.wrap(value);
    this.#key = key;
    this.#raw = value;
    this.#child = child;
    this.#epoch = epoch;
    return child;
  }

  #settle(result: unknown): unknown {
    if (result === this.target) return this.proxy;
    // An async method goes on changing state after it returns: count its end as a change too.
    if (result instanceof Promise) {
      const tracker = this.tracker;
      tracker.pending++;
      return result.then(
        (value: unknown) => {
          tracker.pending--;
          tracker.onChange();
          return value;
        },
        (error: unknown) => {
          tracker.pending--;
          tracker.onChange();
          throw error;
        },
      );
    }
    return this.tracker.wrap(result);
  }

  /** `fn` as a method of this object: run on the raw object, reporting the change it makes. */
  #wrapped(key: PropertyKey, fn: AnyFunction): AnyFunction {
    this.#methods ??= new WeakMap();
    let wrapped = this.#methods.get(fn);
    if (wrapped) return wrapped;
    const { kind, target, tracker } = this;
    const handler = this;
    if ((kind === "map" || kind === "set") && key === "forEach") {
      wrapped = function forEach(this: unknown, callback: unknown, thisArg?: unknown) {
        if (typeof callback !== "function") return Reflect.apply(fn, rawOf(this), [callback]);
        return Reflect.apply(fn, rawOf(this), [
          (value: unknown, entryKey: unknown) =>
            Reflect.apply(callback, thisArg, [
              tracker.wrap(value),
              tracker.wrap(entryKey),
              handler.proxy,
            ]),
        ]);
      };
    } else if ((kind === "map" || kind === "set") && ITERATORS.has(key)) {
      const Iterator = kind === "map" ? MapIterator : SetIterator;
      const pairs = kind === "map" ? key !== "keys" && key !== "values" : key === "entries";
      wrapped = function (this: unknown, ...args: unknown[]) {
        const source = Reflect.apply(fn, rawOf(this), args) as Iterator<unknown>;
        return new Iterator(source, tracker, pairs);
      };
    } else if (kind === "native" && ARRAY_SEARCHES.has(key)) {
      wrapped = search(key, fn, handler);
    } else if (kind === "native") {
      // Any other comparator goes as it is, for the sort to refuse it as on a plain array.
      const sortArgs = (args: unknown[]) => {
        const compare = args[0];
        return typeof compare === "function"
          ? [(a: unknown, b: unknown) => compare(tracker.wrap(a), tracker.wrap(b))]
          : args;
      };
      // An array mutator: it changes no property's attributes, so the epoch stays.
      const mutate = function (this: unknown, ...args: unknown[]) {
        // Called on another array (`push.call(other, …)`): that array's own traps see it.
        if (this !== handler.proxy && rawOf(this) !== target) return Reflect.apply(fn, this, args);
        let result: unknown;
        try {
          if (key === "sort") result = Reflect.apply(fn, target, sortArgs(args));
          else {
            for (let index = 0; index < args.length; index++) args[index] = rawOf(args[index]);
            result = Reflect.apply(fn, target, args);
          }
        } finally {
          // Even a comparator that throws half-way through a sort has moved elements.
          tracker.onChange();
        }
        // What comes out is what came in: Proxies of the elements, the array's own Proxy.
        if (result === target) return handler.proxy;
        if (key === "splice") return (result as unknown[]).map((item) => tracker.wrap(item));
        return tracker.wrap(result);
      };
      // `push` of one element, the commonest write to an array, made in loops: without the
      // loop over the arguments and the checks of the result.
      wrapped =
        key === "push"
          ? function push(this: unknown, ...items: unknown[]) {
              if (items.length !== 1 || (this !== handler.proxy && rawOf(this) !== target))
                return Reflect.apply(mutate, this, items);
              try {
                return fn.call(target, rawOf(items[0]));
              } finally {
                tracker.onChange();
              }
            }
          : mutate;
    } else {
      const marks = changes(kind, key);
      // The built-in methods of Map, Set and Date change no property's attributes; a class's
      // own methods may (`Object.freeze(this)`), and they run on the raw object.
      const unseen = kind === "other";
      const keyed = (kind === "map" || kind === "set") && KEYED.has(key);
      wrapped = function (this: unknown, ...args: unknown[]) {
        for (let index = 0; index < args.length; index++) args[index] = rawOf(args[index]);
        if (keyed && args.length > 0 && this === handler.proxy)
          args[0] = entryKey(target as Map<unknown, unknown>, args[0], tracker);
        if (unseen) {
          tracker.unseen();
          epoch++;
        }
        let result: unknown;
        try {
          result = Reflect.apply(fn, rawOf(this), args);
        } finally {
          // A method that throws may have changed the state before it did.
          if (unseen) epoch++;
          if (marks) tracker.onChange();
        }
        return handler.#settle(result);
      };
    }
    this.#methods.set(fn, wrapped);
    return wrapped;
  }

  /** Forgets the remembered child of `key`, so a replaced subtree is not kept alive by it. */
  #forget(key: PropertyKey): void {
    if (key !== this.#key) return;
    this.#key = undefined;
    this.#raw = undefined;
    this.#child = undefined;
  }

  // A refused operation (frozen, read-only) returns false, as on a plain object: `Reflect.set`
  // gets false, strict-mode code a TypeError (the Proxy's words, not the plain ones).
  set(t: object, key: PropertyKey, value: unknown, receiver: unknown): boolean {
    if (receiver !== this.proxy) {
      // An object inheriting from this one (`Object.create(state.defaults).theme = …`), or
      // `Reflect.set`'s receiver: the property lands there, or a setter runs with it as `this`.
      if (!Reflect.set(t, key, value, receiver)) return false;
      this.tracker.onChange();
      return true;
    }
    this.#forget(key);
    if (!Reflect.set(t, key, rawOf(value), t)) return false;
    this.tracker.onChange();
    return true;
  }

  deleteProperty(t: object, key: PropertyKey): boolean {
    if (!Reflect.deleteProperty(t, key)) return false;
    this.#forget(key);
    this.tracker.onChange();
    return true;
  }

  defineProperty(t: object, key: PropertyKey, descriptor: PropertyDescriptor): boolean {
    epoch++;
    if (!Reflect.defineProperty(t, key, descriptor)) return false;
    if (this.kind === "other" && descriptor.get) {
      this.#getters = new Set(this.#getters).add(key);
      this.#notGetter = undefined;
    }
    this.tracker.onChange();
    return true;
  }

  setPrototypeOf(t: object, proto: object | null): boolean {
    // The engine's check for a cycle stops at a Proxy: look through ours, to refuse what a
    // plain object would (the prototype itself is set as given, so it reads back the same).
    const seen = new Set<object>();
    for (let p = rawOf(proto); p !== null && !seen.has(p); p = rawOf(Reflect.getPrototypeOf(p))) {
      if (p === t) return false;
      // Another library's Proxy: the engine stops there too, without calling its traps.
      if (types.isProxy(p)) break;
      seen.add(p);
    }
    const done = Reflect.setPrototypeOf(t, proto);
    if (done) {
      if (this.kind === "other") {
        this.#getters = gettersOf(proto);
        this.#notGetter = undefined;
      }
      this.tracker.onChange();
    }
    return done;
  }
}

/**
 * `key` (raw) in the form `collection` holds it: raw, or as the Proxy that a Map or Set built
 * from the state's values (`new Set(state.items)`) holds, so that `has`, `get`, `delete`, `set`
 * and `add` see one entry per object, as they would without Proxies.
 */
function entryKey(
  collection: Map<unknown, unknown> | Set<unknown>,
  key: unknown,
  tracker: Tracker,
) {
  if (typeof key !== "object" || key === null || collection.has(key)) return key;
  const proxy = tracker.existing(key);
  return proxy !== undefined && collection.has(proxy) ? proxy : key;
}

/**
 * `includes`, `indexOf` or `lastIndexOf` of a tracked array: on the raw array, for the object
 * either as the code put it in or as the Proxy a copy made through the state holds, keeping the
 * match a plain array would give (the first, the last, any).
 */
function search(key: PropertyKey, fn: AnyFunction, handler: Handler): AnyFunction {
  const { target, tracker } = handler;
  return function (this: unknown, ...args: unknown[]) {
    if (this !== handler.proxy && rawOf(this) !== target) return Reflect.apply(fn, this, args);
    const raw = rawOf(args[0]);
    args[0] = raw;
    const found = Reflect.apply(fn, target, args);
    const proxy = typeof raw === "object" && raw !== null ? tracker.existing(raw) : undefined;
    if (proxy === undefined) return found;
    args[0] = proxy;
    const other = Reflect.apply(fn, target, args);
    if (key === "includes") return found || other;
    if (found === -1 || other === -1) return found === -1 ? other : found;
    return key === "indexOf"
      ? Math.min(found as number, other as number)
      : Math.max(found as number, other as number);
  };
}

/**
 * The class of the iterators that a Map's or a Set's `entries`, `keys`, `values` and
 * `[Symbol.iterator]` give through the Proxy: they inherit from the built-in ones (`[object Map
 * Iterator]`, iterator helpers), and hand out the Proxies of what they reach.
 */
function trackingIterator(builtIn: object) {
  const prototype = Reflect.getPrototypeOf(builtIn) as Iterator<unknown>;
  const builtInNext = prototype.next;
  class TrackingIterator {
    readonly #source: Iterator<unknown>;
    readonly #tracker: Tracker;
    readonly #pairs: boolean;

    constructor(source: Iterator<unknown>, tracker: Tracker, pairs: boolean) {
      this.#source = source;
      this.#tracker = tracker;
      this.#pairs = pairs;
    }

    static #owns(value: unknown): boolean {
      return typeof value === "object" && value !== null && #source in value;
    }

    next(): IteratorResult<unknown> {
      // Called on anything else: the built-in `next` throws the plain TypeError.
      if (!TrackingIterator.#owns(this)) return Reflect.apply(builtInNext, this, []);
      const result = this.#source.next();
      if (result.done) return result;
      const tracker = this.#tracker;
      if (!this.#pairs) result.value = tracker.wrap(result.value);
      else {
        const pair = result.value as unknown[]; // a new array from each `next`
        pair[0] = tracker.wrap(pair[0]);
        pair[1] = tracker.wrap(pair[1]);
      }
      return result;
    }
  }
  Reflect.setPrototypeOf(TrackingIterator.prototype, prototype);
  Reflect.deleteProperty(TrackingIterator.prototype, "constructor");
  return TrackingIterator;
}

const MapIterator = trackingIterator(new Map().entries());
const SetIterator = trackingIterator(new Set().values());
