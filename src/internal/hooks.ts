import { misuse } from "../errors.js";
import type { PersistEvent, PersistHooks } from "../types.js";
import type { Live } from "./live.js";

/*
 * Option `hooks`: the one place events are made and hooks called. Call sites check
 * `live.hooks` first, so with no hook set no event is made and no time taken.
 */

const EVENTS: ReadonlySet<string> = new Set([
  "created",
  "loaded",
  "saved",
  "cleared",
  "regenerated",
  "expired",
  "quarantined",
  "failed",
] satisfies (keyof PersistHooks)[]);

/** Option `hooks`, checked and copied; `undefined` when it sets no hook (nothing to call). */
export function hooksOf(hooks: PersistHooks | undefined): PersistHooks | undefined {
  if (hooks === undefined) return undefined;
  if (typeof hooks !== "object" || hooks === null) {
    throw misuse("option `hooks` must be an object of functions");
  }
  const set: Record<string, unknown> = {};
  for (const [name, hook] of Object.entries(hooks)) {
    if (!EVENTS.has(name)) {
      throw misuse(`option \`hooks\` has no event \`${name}\`: ${[...EVENTS].join(", ")}`);
    }
    if (hook === undefined) continue;
    if (typeof hook !== "function") throw misuse(`option \`hooks.${name}\` must be a function`);
    set[name] = hook;
  }
  return Object.keys(set).length > 0 ? (set as PersistHooks) : undefined;
}

/**
 * Calls hook `name` for `live`: `start` is when its store operation began (`undefined`: none
 * ran), `data` the stored text read or written. A hook never fails the request: what it throws
 * or rejects with is logged.
 */
export function emit(
  live: Live,
  name: keyof PersistHooks,
  start: number | undefined,
  data?: string,
  extra?: object,
): void {
  const hook = live.hooks?.[name] as ((event: PersistEvent) => unknown) | undefined;
  if (!hook) return;
  const event: PersistEvent = {
    key: live.info.key,
    id: live.id,
    size: data === undefined ? undefined : Buffer.byteLength(data),
    duration: start === undefined ? 0 : performance.now() - start,
    ...extra,
  };
  // Never throws: emit() runs inside the store operations' own error handling, where a throw
  // would fail the request or quarantine a good state.
  const failed = (error: unknown) => {
    try {
      live.config.logger.error(
        `[hono-persist] hook \`${name}\` of "${event.key}" ${event.id} failed: ${describe(error)}`,
      );
    } catch {
      // A logger that throws loses the message, not the request.
    }
  };
  try {
    const result = hook(event);
    if (typeof (result as PromiseLike<unknown> | undefined)?.then === "function") {
      Promise.resolve(result).catch(failed);
    }
  } catch (error) {
    failed(error);
  }
}

/** `String(error)`, also for a value that cannot be made a string (`Object.create(null)`). */
function describe(error: unknown): string {
  try {
    return String(error);
  } catch {
    return Object.prototype.toString.call(error);
  }
}
