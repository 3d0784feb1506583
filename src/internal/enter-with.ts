import { AsyncLocalStorage } from "node:async_hooks";

/**
 * Whether `AsyncLocalStorage.enterWith()` works here: workerd's throws "not implemented". Without
 * it the middleware's caller (Hono's `onError`, after a failed load or save) runs outside the
 * request's state, which only `scopes.run()` carries.
 */
export const canEnterWith = ((probe) => {
  try {
    probe.enterWith(undefined);
    // Node runs its hooks for every enabled instance.
    probe.disable();
    return true;
  } catch {
    return false;
  }
})(new AsyncLocalStorage<undefined>());
