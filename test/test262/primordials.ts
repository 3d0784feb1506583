/**
 * Built-in functions captured before any test runs. The harness code that runs while a test's
 * changes are in place (routing a value, putting the built-ins back, rebinding restored values)
 * calls only these: a test may replace `Map.prototype.set` or `Set.prototype.add` (and count
 * the calls), delete `Array.prototype[Symbol.iterator]`, or give `Object.prototype` a `get`.
 * Maps and Sets are reached through their internal slots, which no prototype change affects;
 * arrays are walked by index, never iterated; descriptors are made without a prototype.
 */
export const {
  apply,
  defineProperty,
  deleteProperty,
  getOwnPropertyDescriptor,
  getPrototypeOf,
  isExtensible,
  ownKeys,
  setPrototypeOf,
} = Reflect;
export const { create, hasOwn, is } = Object;
export const { isArray } = Array;
export const ErrorClass = Error;
export const MapClass = Map;
export const SetClass = Set;
export const StringOf = String;

const mapGet = Map.prototype.get;
const mapSet = Map.prototype.set;
const mapHas = Map.prototype.has;
const mapForEach = Map.prototype.forEach;
const setAdd = Set.prototype.add;
const setHas = Set.prototype.has;
const setForEach = Set.prototype.forEach;

export function mapGetOf<K, V>(map: Map<K, V>, key: K): V | undefined {
  return apply(mapGet, map, [key]) as V | undefined;
}
export function mapSetOf<K, V>(map: Map<K, V>, key: K, value: V): void {
  apply(mapSet, map, [key, value]);
}
export function mapHasOf<K>(map: ReadonlyMap<K, unknown>, key: unknown): boolean {
  return apply(mapHas, map, [key]) as boolean;
}
export function mapEach<K, V>(map: Map<K, V>, each: (value: V, key: K) => void): void {
  apply(mapForEach, map, [each]);
}
export function setAddOf<T>(set: Set<T>, value: T): void {
  apply(setAdd, set, [value]);
}
export function setHasOf<T>(set: ReadonlySet<T>, value: unknown): boolean {
  return apply(setHas, set, [value]) as boolean;
}
export function setEach<T>(set: Set<T>, each: (value: T) => void): void {
  apply(setForEach, set, [each]);
}

/** `descriptor`'s own fields, in an object without a prototype (see above). */
export function bare(descriptor: PropertyDescriptor): PropertyDescriptor {
  const copy = create(null) as Record<string, unknown>;
  if (hasOwn(descriptor, "value")) {
    copy.value = descriptor.value;
    copy.writable = descriptor.writable;
  } else {
    copy.get = descriptor.get;
    copy.set = descriptor.set;
  }
  copy.enumerable = descriptor.enumerable;
  copy.configurable = descriptor.configurable;
  return copy as PropertyDescriptor;
}
