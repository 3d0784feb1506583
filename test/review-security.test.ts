// An outside security review of the fixes for issue #17: each test failed before its fix.
import { execFile, spawnSync } from "node:child_process";
import { existsSync, lstatSync, readdirSync, unlinkSync, utimesSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Hono } from "hono";
import { afterEach, beforeEach, describe, expect, test } from "vitest";
import { FileStore, persist, persistSession } from "../src/index.js";
import { Browser, SECRET, tempDir } from "./helpers.js";

@persist("review-sec")
class Counter {
  count = 0;
}

let dir: string;
let removeDir: () => void;
let logged: string[];
const logger = { warn: (m: string) => logged.push(m), error: (m: string) => logged.push(m) };

beforeEach(() => {
  ({ dir, remove: removeDir } = tempDir());
  logged = [];
});
afterEach(() => removeDir());

function appOver(store: FileStore): Hono {
  const app = new Hono();
  app.use(persistSession({ secret: SECRET, store, logger }));
  app.get("/", (c) => c.text(String(new Counter().count)));
  app.post("/", (c) => {
    new Counter().count++;
    return c.text(String(new Counter().count));
  });
  return app;
}

const idOf = (browser: Browser) => browser.cookie("review-sec")?.split(".")[0] ?? "";

describe("lock files", () => {
  test("a stale lock file that cannot be moved aside (immutable, or a read-only disk) waits for the timeout (LOCK_TIMEOUT) instead of spinning the event loop", async ({
    skip,
  }) => {
    const index = fileURLToPath(new URL("../src/index.ts", import.meta.url));
    const id = "2b7d9b7e-0a7e-4f4e-9a59-2a3f3c1d2e4f";
    const lock = join(dir, `${id}.lock`);
    // A dead holder's lock, as a crash leaves it: broken at once, if it can be moved.
    writeFileSync(lock, `${2 ** 31 - 1}\nsome-host\n0123456789abcdef`);
    utimesSync(lock, new Date(0), new Date(0));
    if (spawnSync("chattr", ["+i", lock]).status !== 0) skip("chattr +i is not available here");
    // In a child process: a spin of the event loop would stop this one, timeouts included.
    const script = `
      const { FileStore } = await import(${JSON.stringify(index)});
      const [dir, id] = process.argv.slice(1);
      const store = new FileStore({ dir, sweepInterval: 0 });
      console.log(await store.lock(id, 0.2).then(() => "locked", (error) => error.code));
    `;
    try {
      const result = await new Promise<{ stdout: string; killed: boolean }>((resolve) => {
        const child = execFile(
          process.execPath,
          ["--import", "tsx", "--input-type=module", "-e", script, dir, id],
          { cwd: fileURLToPath(new URL("..", import.meta.url)), timeout: 10_000 },
          (_error, stdout) => resolve({ stdout, killed: child.killed }),
        );
      });
      expect(result).toEqual({ stdout: "LOCK_TIMEOUT\n", killed: false });
    } finally {
      spawnSync("chattr", ["-i", lock]);
    }
  }, 15_000);

  test("releasing a FileStore lock twice does not close the descriptor of a lock taken since", async () => {
    const store = new FileStore({ dir, sweepInterval: 0 });
    const first = "2b7d9b7e-0a7e-4f4e-9a59-2a3f3c1d2e4f";
    const second = "3c8e0c8f-1b8f-4a5f-8b6a-3b4a4d2e3f50";
    const releaseFirst = await store.lock(first, 1);
    releaseFirst();
    // Opened now, it may get the descriptor number the first lock had.
    const releaseSecond = await store.lock(second, 1);
    releaseFirst();
    expect(() => releaseSecond()).not.toThrow();
    expect(existsSync(join(dir, `${second}.lock`))).toBe(false);
  });
});

describe("state files", () => {
  let socket: Server | undefined;
  afterEach(async () => {
    await new Promise<void>((resolve) => (socket ? socket.close(() => resolve()) : resolve()));
    socket = undefined;
  });

  test("a Unix socket planted as a browser's state file is invalid state: quarantined unread, fresh state, 200", async () => {
    const app = appOver(new FileStore({ dir, sweepInterval: 0 }));
    const browser = new Browser(app);
    expect(await browser.text("/", { method: "POST" })).toBe("1");
    const id = idOf(browser);
    const file = join(dir, id);
    const planted = createServer();
    socket = planted;
    await new Promise<void>((resolve) => {
      // listen() refuses a path that exists: the state file goes first, the socket takes its name.
      unlinkSync(file);
      planted.listen(file, resolve);
    });
    expect(lstatSync(file).isSocket()).toBe(true);
    // A new app: nothing of the state is cached, the file is opened.
    const fresh = appOver(new FileStore({ dir, sweepInterval: 0 }));
    const response = await fresh.request("/", { headers: { Cookie: cookieOf(browser) } });
    expect([response.status, await response.text()]).toEqual([200, "0"]);
    expect(logged).toEqual([
      expect.stringMatching(
        new RegExp(`^\\[hono-persist\\] quarantined state "review-sec" ${id}: `),
      ),
    ]);
    expect(readdirSync(dir).filter((name) => name.startsWith(id))).toEqual([
      expect.stringMatching(/\.corrupt$/),
    ]);
  });
});

function cookieOf(browser: Browser): string {
  return [...browser.cookies].map(([name, value]) => `${name}=${value}`).join("; ");
}
