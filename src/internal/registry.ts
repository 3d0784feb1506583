import type { SuperJSON } from "superjson";
import type { PersistOptions } from "../types.js";

// biome-ignore lint/suspicious/noExplicitAny: a class decorator accepts any constructor
export type Class = abstract new (...args: any[]) => object;

/** A decorated class, as the middleware and the live instances need it. */
export interface ClassInfo {
  readonly key: string;
  /** The class as written. */
  readonly target: Class;
  /** What the decorator returned: the class users construct. */
  readonly decorated: Class;
  readonly exclude: ReadonlySet<string>;
  /** Prototypes of the `classes` option: nested instances of these are stored as themselves. */
  readonly classes: ReadonlySet<object>;
  readonly version: number;
  readonly migrate: PersistOptions["migrate"];
  /** Option `scope`: `"user"` when the signed-in user's state, not the browser's. */
  readonly scope: "browser" | "user";
  readonly merge: PersistOptions["merge"];
  /** superjson with this class's `classes` registered; one per class, so registrations never collide. */
  readonly json: SuperJSON;
}

/** Every decorated class, by key. */
export const registry = new Map<string, ClassInfo>();

/** Counts decorations, takeovers of a key included: what was looked up before may be stale. */
export let registrations = 0;

/** `info` is the class of its key from now on. */
export function register(info: ClassInfo): void {
  registry.set(info.key, info);
  registrations++;
}

/** Decorated class → its info. */
export const decoratedClasses = new WeakMap<object, ClassInfo>();
