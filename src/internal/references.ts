import { isNames, isRecord } from "./guards.js";
import { isUnsafeKey } from "./storable.js";

/*
 * Shared objects, linked again after a load. superjson's referential equalities list the paths
 * where one object was found; superjson restores them by copying the object at the shortest
 * path to the others. That loses links: the paths below the object (a cycle, a parent link) were
 * recorded where it was first found, which is not always the shortest path (`selected` pointing
 * into a `tree`), and it cannot write into a restored class instance or Error (a box holding
 * itself comes back holding null). Here the object is taken where it was first found, and
 * written anywhere.
 */

type Keys = readonly string[];

/** Each shared object's paths, read from superjson's output before it is deserialized in place. */
export type Links = [Keys, Keys[]][];

/** Writes each shared object, taken where it was first found, at its other paths in `fields`. */
export function relink(fields: unknown, links: Links): void {
  const restored = new Restored(fields);
  for (const [first, others] of links) {
    const object = restored.valueAt(first);
    for (const path of others) restored.replace(path, object);
  }
  restored.done();
}

/** Each object's paths: [where superjson's walk found it first, the others]. */
export function linksOf(json: unknown, equalities: unknown, legacy: boolean): Links {
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
