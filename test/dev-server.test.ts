// A dev server runs the app's module again after an edit, in the same process: `@persist`
// decorates the class again (test/redecorate.test.ts has the rule; these run the real servers).
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import {
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  renameSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { basename, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { describe, expect, test, vi } from "vitest";
import { Browser, SECRET, tempDir } from "./helpers.js";

const REPO = fileURLToPath(new URL("..", import.meta.url));
const FIXTURE = join(REPO, "test/fixtures/dev-server");
const SOURCE = join(REPO, "src/index.ts");
const BUN = join(REPO, "node_modules/.bin/bun");
// How long a dev server may take to serve the edited module.
const RELOAD_DEADLINE = 15_000;

/**
 * A temp copy of the fixture app with the fixture's `extra` files (a directory's contents), and
 * a store directory.
 */
function project(extra: string) {
  const { dir, remove } = tempDir();
  const root = join(dir, "app");
  const stateDir = join(dir, "state");
  mkdirSync(root);
  copyFileSync(join(FIXTURE, "app.ts"), join(root, "app.ts"));
  const from = join(FIXTURE, extra);
  cpSync(from, extra.endsWith(".ts") ? join(root, basename(from)) : root, { recursive: true });
  symlinkSync(join(REPO, "node_modules"), join(root, "node_modules"), "dir");
  return {
    root,
    stateDir,
    remove,
    /** Saves app-edited.ts over app.ts in one step, as an editor's atomic save does. */
    edit() {
      const next = join(root, ".app.ts.saving");
      copyFileSync(join(FIXTURE, "app-edited.ts"), next);
      renameSync(next, join(root, "app.ts"));
    },
  };
}

/** `promise`, or a failure saying what did not happen by the deadline. */
async function within<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${what} within ${RELOAD_DEADLINE} ms`)),
      RELOAD_DEADLINE,
    );
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Requests `/` until it answers `expected`; a failure or another text after the deadline throws. */
async function served(browser: Browser, expected: string, old: string): Promise<void> {
  const deadline = Date.now() + RELOAD_DEADLINE;
  for (;;) {
    const response = await browser.request("/");
    const text = await response.text();
    if (response.status !== 200) throw new Error(`${response.status} after the edit: ${text}`);
    if (text === expected) return;
    if (text !== old) throw new Error(`unexpected answer after the edit: ${text}`);
    if (Date.now() > deadline) throw new Error(`still the old module after ${RELOAD_DEADLINE} ms`);
  }
}

/** The same steps on every dev server: state made before the edit is served by the new code. */
async function acrossAnEdit(url: string, edit: () => void, reloaded: () => Promise<unknown>) {
  const browser = new Browser(url);
  for (let i = 0; i < 2; i++)
    expect(await browser.text("/increment", { method: "POST" })).toBe("incremented");
  expect(await browser.text("/")).toBe("count 2");
  const cookie = browser.cookie("app-state");
  edit();
  await within(reloaded(), "no reload after the edit");
  await served(browser, "count 2, theme dark (edited)", "count 2");
  expect(await browser.text("/increment", { method: "POST" })).toBe("incremented");
  expect(await browser.text("/")).toBe("count 3, theme dark (edited)");
  // The same state all along, not a fresh one.
  expect(browser.cookie("app-state")).toBe(cookie);
}

describe("a dev server keeps a browser's state across an edit of the app's module", () => {
  test.each([
    ["TC39", "standard"],
    ["legacy", "legacy"],
  ])(
    "Vite with @hono/vite-dev-server, %s decorators",
    async (_, flavour) => {
      const { createServer } = await import("vite");
      const app = project(flavour);
      // Read by the app's module, here in this process, each time the dev server runs it.
      vi.stubEnv("SESSION_SECRET", SECRET);
      vi.stubEnv("STATE_DIR", app.stateDir);
      const server = await createServer({
        root: app.root,
        configFile: join(app.root, "vite.config.ts"),
        // Not in the shared node_modules.
        cacheDir: join(app.root, ".vite"),
        logLevel: "error",
        clearScreen: false,
        // The library from this checkout's source, as a package of the app.
        resolve: { alias: { "hono-persist": SOURCE } },
        server: { port: 0, host: "127.0.0.1" },
      });
      try {
        await server.listen();
        const url = server.resolvedUrls?.local[0];
        if (!url) throw new Error("Vite did not say where it listens");
        const appFile = join(app.root, "app.ts");
        const reloaded = new Promise<void>((resolve) => {
          const seen = (file: string) => {
            if (file === appFile) resolve();
          };
          server.watcher.on("change", seen).on("add", seen);
        });
        await acrossAnEdit(url, app.edit, () => reloaded);
      } finally {
        await server.close();
        vi.unstubAllEnvs();
        app.remove();
      }
    },
    60_000,
  );

  test("bun --hot", async () => {
    if (!existsSync(BUN)) {
      throw new Error("bun is not installed: `npm install` installs it (the `bun` devDependency)");
    }
    const app = project("bun-server.ts");
    // Bun resolves the library to this checkout's source through tsconfig `paths`.
    const tsconfig = { compilerOptions: { paths: { "hono-persist": [SOURCE] } } };
    writeFileSync(join(app.root, "tsconfig.json"), JSON.stringify(tsconfig));
    const child: ChildProcess = spawn(BUN, ["--hot", "bun-server.ts"], {
      cwd: app.root,
      env: { ...process.env, SESSION_SECRET: SECRET, STATE_DIR: app.stateDir },
      stdio: ["ignore", "pipe", "inherit"],
    });
    try {
      const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream })[
        Symbol.asyncIterator
      ]();
      const listening = async () => {
        for (;;) {
          const { value, done } = await lines.next();
          if (done) throw new Error("bun exited");
          const url = /listening on (http:\/\/\S+)/.exec(value)?.[1];
          if (url) return url;
        }
      };
      const url = await within(listening(), "bun did not listen");
      // The server module runs again once the edited app is in: it says so again.
      await acrossAnEdit(url, app.edit, listening);
    } finally {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGKILL");
        await once(child, "exit");
      }
      app.remove();
    }
  }, 60_000);
});
