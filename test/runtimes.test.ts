import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { Browser, SECRET, tempDir } from "./helpers.js";
import {
  checkInstalled,
  killedHoldingLock,
  killServer,
  ROOT,
  RUNTIMES,
  type Runtime,
  type Server,
  startServer,
} from "./runtimes/server.js";

// The same checks over HTTP against demo/runtimes/<runtime>.ts, each served by its runtime's own
// server API: @hono/node-server's serve() on Node 20 and 24, Bun.serve, Deno.serve.

const AGENT = "runtime-matrix";
const CONCURRENT = 50;

beforeAll(() => {
  // The demo/runtimes import "hono-persist" as a user's app does: the package's entry, dist/.
  execFileSync(join(ROOT, "node_modules/.bin/tsc"), ["-p", "tsconfig.build.json"], {
    cwd: ROOT,
    timeout: 60_000,
  });
}, 60_000);

/** The state id in a browser's cookie. */
const idOf = (browser: Browser) => (browser.cookie("visits") ?? "").split(".")[0] ?? "";

describe.each(RUNTIMES)("$name", (runtime) => {
  let remove: () => void;
  let dir: string;
  let server: Server | undefined;
  let stderr = "";
  let browser: Browser;
  let before: unknown;
  let backup = "";

  beforeAll(() => {
    const temp = tempDir();
    remove = temp.remove;
    // Not made yet: the store makes it, mode 0700.
    dir = join(temp.dir, "sessions");
    checkInstalled(runtime);
  });
  afterAll(async () => {
    await stop();
    remove?.();
  });

  /** Starts the server on the store directory; the browser keeps its cookies across restarts. */
  async function start(lock: boolean): Promise<void> {
    server = await startServer(runtime, {
      DATA_DIR: dir,
      SESSION_SECRET: SECRET,
      ...(lock && { LOCK: "1" }),
    });
    const cookies = browser?.cookies ?? [];
    browser = new Browser(server.url);
    for (const [name, value] of cookies) browser.cookies.set(name, value);
  }
  async function stop(): Promise<void> {
    await killServer(server);
    stderr += server?.stderr() ?? "";
    server = undefined;
  }
  const visit = (by = browser) =>
    by.request("/visit/home", { method: "POST", headers: { "User-Agent": AGENT } });
  async function state(): Promise<unknown> {
    const response = await browser.request("/");
    const body = await response.text();
    expect(`${response.status} ${body}`).toMatch(/^200 /);
    return JSON.parse(body);
  }
  const file = () => join(dir, idOf(browser));

  /**
   * `CONCURRENT` visits of this browser at once, and as many of another at the same time: each
   * answers its own browser's count, none lost, none counted for the other browser.
   */
  async function concurrently(): Promise<number[]> {
    const other = new Browser(server?.url ?? "");
    expect(await (await visit(other)).json()).toEqual({ count: 1 });
    const many = async (by: Browser) => {
      const answers = await Promise.all(
        Array.from({ length: CONCURRENT }, async () => {
          const response = await visit(by);
          expect(response.status).toBe(200);
          return ((await response.json()) as { count: number }).count;
        }),
      );
      return answers.sort((a, b) => a - b);
    };
    const [ours, theirs] = await Promise.all([many(browser), many(other)]);
    expect(theirs).toEqual(range(2, CONCURRENT + 1));
    return ours;
  }
  const range = (from: number, to: number) =>
    Array.from({ length: to - from + 1 }, (_, i) => from + i);

  test("reloads keep the state, in a file of mode 0600 in a directory of mode 0700", async () => {
    await start(false);
    const first = await visit();
    expect(first.headers.get("set-cookie")).toMatch(
      /^visits=[0-9a-f-]{36}\.[^;]+; Max-Age=31536000; Path=\/; HttpOnly; SameSite=Lax$/,
    );
    expect(await first.json()).toEqual({ count: 1 });
    expect(await (await visit()).json()).toEqual({ count: 2 });
    expect(statSync(file()).mode & 0o777).toBe(0o600);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
  });

  test(`${CONCURRENT} concurrent visits of a browser count exactly, beside another's`, async () => {
    expect(await concurrently()).toEqual(range(3, CONCURRENT + 2));
    before = await state();
    expect(before).toMatchObject({
      count: CONCURRENT + 2,
      perPath: { home: CONCURRENT + 2 },
      agents: [AGENT],
    });
    backup = readFileSync(file(), "utf8");
  });

  test("a restarted server (SIGKILL) restores the Map, Set and Date as themselves", async () => {
    await stop();
    // Started again with `lock: true`, for the next test.
    await start(true);
    expect(await state()).toEqual(before);
  });

  test(`${CONCURRENT} concurrent visits with \`lock: true\` too`, async () => {
    const base = CONCURRENT + 2;
    expect(await concurrently()).toEqual(range(base + 1, base + CONCURRENT));
  });

  test("a lock left by a process killed while holding it is broken at once", async () => {
    await stop();
    await killedHoldingLock(dir, idOf(browser));
    await start(true);
    expect(await state()).toMatchObject({ count: 2 * CONCURRENT + 2 });
  });

  test("a state file copied back from a backup is read, not taken as expired", async () => {
    writeFileSync(file(), backup);
    expect(await state()).toEqual(before);
  });

  test("clearCookieState() removes the file and expires the cookie", async () => {
    expect(idOf(browser)).toMatch(/^[0-9a-f-]{36}$/);
    const path = file();
    expect(existsSync(path)).toBe(true);
    const cleared = await browser.request("/clear", { method: "POST" });
    expect(await cleared.json()).toEqual({ cleared: true });
    expect(cleared.headers.get("set-cookie")).toMatch(/^visits=; Max-Age=0; /);
    expect(existsSync(path)).toBe(false);
    expect(browser.cookies.size).toBe(0);
    expect(await state()).toEqual({ count: 0, perPath: {}, agents: [], last: null });
  });

  test("the server printed no warning or error", async () => {
    await stop();
    expect(stderr).toBe("");
  });
});

describe("deno without --allow-run", () => {
  const deno = RUNTIMES.find(({ name }) => name === "deno") as Runtime;
  let server: Server | undefined;
  let remove: (() => void) | undefined;
  afterAll(async () => {
    await killServer(server);
    remove?.();
  });

  test("FileStore says at startup that a crashed process's lock waits until stale", async () => {
    const temp = tempDir();
    remove = temp.remove;
    const withoutRun = (dir: string) => deno.args(dir).filter((arg) => arg !== "--allow-run");
    server = await startServer(
      { ...deno, args: withoutRun },
      { DATA_DIR: temp.dir, SESSION_SECRET: SECRET },
    );
    // Before any request.
    expect(await server.printed("HONO_PERSIST_NO_PID_CHECK")).toContain(
      "[HONO_PERSIST_NO_PID_CHECK] Warning: FileStore cannot tell whether a process is running (Requires run access, run again with the --allow-run flag): a lock left by a crashed process is broken after 10 s, its temporary files are removed after 60 s. On Deno, run with --allow-run.",
    );
  });
});
