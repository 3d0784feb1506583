// Gates for forcing interleavings: a test holds a store call (or its own handler) at a gate
// and decides when it goes on, so the order of the engine's awaits is the test's, not timing's.
import type { Store } from "../src/index.js";

/** Resolves `arrived` when the code reaches the gate; that code goes on at `open()`. */
export function gate() {
  let reached!: () => void;
  let open!: () => void;
  const arrived = new Promise<void>((resolve) => (reached = resolve));
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { reached, arrived, open, opened };
}
export type Gate = ReturnType<typeof gate>;
type Method = "get" | "set" | "delete" | "lock";

/**
 * A real store whose next call of a method can be held at a gate (and then made to fail): the
 * test decides the order in which the engine's awaits resume.
 */
export function gatedStore(inner: Store) {
  const held = new Map<Method, { gate: Gate; failure: Error | undefined }>();
  const wait = async (method: Method) => {
    const hold = held.get(method);
    if (!hold) return;
    held.delete(method);
    hold.gate.reached();
    await hold.gate.opened;
    if (hold.failure) throw hold.failure;
  };
  const store: Store & { hold(method: Method, failure?: Error): Gate } = {
    hold(method, failure) {
      const hold = { gate: gate(), failure };
      held.set(method, hold);
      return hold.gate;
    },
    get: async (id, ttl) => {
      await wait("get");
      return inner.get(id, ttl);
    },
    set: async (id, data, ttl) => {
      await wait("set");
      return inner.set(id, data, ttl);
    },
    delete: async (id) => {
      await wait("delete");
      return inner.delete(id);
    },
  };
  if (inner.lock) {
    const lock = inner.lock.bind(inner);
    store.lock = async (id, timeout) => {
      await wait("lock");
      return lock(id, timeout);
    };
  }
  return store;
}
