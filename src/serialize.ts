import type { SuperJSON } from "superjson";
import { PersistError } from "./errors.js";
import { rawOf } from "./tracking.js";

/**
 * The only module that knows the stored format: a JSON envelope that names the key and the
 * shape's version around superjson's `{ json, meta }`, so `Date`, `Map`, `Set`, `BigInt`,
 * `undefined` and registered classes come back as themselves.
 */
const FORMAT = 1;

export interface Envelope {
  version: number;
  /** When this browser's state was first stored (ms since the epoch): the absolute lifetime counts from here. */
  created: number;
  /** When it was last written (ms since the epoch). */
  saved: number;
  /**
   * Fields the constructor makes that the instance no longer had (deleted): a restore deletes
   * them again. Written only when there are some.
   */
  absent?: readonly string[] | undefined;
  /** The superjson payload, as JSON text. */
  state: string;
}

/**
 * The persisted fields of an instance, as superjson JSON: own enumerable string keys, minus
 * `exclude` and functions (methods and arrow-function fields come from the class).
 * Throws `UNSERIALIZABLE`, naming the field, for a value superjson would silently change
 * (`classes`: the prototypes of the classes registered with `json`).
 */
export function encodeState(
  json: SuperJSON,
  instance: object,
  exclude: ReadonlySet<string>,
  classes: ReadonlySet<object>,
): string {
  return JSON.stringify(statePayload(json, instance, exclude, classes));
}

/**
 * What `json.serialize(fields)` returns, but only the fields that need superjson's
 * annotations go through it: its walk costs about 30 times `JSON.stringify` (3.4 ms against
 * 0.1 ms for 10,000 numbers here), and the walk below, which every state needs anyway to
 * refuse what cannot be stored, also finds the fields that are plain JSON.
 */
function statePayload(
  json: SuperJSON,
  instance: object,
  exclude: ReadonlySet<string>,
  classes: ReadonlySet<object>,
): { json: unknown; meta?: unknown } {
  const walk = new Walk(classes);
  const fields: Record<string, unknown> = {};
  let annotated: Record<string, unknown> | undefined;
  for (const [name, value] of Object.entries(instance)) {
    if (typeof value === "function" || exclude.has(name)) continue;
    if (isUnsafeKey(name)) throw unsafeKey(undefined, name);
    const plain = walk.value(value, undefined, name, FIELD);
    fields[name] = value;
    if (!plain) {
      annotated ??= {};
      annotated[name] = value;
    }
  }
  if (annotated === undefined) return { json: fields };
  // superjson skips holes (a trailing one shortens the array, one inside comes back `null`):
  // they are `undefined` while it reads the arrays, and holes again after.
  const filled = fillHoles(walk.holey);
  try {
    // An object reached twice gets a referential-equality annotation naming both paths.
    if (walk.shared) return json.serialize(fields);
    const { json: values, meta } = json.serialize(annotated);
    for (const name of Object.keys(annotated)) {
      fields[name] = (values as Record<string, unknown>)[name];
    }
    return meta === undefined ? { json: fields } : { json: fields, meta };
  } finally {
    for (const [array, index] of filled) delete array[index];
  }
}

function fillHoles(arrays: readonly unknown[][]): [unknown[], number][] {
  const filled: [unknown[], number][] = [];
  for (const holey of arrays) {
    // Not through a tracking Proxy: this is no change of the state.
    const array = rawOf(holey);
    for (let index = 0; index < array.length; index++) {
      if (!(index in array)) {
        array[index] = undefined;
        filled.push([array, index]);
      }
    }
  }
  return filled;
}

/**
 * The stored text of an instance (what `encodeEnvelope` makes of `encodeState`), and the
 * state's part of it, built by one `JSON.stringify`: joining a large state into the envelope
 * would make a string that the next reader must first copy flat (0.5 ms for 1 MB).
 */
export function encodeRecord(
  json: SuperJSON,
  instance: object,
  info: { key: string; exclude: ReadonlySet<string>; classes: ReadonlySet<object> },
  header: Omit<Envelope, "state">,
): { data: string; state: string } {
  const data = JSON.stringify({
    ...head(info.key, header),
    state: statePayload(json, instance, info.exclude, info.classes),
  });
  // The first `,"state":` is the field: the strings before it (key, absent) are JSON strings,
  // where `"` is escaped.
  return { data, state: data.slice(data.indexOf(STATE_FIELD) + STATE_FIELD.length, -1) };
}

const STATE_FIELD = ',"state":';

/**
 * Keys superjson refuses to serialize (`constructor`, `prototype`) or that a load would refuse as a
 * prototype-pollution payload (`__proto__`). Compared, not looked up in a Set: the walk asks for
 * every key (35,000 keys of a 1 MB state: 0.4 ms against 0.8 ms).
 */
function isUnsafeKey(name: string): boolean {
  return name === "__proto__" || name === "constructor" || name === "prototype";
}

function unsafeKey(path: string | undefined, name: string): PersistError {
  if (path === undefined) {
    return new PersistError("UNSERIALIZABLE", `field \`${name}\` has a name that cannot be stored`);
  }
  return unserializable(
    path,
    name === "__proto__" ? "an own `__proto__` key" : `a \`${name}\` key, which cannot be stored`,
  );
}

/**
 * What superjson stores as itself, besides plain objects, arrays, `Map` and `Set`: instances of
 * exactly these (superjson's rules test `instanceof`, so a subclass's instance would be stored as
 * one of these, and restored without its class, or as a registered class, without its contents).
 */
const BUILT_INS = [
  Date,
  RegExp,
  URL,
  Error,
  Int8Array,
  Uint8Array,
  Uint8ClampedArray,
  Int16Array,
  Uint16Array,
  Int32Array,
  Uint32Array,
  Float32Array,
  Float64Array,
  BigInt64Array,
  BigUint64Array,
];

function builtInOf(value: object): (typeof BUILT_INS)[number] | undefined {
  for (const type of BUILT_INS) if (value instanceof type) return type;
  return undefined;
}

function classNameOf(value: object): string {
  return (value as { constructor?: { name?: string } }).constructor?.name || "unknown";
}

// How a step of a path is written in an error message.
const FIELD = 0;
const INDEX = 1;
const MAP_KEY = 2;
const MAP_VALUE = 3;
const SET_ITEM = 4;

/** Where a value sits, built only for objects (a primitive's path is built when it is refused). */
interface Path {
  parent: Path | undefined;
  key: unknown;
  step: number;
}

function pathText(parent: Path | undefined, key: unknown, step: number): string {
  const head = parent ? pathText(parent.parent, parent.key, parent.step) : "";
  switch (step) {
    case INDEX:
      return `${head}[${key as number}]`;
    case MAP_KEY:
      return `${head} key`;
    case MAP_VALUE:
      return `${head}.get(${typeof key === "object" ? "…" : String(key)})`;
    case SET_ITEM:
      return `${head} item`;
    default:
      return head ? `${head}.${String(key)}` : String(key);
  }
}

/**
 * One walk over a state: refuses what cannot be stored, and tells whether superjson would
 * store a value as plain JSON (no annotation, no object reached twice).
 */
class Walk {
  readonly #classes: ReadonlySet<object>;
  readonly #seen = new Set<object>();
  /** An object was reached twice (shared, or a cycle). */
  shared = false;
  /** The arrays with holes. */
  readonly holey: unknown[][] = [];

  constructor(classes: ReadonlySet<object>) {
    this.#classes = classes;
  }

  /** Whether `value`, at `key` below `parent`, is plain JSON to superjson. */
  value(value: unknown, parent: Path | undefined, key: unknown, step: number): boolean {
    switch (typeof value) {
      case "string":
      case "boolean":
        return true;
      case "number":
        return isPlainNumber(value);
      case "undefined":
      case "bigint":
        return false;
      case "object":
        return value === null || this.#object(value, { parent, key, step });
      default:
        throw unserializable(
          pathText(parent, key, step),
          `a ${typeof value}, which cannot be stored`,
        );
    }
  }

  #object(value: object, path: Path): boolean {
    const seen = this.#seen.size;
    if (this.#seen.add(value).size === seen) {
      this.shared = true;
      return false;
    }
    const proto: unknown = Object.getPrototypeOf(value);
    // JSON.stringify writes what a `toJSON` (own, hidden or inherited) returns; superjson walks
    // the fields.
    const json = "toJSON" in value;
    if (Array.isArray(value)) {
      // An array of another realm is no subclass: superjson stores it as an array of this one.
      // biome-ignore lint/suspicious/useIsArray: a subclass's chain holds this realm's Array.prototype
      if (proto !== Array.prototype && value instanceof Array) {
        throw subclass(path, value, "Array");
      }
      return this.#array(value, path, !json);
    }
    if (value instanceof Map || value instanceof Set) {
      if (proto !== Map.prototype && proto !== Set.prototype) {
        throw unserializable(
          pathText(path.parent, path.key, path.step),
          "a subclass of Map or Set, which would come back without its entries",
        );
      }
      if (value instanceof Map) {
        for (const [key, item] of value) {
          this.value(key, path, key, MAP_KEY);
          this.value(item, path, key, MAP_VALUE);
        }
      } else {
        for (const item of value) this.value(item, path, item, SET_ITEM);
      }
      return false;
    }
    if (proto === Object.prototype || proto === null) return this.#fields(value, path, !json);
    const builtIn = builtInOf(value);
    if (builtIn !== undefined) {
      // The global of that name now, too: fake timers replace `Date` with a subclass of it.
      const current = (globalThis as Record<string, unknown>)[builtIn.name] as {
        prototype: unknown;
      };
      if (proto !== builtIn.prototype && proto !== current.prototype) {
        throw subclass(path, value, builtIn.name);
      }
      if (builtIn === Date && Number.isNaN((value as Date).getTime())) {
        throw unserializable(
          pathText(path.parent, path.key, path.step),
          "an invalid Date, which would come back as null",
        );
      }
      // superjson walks an Error's fields (cause): an object there may be reached twice unseen.
      if (builtIn === Error) this.shared = true;
      return false;
    }
    if (this.#classes.has(proto as object)) return this.#fields(value, path, false);
    throw unserializable(
      pathText(path.parent, path.key, path.step),
      ArrayBuffer.isView(value)
        ? `an instance of \`${classNameOf(value)}\`, which cannot be stored`
        : `an instance of \`${classNameOf(value)}\`, which would come back as a plain object: add the class to @persist's \`classes\` option`,
    );
  }

  /** Walks the elements of an array; refuses named properties, notes holes. */
  #array(value: unknown[], path: Path, plain: boolean): boolean {
    let elements = value.length;
    for (let index = 0; index < value.length; index++) {
      // The cases of `value()`, inline: an array's elements are often many numbers or strings.
      const item: unknown = value[index];
      switch (typeof item) {
        case "string":
        case "boolean":
          break;
        case "number":
          if (!isPlainNumber(item)) plain = false;
          break;
        case "object":
          if (item !== null) {
            const raw = unwrap(value, index, item) as object;
            if (!this.#object(raw, { parent: path, key: index, step: INDEX })) plain = false;
          }
          break;
        case "undefined":
          if (!(index in value)) elements--;
          plain = false;
          break;
        default:
          if (!this.value(item, path, index, INDEX)) plain = false;
      }
    }
    if (elements < value.length) {
      if (!Object.isExtensible(value)) {
        throw unserializable(
          pathText(path.parent, path.key, path.step),
          "a frozen or sealed array with holes, which cannot be stored",
        );
      }
      this.holey.push(value);
      plain = false;
    }
    // superjson and JSON.stringify store the elements only. (Object.values counts them without
    // making a string of each index: 0.02 ms against 0.1 ms for 10,000 numbers.)
    if (Object.values(value).length > elements) {
      const name = Object.keys(value).find((key) => !isIndex(key, value.length));
      if (name !== undefined) {
        throw unserializable(
          pathText(path.parent, path.key, path.step),
          `an array with a named property \`${name}\`, which would not be stored`,
        );
      }
    }
    return plain;
  }

  /** Walks the fields of a plain object or of an instance of a registered class. */
  #fields(value: object, path: Path, plain: boolean): boolean {
    const record = value as Record<string, unknown>;
    for (const name of Object.keys(record)) {
      if (isUnsafeKey(name)) throw unsafeKey(pathText(path.parent, path.key, path.step), name);
      const item = record[name];
      // A primitive is no Proxy: nothing to unwrap.
      const raw = typeof item === "object" ? unwrap(record, name, item) : item;
      if (!this.value(raw, path, name, FIELD)) plain = false;
    }
    return plain;
  }
}

/** NaN, ±Infinity and -0 get a "number" annotation. */
function isPlainNumber(value: number): boolean {
  return Number.isFinite(value) && (value !== 0 || 1 / value > 0);
}

function isIndex(key: string, length: number): boolean {
  const index = Number(key);
  return String(index) === key && Number.isInteger(index) && index >= 0 && index < length;
}

function subclass(path: Path, value: object, base: string): PersistError {
  return unserializable(
    pathText(path.parent, path.key, path.step),
    `an instance of \`${classNameOf(value)}\`, a subclass of \`${base}\`, which would not come back as itself`,
  );
}

/**
 * The raw object for a tracking Proxy stored inside the state (assigned from another part of
 * it), written back in place: superjson must see one object, not a Proxy and its target.
 */
function unwrap(container: object, key: PropertyKey, value: unknown): unknown {
  const raw = rawOf(value);
  if (raw !== value && !Reflect.set(container, key, raw)) return value;
  return raw;
}

function unserializable(path: string, what: string): PersistError {
  return new PersistError("UNSERIALIZABLE", `field \`${path}\` holds ${what}`);
}

export function encodeEnvelope(key: string, envelope: Envelope): string {
  const text = JSON.stringify(head(key, envelope));
  return `${text.slice(0, -1)},"state":${envelope.state}}`;
}

/** The envelope's fields before the state, in their stored order. */
function head(key: string, header: Omit<Envelope, "state">): object {
  const { version, created, saved, absent } = header;
  return absent?.length
    ? { "hono-persist": FORMAT, key, version, created, saved, absent }
    : { "hono-persist": FORMAT, key, version, created, saved };
}

/** Reads an envelope; throws `INVALID_STATE` with the reason when it is not one of `key`'s. */
export function decodeEnvelope(key: string, data: string): Envelope {
  // JSON.parse makes a `__proto__` key (also one spelled with escapes) an own key; a later copy
  // (Object.assign, superjson's restore of a class) would make it the prototype. Keys are checked
  // only in text that can spell one: a reviver makes the parse 4 times slower (25 ms for 1 MB).
  let proto = false;
  const reviver =
    data.includes("__proto__") || data.includes("\\u")
      ? (name: string, value: unknown) => {
          if (name === "__proto__") proto = true;
          return value;
        }
      : undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(data, reviver);
  } catch {
    throw invalid("is not valid JSON (torn or foreign file)");
  }
  if (proto) throw invalid("has a `__proto__` key (a prototype-pollution payload)");
  if (!isRecord(parsed) || parsed["hono-persist"] !== FORMAT) {
    throw invalid("is not a hono-persist state");
  }
  if (parsed.key !== key)
    throw invalid(`belongs to key ${JSON.stringify(parsed.key)}, not "${key}"`);
  const { version, created, saved, absent, state } = parsed;
  if (
    !Number.isSafeInteger(version) ||
    typeof created !== "number" ||
    typeof saved !== "number" ||
    !(absent === undefined || isNames(absent)) ||
    !isRecord(state)
  ) {
    throw invalid("has a malformed envelope");
  }
  const envelope = { version: version as number, created, saved, state: JSON.stringify(state) };
  return absent === undefined ? envelope : { ...envelope, absent };
}

/** The stored fields of an envelope, deserialized. */
export function decodeState(json: SuperJSON, state: string): Record<string, unknown> {
  let fields: unknown;
  try {
    // A fresh parse: superjson may annotate it in place instead of copying it first.
    const payload = JSON.parse(state) as SuperJSONResult;
    const { referentialEqualities: equalities, ...meta } = payload.meta ?? {};
    if (equalities === undefined) {
      fields = json.deserialize(payload, { inPlace: true });
    } else {
      const links = linksOf(payload.json, equalities, !((meta.v ?? 0) >= 1));
      fields = json.deserialize({ json: payload.json, meta }, { inPlace: true });
      const restored = new Restored(fields);
      for (const [first, others] of links) {
        const object = restored.valueAt(first);
        for (const path of others) restored.replace(path, object);
      }
      restored.done();
    }
  } catch (cause) {
    throw invalid(`cannot be deserialized: ${String(cause)}`);
  }
  if (!isRecord(fields)) throw invalid("does not hold an object");
  return fields;
}

type SuperJSONResult = ReturnType<SuperJSON["serialize"]>;
type Keys = readonly string[];

/*
 * superjson's referential equalities list the paths where one object was found; superjson
 * restores them by copying the object at the shortest path to the others. That loses links:
 * the paths below the object (a cycle, a parent link) were recorded where it was first found,
 * which is not always the shortest path (`selected` pointing into a `tree`), and it cannot
 * write into a restored class instance or Error (a box holding itself comes back holding
 * null). Here the object is taken where it was first found, and written anywhere.
 */

/** Each object's paths: [where superjson's walk found it first, the others]. */
function linksOf(json: unknown, equalities: unknown, legacy: boolean): [Keys, Keys[]][] {
  const groups: Keys[][] = [];
  let named = equalities;
  if (Array.isArray(equalities)) {
    // [paths to the root, { path: other paths }]
    groups.push([[], ...names(equalities[0]).map((path) => parsePath(path, legacy))]);
    named = equalities[1] ?? {};
  }
  if (!isRecord(named)) throw new Error("malformed referential equalities");
  for (const [path, others] of Object.entries(named)) {
    groups.push([path, ...names(others)].map((text) => parsePath(text, legacy)));
  }
  const order = new Map<object, Map<string, number>>();
  const links = groups.map((paths): [Keys, Keys[]] => {
    const first = paths.reduce((a, b) => (foundBefore(json, b, a, order) ? b : a));
    return [first, paths.filter((path) => path !== first)];
  });
  // Where the walk came back to an object it was still in (a cycle), superjson wrote `null`:
  // two of them in one Set, or as a Map's keys, would become one. Each gets an object of its own.
  for (const [, others] of links) {
    for (const path of others) {
      const parent = jsonAt(json, path.slice(0, -1));
      const key = path.at(-1) as string;
      if (
        typeof parent === "object" &&
        parent !== null &&
        (parent as Record<string, unknown>)[key] === null
      ) {
        (parent as Record<string, unknown>)[key] = {};
      }
    }
  }
  return links;
}

/** The value at `path` in superjson's output, where a Map is an array of [key, value] rows. */
function jsonAt(json: unknown, path: Keys): unknown {
  let node = json;
  for (const key of path) {
    if (typeof node !== "object" || node === null) throw new Error("path outside the state");
    node = (node as Record<string, unknown>)[key];
  }
  return node;
}

function names(value: unknown): string[] {
  if (!isNames(value)) throw new Error("malformed referential equalities");
  return value;
}

/** superjson's path syntax: keys joined by `.`, with `\.` and (from format 1) `\\` escaped. */
function parsePath(text: string, legacy: boolean): Keys {
  const path: string[] = [];
  let key = "";
  for (let index = 0; index < text.length; index++) {
    const char = text[index];
    const next = text[index + 1];
    if (char === "\\" && (next === "." || (!legacy && next === "\\"))) {
      key += next;
      index++;
    } else if (char === "\\" && !legacy) {
      throw new Error(`invalid path ${JSON.stringify(text)}`);
    } else if (char === ".") {
      path.push(key);
      key = "";
    } else {
      key += char;
    }
  }
  path.push(key);
  for (const name of path) {
    if (isUnsafeKey(name)) throw new Error(`${name} is not allowed as a property`);
  }
  return path;
}

/**
 * Whether superjson's walk reached `a` before `b`, read in its output, where a Map is an array
 * of [key, value] rows and a Set an array: it walks keys in `Object.keys` order, depth first.
 */
function foundBefore(
  json: unknown,
  a: Keys,
  b: Keys,
  order: Map<object, Map<string, number>>,
): boolean {
  let node = json;
  for (let index = 0; ; index++) {
    if (index === a.length) return true;
    if (index === b.length) return false;
    if (typeof node !== "object" || node === null) throw new Error("path outside the state");
    const [x, y] = [a[index] as string, b[index] as string];
    if (x !== y) {
      if (Array.isArray(node)) return Number(x) < Number(y);
      let keys = order.get(node);
      if (keys === undefined) {
        keys = new Map(Object.keys(node).map((key, position) => [key, position]));
        order.set(node, keys);
      }
      return (keys.get(x) ?? -1) < (keys.get(y) ?? -1);
    }
    node = (node as Record<string, unknown>)[x];
  }
}

type Collection = Map<unknown, unknown> | Set<unknown>;

/**
 * The restored state, read and written at superjson's paths: a Map's entry is its row, then 0
 * (the key) or 1 (the value); a Set's item is its row. A Map or Set is read into rows once and
 * refilled once, in `done()`, whatever the number of its entries replaced.
 */
class Restored {
  readonly #root: unknown;
  /** The entries of the Maps and Sets read, by row ([item, item] for a Set). */
  readonly #rows = new Map<Collection, [unknown, unknown][]>();
  readonly #changed = new Set<Collection>();

  constructor(root: unknown) {
    this.#root = root;
  }

  valueAt(path: Keys): unknown {
    const [container, keys] = this.#containerOf(path);
    return keys.length === 0 ? container : this.#child(container, keys);
  }

  replace(path: Keys, value: unknown): void {
    const [container, [key, selector]] = this.#containerOf(path);
    if (key === undefined) throw new Error("path outside the state");
    if (container instanceof Map || container instanceof Set) {
      const entry = this.#entry(container, key);
      if (container instanceof Map) entry[selector === "0" ? 0 : 1] = value;
      else entry.fill(value);
      this.#changed.add(container);
    } else if (typeof container === "object" && container !== null) {
      (container as Record<string, unknown>)[key] = value;
    } else {
      throw new Error("path outside the state");
    }
  }

  /** Refills the Maps and Sets changed, in their order. */
  done(): void {
    for (const collection of this.#changed) {
      collection.clear();
      for (const [key, value] of this.#rows.get(collection) ?? []) {
        if (collection instanceof Map) collection.set(key, value);
        else collection.add(key);
      }
    }
  }

  /** The object holding the value at `path`, and the keys that name the value in it. */
  #containerOf(path: Keys): [unknown, Keys] {
    let node = this.#root;
    let index = 0;
    for (;;) {
      const width = node instanceof Map ? 2 : 1;
      if (index + width >= path.length) return [node, path.slice(index)];
      node = this.#child(node, path.slice(index, index + width));
      index += width;
    }
  }

  #child(node: unknown, [key, selector]: Keys): unknown {
    if (node instanceof Map || node instanceof Set) {
      return this.#entry(node, key as string)[node instanceof Map && selector !== "0" ? 1 : 0];
    }
    if (typeof node !== "object" || node === null) throw new Error("path outside the state");
    return (node as Record<string, unknown>)[key as string];
  }

  #entry(collection: Collection, row: string): [unknown, unknown] {
    let rows = this.#rows.get(collection);
    if (rows === undefined) {
      rows = [...collection.entries()];
      this.#rows.set(collection, rows);
    }
    const entry = rows[Number(row)];
    if (entry === undefined) throw new Error("path outside the state");
    return entry;
  }
}

function invalid(reason: string): PersistError {
  return new PersistError("INVALID_STATE", `stored state ${reason}`);
}

function isNames(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((name) => typeof name === "string");
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
