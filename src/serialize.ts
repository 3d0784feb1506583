import type { SuperJSON } from "superjson";
import { PersistError } from "./errors.js";
import { toRaw } from "./tracking.js";

/**
 * The only module that knows the stored format: a JSON envelope that names the key and the
 * shape's version around superjson's `{ json, meta }`, so `Date`, `Map`, `Set`, `BigInt`,
 * `undefined` and registered classes come back as themselves.
 */
const FORMAT = 1;

const PROTO_KEY = /"__proto__"\s*:/;

export interface Envelope {
  version: number;
  /** When this browser's state was first stored (ms since the epoch): the absolute lifetime counts from here. */
  created: number;
  /** When it was last written (ms since the epoch). */
  saved: number;
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
  const fields: Record<string, unknown> = {};
  const seen = new Set<object>();
  for (const [name, value] of Object.entries(instance)) {
    if (typeof value === "function" || exclude.has(name)) continue;
    check(value, name, classes, seen);
    fields[name] = value;
  }
  return JSON.stringify(json.serialize(fields));
}

/** What superjson stores as itself, besides plain objects, arrays, `Map` and `Set`. */
function isBuiltIn(value: object): boolean {
  return (
    value instanceof Date ||
    value instanceof RegExp ||
    value instanceof URL ||
    Object.getPrototypeOf(value) === Error.prototype ||
    (ArrayBuffer.isView(value) && !(value instanceof DataView))
  );
}

function check(
  value: unknown,
  path: string,
  classes: ReadonlySet<object>,
  seen: Set<object>,
): void {
  if (typeof value === "function" || typeof value === "symbol") {
    throw unserializable(path, `a ${typeof value}, which cannot be stored`);
  }
  if (typeof value !== "object" || value === null || seen.has(value)) return;
  seen.add(value);
  const proto: unknown = Object.getPrototypeOf(value);
  if (Array.isArray(value)) {
    for (let index = 0; index < value.length; index++) {
      if (!(index in value)) continue;
      check(unwrap(value, index, value[index]), `${path}[${index}]`, classes, seen);
    }
  } else if (value instanceof Map || value instanceof Set) {
    if (proto !== Map.prototype && proto !== Set.prototype) {
      throw unserializable(
        path,
        "a subclass of Map or Set, which would come back without its entries",
      );
    }
    if (value instanceof Map) {
      for (const [key, item] of value) {
        check(key, `${path} key`, classes, seen);
        check(item, `${path}.get(${typeof key === "object" ? "…" : String(key)})`, classes, seen);
      }
    } else {
      for (const item of value) check(item, `${path} item`, classes, seen);
    }
  } else if (proto === Object.prototype || proto === null || classes.has(proto as object)) {
    // Stored, it would be refused as a pollution payload on the next load.
    if (Object.hasOwn(value, "__proto__")) throw unserializable(path, "an own `__proto__` key");
    const record = value as Record<string, unknown>;
    for (const name of Object.keys(record)) {
      check(unwrap(record, name, record[name]), `${path}.${name}`, classes, seen);
    }
  } else if (!isBuiltIn(value)) {
    const name = (value as { constructor?: { name?: string } }).constructor?.name || "unknown";
    throw unserializable(
      path,
      `an instance of \`${name}\`, which would come back as a plain object: add the class to @persist's \`classes\` option`,
    );
  }
}

/**
 * The raw object for a tracking Proxy stored inside the state (assigned from another part of
 * it), written back in place: superjson must see one object, not a Proxy and its target.
 */
function unwrap(container: object, key: PropertyKey, value: unknown): unknown {
  const raw = toRaw(value);
  if (raw !== value && !Reflect.set(container, key, raw)) return value;
  return raw;
}

function unserializable(path: string, what: string): PersistError {
  return new PersistError("UNSERIALIZABLE", `field \`${path}\` holds ${what}`);
}

export function encodeEnvelope(key: string, envelope: Envelope): string {
  const head = JSON.stringify({
    "hono-persist": FORMAT,
    key,
    version: envelope.version,
    created: envelope.created,
    saved: envelope.saved,
  });
  return `${head.slice(0, -1)},"state":${envelope.state}}`;
}

/** Reads an envelope; throws `INVALID_STATE` with the reason when it is not one of `key`'s. */
export function decodeEnvelope(key: string, data: string): Envelope {
  // JSON.parse makes `__proto__` an own key; superjson or a later copy could turn it into a
  // prototype. Only a key is followed by a colon (in a string value the quote is escaped).
  if (PROTO_KEY.test(data)) throw invalid("has a `__proto__` key (a prototype-pollution payload)");
  let parsed: unknown;
  try {
    parsed = JSON.parse(data);
  } catch {
    throw invalid("is not valid JSON (torn or foreign file)");
  }
  if (!isRecord(parsed) || parsed["hono-persist"] !== FORMAT) {
    throw invalid("is not a hono-persist state");
  }
  if (parsed.key !== key)
    throw invalid(`belongs to key ${JSON.stringify(parsed.key)}, not "${key}"`);
  const { version, created, saved, state } = parsed;
  if (
    !Number.isSafeInteger(version) ||
    typeof created !== "number" ||
    typeof saved !== "number" ||
    !isRecord(state)
  ) {
    throw invalid("has a malformed envelope");
  }
  return { version: version as number, created, saved, state: JSON.stringify(state) };
}

/** The stored fields of an envelope, deserialized. */
export function decodeState(json: SuperJSON, state: string): Record<string, unknown> {
  let fields: unknown;
  try {
    fields = json.deserialize(JSON.parse(state));
  } catch (cause) {
    throw invalid(`cannot be deserialized: ${String(cause)}`);
  }
  if (!isRecord(fields)) throw invalid("does not hold an object");
  return fields;
}

function invalid(reason: string): PersistError {
  return new PersistError("INVALID_STATE", `stored state ${reason}`);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
