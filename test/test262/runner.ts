import { readFileSync } from "node:fs";
import { join } from "node:path";
import { types } from "node:util";
import { runInThisContext } from "node:vm";
import { Hono } from "hono";
import { parseAst } from "rolldown/parseAst";
import { MemoryStore, persist, persistInfo, persistSession } from "../../src/index.js";
import { Browser, SECRET } from "../helpers.js";
import { type TestFile, VENDOR } from "./files.js";
import { type Inventory, inventory, type Loss, losses } from "./losses.js";
import {
  bare,
  defineProperty,
  getOwnPropertyDescriptor,
  getPrototypeOf,
  hasOwn,
  isArray,
  mapEach,
  mapGetOf,
  mapHasOf,
  mapSetOf,
  ownKeys,
  SetClass,
  setAddOf,
  setEach,
  setHasOf,
  setPrototypeOf,
} from "./primordials.js";
import {
  type Changes,
  capture,
  isBuiltIn,
  part,
  reapply,
  restore,
  type Snapshot,
  touched,
} from "./realm.js";
import { transform } from "./transform.js";

/**
 * Besides the plain run, `request`: every value the test creates is stored in a field of a
 * persisted instance inside a request and used through it. `restore`: the values its setup
 * creates are stored in one request and the test goes on in the next, with those values
 * rebuilt from the store.
 */
export const ROUTED_MODES = ["request", "restore"] as const;

/** `pass`, or the error's constructor name and message. */
export type Outcome = string;

export interface Result {
  plain: Outcome;
  request: Outcome;
  restore: Outcome;
  /** What the values the restore mode stored lost on the way (see losses.ts). */
  lost: Loss[];
}

type Fields = Record<string, unknown>;
type Route = (value: unknown) => unknown;
type TestFunction = (
  this: unknown,
  route: Route,
  restore: Route,
  ...harness: unknown[]
) => Generator<undefined, void, undefined>;

@persist("test262")
class Routed {}

const identity: Route = (value) => value;

/** The built-ins checked between the modes of a test even when its plain run left them alone. */
const CORE: readonly object[] = [
  globalThis,
  Object,
  Object.prototype,
  Array,
  Array.prototype,
  Function.prototype,
  Map,
  Map.prototype,
  Set,
  Set.prototype,
  Date,
  Date.prototype,
];

function outcomeOf(error: unknown): Outcome {
  if (typeof error !== "object" || error === null) return `thrown ${String(error)}`;
  const name = (error as { constructor?: { name?: unknown } }).constructor?.name;
  return `${typeof name === "string" ? name : "Object"}: ${String((error as Error).message)}`;
}

/** Runs test262 tests plain and routed through persisted instances, in one realm. */
export class Runner {
  #baseline: Snapshot = [];
  readonly #harnessNames: string[];
  readonly #harness: unknown[];
  readonly #app = new Hono();
  #handler: ((state: Fields) => void) | undefined;
  /** What `#reset` puts back: the whole baseline, or part of it between a test's modes. */
  #target: Snapshot = [];
  /** What the last `#reset` found changed. */
  #changed = new Set<object>();
  #failure: unknown;
  /** Requests whose save failed in `request` mode (its outcome is what the handler saw). */
  refusedSaves = 0;
  /** Tests whose setup stored values that the `restore` mode rebuilt. */
  restoredSetups = 0;

  private constructor(includes: readonly string[]) {
    const source = includes
      .map((file) => readFileSync(join(VENDOR, "harness", file), "utf8"))
      .join("\n");
    this.#harnessNames = topLevelNames(source);
    const make = runInThisContext(
      `(function () {\n${source}\nreturn [${this.#harnessNames.join(", ")}];\n})`,
      { filename: "test262-harness.js" },
    ) as () => unknown[];
    this.#harness = make();
    // cacheSize 0: the second request of the restore mode rebuilds the state from the store.
    this.#app.use(
      persistSession({
        secret: SECRET,
        store: new MemoryStore({ sweepInterval: 0 }),
        cacheSize: 0,
        logger: { warn: (message) => this.#log(message), error: (message) => this.#log(message) },
      }),
    );
    this.#app.post("/", (c) => {
      this.#handler?.(new Routed() as Fields);
      return c.text("ok");
    });
    this.#app.onError((error, c) => {
      // A getter the test defined, run by the save, may have changed the built-ins Hono needs.
      this.#reset();
      this.#failure = error;
      return c.text("failed", 500);
    });
  }

  /** A Runner whose first request has run: Node adds to the globals when it first makes a `Response`. */
  static async create(includes: readonly string[]): Promise<Runner> {
    const runner = new Runner(includes);
    // Node defines some globals on first use (`Headers`): use them all before the capture.
    for (const key of Reflect.ownKeys(globalThis)) {
      if (Reflect.getOwnPropertyDescriptor(globalThis, key)?.get) Reflect.get(globalThis, key);
    }
    await runner.#app.request("/");
    runner.#baseline = capture();
    runner.#target = runner.#baseline;
    const warmUp = runner.compile({
      path: "warm-up.js",
      source: "var a = [new Date(), new Map([[1, {}]])];\nassert(a.length === 2);",
      meta: { flags: [], features: [], includes: [], negative: false },
    });
    await runner.request(warmUp);
    await runner.restore(warmUp);
    runner.#baseline = capture();
    runner.#target = runner.#baseline;
    return runner;
  }

  #log(message: unknown): void {
    this.#failure ??= new Error(`logged: ${String(message)}`);
  }

  compile(test: TestFile): TestFunction {
    const strict = test.meta.flags.includes("onlyStrict");
    const source = transform(test.source, this.#harnessNames, strict);
    return runInThisContext(source, { filename: test.path }) as TestFunction;
  }

  /**
   * Runs a test in every mode. Between the modes, only the built-ins the plain run changed (and
   * the likeliest ones) are put back; after the test, all of them: a full check costs about as
   * much as running a test.
   */
  async run(test: TestFile): Promise<Result> {
    const fn = this.compile(test);
    const plain = this.plain(fn);
    try {
      this.#target = part(this.#baseline, new Set([...this.#changed, ...CORE]));
      const request = await this.request(fn);
      const { outcome: restore, lost } = await this.restore(fn);
      return { plain, request, restore, lost };
    } finally {
      this.#target = this.#baseline;
      this.#reset();
    }
  }

  /** Puts the built-ins back; returns what it undid. */
  #reset(): Changes {
    const changes = restore(this.#target);
    this.#changed = touched(changes);
    return changes;
  }

  plain(fn: TestFunction): Outcome {
    return this.#settle(() => {
      const test = fn.call(globalThis, identity, identity, ...this.#harness);
      test.next();
      test.next();
    });
  }

  async request(fn: TestFunction): Promise<Outcome> {
    let outcome: Outcome = "no request ran";
    const response = await this.#send((state) => {
      outcome = this.#settle(() => {
        const test = fn.call(globalThis, routeInto(state), identity, ...this.#harness);
        test.next();
        test.next();
      });
    });
    if (response.failure !== undefined) this.refusedSaves++;
    return outcome;
  }

  async restore(fn: TestFunction): Promise<{ outcome: Outcome; lost: Loss[] }> {
    const browser = new Browser(this.#app);
    const fields = new Map<unknown, string>();
    // The test's `$route` and `$restore` call these, replaced when the second request begins.
    let route: Route = identity;
    let rebind: Route = identity;
    let test: Generator<undefined, void, undefined> | undefined;
    let outcome: Outcome | undefined;
    let polluted: Changes | undefined;
    let shapes: Inventory = new Map();
    const first = await this.#send((state) => {
      const routeSetup = routeInto(state, fields);
      route = (value) => (storable(value) ? routeSetup(value) : value);
      outcome = this.#settle(() => {
        test = fn.call(
          globalThis,
          (value) => route(value),
          (value) => rebind(value),
          ...this.#harness,
        );
        if (test.next().done) return undefined;
        // The built-ins as the setup left them, put back while the library saves and loads.
        polluted = this.#reset();
        shapes = inventory([...fields.keys()]);
        return "paused";
      });
    }, browser);
    if (outcome !== "paused" || test === undefined || polluted === undefined) {
      return { outcome: outcome ?? "no request ran", lost: [] };
    }
    if (first.failure !== undefined) return { outcome: outcomeOf(first.failure), lost: [] };
    if (fields.size > 0) this.restoredSetups++;
    const paused = test;
    const setup = polluted;
    outcome = "no request ran";
    let lost: Loss[] = [];
    await this.#send((state) => {
      if (fields.size > 0 && !persistInfo(state).restored) {
        outcome = "harness: the setup's state was not restored";
        return;
      }
      lost = losses(
        shapes,
        [...fields].map(([value, field]) => [value, state[field]] as const),
      );
      rebind = rebinder(fields, state);
      // Values created from here on go through this request's instance, as in `request` mode.
      route = routeInto(state, undefined, "w");
      outcome = this.#settle(() => {
        reapply(setup, rebind);
        paused.next();
        return undefined;
      });
    }, browser);
    return { outcome, lost };
  }

  /** Runs `body`, then puts the built-ins back. Returns its outcome. */
  #settle(body: () => string | undefined): Outcome {
    let result: string | undefined;
    let failed = false;
    let error: unknown;
    try {
      result = body();
    } catch (thrown) {
      failed = true;
      error = thrown;
    }
    // First: describing the error may need what the test changed.
    this.#reset();
    if (failed) return outcomeOf(error);
    return result ?? "pass";
  }

  async #send(handler: (state: Fields) => void, browser = new Browser(this.#app)) {
    this.#handler = handler;
    this.#failure = undefined;
    try {
      await browser.request("/", { method: "POST" });
    } catch (error) {
      this.#failure ??= error;
    } finally {
      this.#handler = undefined;
      // Saving may run a getter the test defined, which may change the built-ins in turn.
      this.#reset();
    }
    return { failure: this.#failure };
  }
}

/** `$route` for an instance: stores the value in a new field and returns it read back. */
function routeInto(state: Fields, fields?: Map<unknown, string>, prefix = "v"): Route {
  let count = 0;
  return (value) => {
    if (typeof value !== "object" || value === null) return value;
    const field = `${prefix}${count++}`;
    state[field] = value;
    const routed = state[field];
    if (fields) mapSetOf(fields, routed, field);
    return routed;
  };
}

/**
 * `$restore` for the second request of the restore mode: a routed value becomes the one loaded
 * from the store; in an object the test made without routing it (`Reflect.construct`'s result,
 * an array holding a symbol), routed values are replaced in place, as if it had been stored
 * too, and so is a prototype. Functions, built-ins and the test's own Proxies are left alone.
 */
function rebinder(fields: Map<unknown, string>, state: Fields): Route {
  const restored = (value: unknown) => {
    const field = mapGetOf(fields, value);
    return field === undefined ? value : state[field];
  };
  const seen = new Set<object>();
  const walk = (object: object) => {
    if (setHasOf(seen, object) || types.isProxy(object) || isBuiltIn(object)) return;
    setAddOf(seen, object);
    const proto = getPrototypeOf(object);
    if (mapHasOf(fields, proto)) setPrototypeOf(object, restored(proto) as object);
    const keys = ownKeys(object);
    for (let index = 0; index < keys.length; index++) {
      const key = keys[index] as PropertyKey;
      const descriptor = getOwnPropertyDescriptor(object, key);
      if (!descriptor || !hasOwn(descriptor, "value")) continue;
      const value: unknown = descriptor.value;
      if (typeof value !== "object" || value === null) continue;
      if (mapHasOf(fields, value)) {
        defineProperty(object, key, bare({ ...descriptor, value: restored(value) }));
      } else walk(value);
    }
  };
  return (value) => {
    if (mapHasOf(fields, value)) return restored(value);
    if (typeof value === "object" && value !== null) walk(value);
    return value;
  };
}

const STORED_PROTOTYPES: readonly object[] = [
  Object.prototype,
  Date.prototype,
  RegExp.prototype,
  Error.prototype,
];

/**
 * Whether the library can store `value` now: no functions or symbols inside, no instances of
 * classes it would refuse. The restore mode routes only those; what it refuses is documented.
 */
function storable(value: unknown, seen = new SetClass<object>()): boolean {
  if (typeof value === "function" || typeof value === "symbol") return false;
  if (typeof value !== "object" || value === null || setHasOf(seen, value)) return true;
  setAddOf(seen, value);
  let all = true;
  if (types.isMap(value)) {
    mapEach(value, (item, key) => {
      all &&= storable(key, seen) && storable(item, seen);
    });
    return all && getPrototypeOf(value) === Map.prototype;
  }
  if (types.isSet(value)) {
    setEach(value, (item) => {
      all &&= storable(item, seen);
    });
    return all && getPrototypeOf(value) === Set.prototype;
  }
  const proto = getPrototypeOf(value);
  if (!isArray(value) && proto !== null) {
    let known = false;
    for (let index = 0; index < STORED_PROTOTYPES.length; index++) {
      known ||= STORED_PROTOTYPES[index] === proto;
    }
    if (!known) return false;
  }
  const keys = ownKeys(value);
  for (let index = 0; index < keys.length; index++) {
    const descriptor = getOwnPropertyDescriptor(value, keys[index] as PropertyKey);
    if (
      descriptor?.enumerable &&
      hasOwn(descriptor, "value") &&
      !storable(descriptor.value, seen)
    ) {
      return false;
    }
  }
  return true;
}

function topLevelNames(source: string): string[] {
  const names = new Set<string>();
  const program = parseAst(source, { lang: "js", sourceType: "script" });
  for (const statement of program.body) {
    if (statement.type === "FunctionDeclaration" && statement.id) names.add(statement.id.name);
    if (statement.type === "VariableDeclaration") {
      for (const declarator of statement.declarations) {
        if (declarator.id.type === "Identifier") names.add(declarator.id.name);
      }
    }
  }
  return [...names];
}
