import type { SuperJSON } from "superjson";
import { PersistError } from "./errors.js";
import { isNames, isRecord } from "./internal/guards.js";
import { linksOf, relink } from "./internal/references.js";
import { FIELD, isUnsafeKey, unsafeKey, Walk } from "./internal/storable.js";
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
 * 0.1 ms for 10,000 numbers here), and the walk of storable.ts, which every state needs anyway
 * to refuse what cannot be stored, also finds the fields that are plain JSON.
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

/**
 * Reads an envelope of `key`; `undefined` when it is another key's (not corrupt: only not this
 * key's). Throws `INVALID_STATE` with the reason when it is no valid envelope.
 */
export function decodeEnvelope(key: string, data: string): Envelope | undefined {
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
  if (parsed.key !== key) return undefined;
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
      relink(fields, links);
    }
  } catch (cause) {
    throw invalid(`cannot be deserialized: ${String(cause)}`);
  }
  if (!isRecord(fields)) throw invalid("does not hold an object");
  return fields;
}

type SuperJSONResult = ReturnType<SuperJSON["serialize"]>;

function invalid(reason: string): PersistError {
  return new PersistError("INVALID_STATE", `stored state ${reason}`);
}
