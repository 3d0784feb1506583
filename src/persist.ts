import { SuperJSON } from "superjson";
import { misuse } from "./errors.js";
import { instanceFor } from "./internal/instance.js";
import { liveOf } from "./internal/live.js";
import {
  type Class,
  type ClassInfo,
  decoratedClasses,
  register,
  registry,
} from "./internal/registry.js";
import type { PersistInfo, PersistOptions } from "./types.js";

// RFC 6265 token characters: what a cookie name may hold.
const COOKIE_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/**
 * Class decorator: instances of the class become one persisted state per browser. Inside a
 * request handled by `persistSession()`, `new Class()` returns this browser's instance,
 * restored from the store or fresh, and every change to it is saved before the response.
 *
 * Works as a TC39 standard decorator (TypeScript 5+) and as a legacy
 * `experimentalDecorators` one.
 *
 * @param key names the cookie and is stored with the state; one class per key. Outside
 * production a class of the same name decorated again with it (a dev server re-running the
 * module after an edit) takes the key over; with `NODE_ENV=production` it is refused too.
 */
export function persist(key: string, options: PersistOptions = {}) {
  if (typeof key !== "string" || !COOKIE_NAME.test(key)) {
    throw misuse(
      `@persist key ${JSON.stringify(key)} is not a valid cookie name (letters, digits and !#$%&'*+-.^_\`|~)`,
    );
  }
  const { exclude = [], classes = [], version = 1, migrate, scope = "browser", merge } = options;
  if (!Array.isArray(exclude) || !exclude.every((name) => typeof name === "string")) {
    throw misuse("option `exclude` must be an array of field names");
  }
  if (!Array.isArray(classes) || !classes.every((value) => typeof value === "function")) {
    throw misuse("option `classes` must be an array of classes");
  }
  if (!Number.isSafeInteger(version) || version < 1) {
    throw misuse("option `version` must be a positive integer");
  }
  if (migrate !== undefined && typeof migrate !== "function") {
    throw misuse("option `migrate` must be a function");
  }
  if (scope !== "browser" && scope !== "user") {
    throw misuse('option `scope` must be "browser" or "user"');
  }
  if (merge !== undefined && (typeof merge !== "function" || scope !== "user")) {
    throw misuse('option `merge` must be a function, with `scope: "user"`');
  }

  return function persistDecorator<C extends Class>(
    target: C,
    context?: ClassDecoratorContext<C>,
  ): C {
    if (typeof target !== "function" || (context !== undefined && context?.kind !== "class")) {
      throw misuse(`@persist("${key}") decorates classes only`);
    }
    const existing = registry.get(key);
    // The same class run again (a dev server re-running its module after an edit) takes the
    // key over: its instances are built anew, from what is stored, by the next requests. Not
    // in production, where no module runs twice and a second class of that name is another
    // module's, claiming the key by mistake.
    if (existing && (existing.target.name !== target.name || production())) {
      throw misuse(`@persist key "${key}" is already used by class \`${existing.target.name}\``);
    }
    const json = new SuperJSON();
    for (const type of classes) json.registerClass(type as new (...args: unknown[]) => unknown);

    // A Proxy rather than a subclass: the name, static members (reads and writes), the
    // prototype and `instanceof` stay the class's own.
    const decorated: C = new Proxy(target, {
      construct(raw, args, newTarget): object {
        if (newTarget === decorated) return instanceFor(info, args, decorated);
        // `super()` from a decorated subclass: that class's own key holds the state.
        if (decoratedClasses.has(newTarget)) return Reflect.construct(raw, args, newTarget);
        throw misuse(
          `\`${newTarget.name}\` extends the persisted class \`${raw.name}\`: decorate it with @persist and a key of its own`,
        );
      },
    });
    const info: ClassInfo = {
      key,
      target,
      decorated,
      exclude: new Set(exclude),
      classes: new Set(classes.map((type) => type.prototype as object)),
      version,
      migrate,
      scope,
      merge,
      json,
    };
    // So that `instance.constructor` is the decorated class, as it is for any class.
    Object.defineProperty(target.prototype, "constructor", {
      value: decorated,
      writable: true,
      configurable: true,
      enumerable: false,
    });
    register(info);
    decoratedClasses.set(decorated, info);
    return decorated;
  };
}

// Read through `globalThis`: workerd has no `process` unless `nodejs_compat` gives it one.
function production(): boolean {
  return globalThis.process?.env?.NODE_ENV === "production";
}

/** Where a persisted instance is stored: its key, id and cookie. Throws for any other value. */
export function persistInfo(instance: object): PersistInfo {
  const live = liveOf(instance);
  if (!live) throw misuse("persistInfo() takes an instance of a @persist class");
  const { key } = live.info;
  return {
    key,
    id: live.id,
    scope: live.user === undefined ? "browser" : "user",
    cookieName:
      live.user !== undefined ? undefined : live.config.cookie.hostPrefix ? `__Host-${key}` : key,
    restored: live.restored,
    stored: live.saved !== undefined,
    savedAt: live.savedAt === undefined ? undefined : new Date(live.savedAt),
  };
}
