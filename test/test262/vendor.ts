/**
 * Selects the test262 tests this suite runs and copies them (and the harness files they
 * include) into vendor/. Run on Node 20 from the repository root with a test262 git directory:
 *
 *   npx tsx test/test262/vendor.ts /path/to/test262/.git
 *
 * A test is kept when its frontmatter asks for nothing Node 20 or this harness lacks, and
 * when, run here, it passes plain, leaves the built-ins as they can be put back, and finishes
 * each routed mode within a time limit. The tests dropped at run time are listed in
 * excluded.json with the reason.
 */
import { execFileSync, spawn } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { parseMeta, type TestFile, VENDOR } from "./files.js";

const DIRECTORIES = [
  "test/built-ins/Array/prototype",
  "test/built-ins/Map/prototype",
  "test/built-ins/Set/prototype",
  "test/built-ins/Date/prototype",
  "test/built-ins/ArrayIteratorPrototype",
  "test/built-ins/MapIteratorPrototype",
  "test/built-ins/SetIteratorPrototype",
  "test/built-ins/Reflect",
  "test/built-ins/JSON",
  ...[
    "assign",
    "entries",
    "freeze",
    "fromEntries",
    "getOwnPropertyDescriptor",
    "getOwnPropertyDescriptors",
    "getOwnPropertyNames",
    "getPrototypeOf",
    "hasOwn",
    "is",
    "isExtensible",
    "isFrozen",
    "isSealed",
    "keys",
    "preventExtensions",
    "seal",
    "setPrototypeOf",
    "values",
  ].map((name) => `test/built-ins/Object/${name}`),
];
/** Files directly in these directories (not their subdirectories). */
const FLAT_DIRECTORIES = ["test/built-ins/Date", "test/built-ins/Map", "test/built-ins/Set"];

/** Flags this harness does not run: asynchronous tests, modules, raw source, agents. */
const SKIPPED_FLAGS = new Set(["async", "module", "raw", "CanBlockIsFalse", "CanBlockIsTrue"]);

/** Features whose presence is checked; the others are ES2022 or older, which Node 20 has. */
const FEATURE_PROBES: Record<string, () => boolean> = {
  "array-grouping": () => typeof (Object as { groupBy?: unknown }).groupBy === "function",
  "set-methods": () => typeof (Set.prototype as { union?: unknown }).union === "function",
  "iterator-helpers": () => typeof (globalThis as { Iterator?: unknown }).Iterator === "function",
  upsert: () => typeof (Map.prototype as { getOrInsert?: unknown }).getOrInsert === "function",
  "json-parse-with-source": () => typeof (JSON as { rawJSON?: unknown }).rawJSON === "function",
  Temporal: () => "Temporal" in globalThis,
  "resizable-arraybuffer": () =>
    typeof (ArrayBuffer.prototype as { resize?: unknown }).resize === "function",
  "change-array-by-copy": () => typeof Array.prototype.toSorted === "function",
  "array-find-from-last": () => typeof Array.prototype.findLast === "function",
  "Array.fromAsync": () => typeof (Array as { fromAsync?: unknown }).fromAsync === "function",
  Float16Array: () => "Float16Array" in globalThis,
  "promise-with-resolvers": () =>
    typeof (Promise as { withResolvers?: unknown }).withResolvers === "function",
  "explicit-resource-management": () => "DisposableStack" in globalThis,
  // Needs $262.createRealm: another realm than the library's.
  "cross-realm": () => false,
};

/** A routed mode that runs longer than this is taken to loop (element by element through a Proxy). */
const ROUTED_LIMIT_MS = 3000;
/** A test whose routed mode takes longer than this would slow `npm test` down: it is left out. */
const SLOW_MS = 250;

function readRepository(gitDir: string) {
  const git = (...args: string[]) =>
    execFileSync("git", [`--git-dir=${gitDir}`, ...args], { maxBuffer: 1 << 30 });
  const commit = git("rev-parse", "HEAD").toString().trim();
  const listed = git("ls-tree", "-r", "--name-only", "HEAD", ...DIRECTORIES, ...FLAT_DIRECTORIES)
    .toString()
    .trim()
    .split("\n")
    .filter(
      (path) =>
        path.endsWith(".js") &&
        !path.includes("_FIXTURE") &&
        (DIRECTORIES.some((dir) => path.startsWith(`${dir}/`)) ||
          FLAT_DIRECTORIES.includes(dirname(path))),
    );
  const harness = git("ls-tree", "--name-only", "HEAD", "harness/")
    .toString()
    .trim()
    .split("\n")
    .filter((path) => path.endsWith(".js"));
  const paths = [...listed, ...harness, "LICENSE"];
  const out = execFileSync("git", [`--git-dir=${gitDir}`, "cat-file", "--batch"], {
    input: paths.map((path) => `HEAD:${path}`).join("\n"),
    maxBuffer: 1 << 30,
  });
  const texts = new Map<string, string>();
  let position = 0;
  for (const path of paths) {
    const newline = out.indexOf(10, position);
    const size = Number(out.subarray(position, newline).toString().split(" ")[2]);
    texts.set(path, out.subarray(newline + 1, newline + 1 + size).toString("utf8"));
    position = newline + 1 + size + 1;
  }
  return { commit, tests: listed, texts };
}

/** Why the frontmatter or source rules a test out, or undefined. */
function staticReason(source: string): string | undefined {
  const meta = parseMeta(source);
  const flag = meta.flags.find((name) => SKIPPED_FLAGS.has(name));
  if (flag) return `flag ${flag}`;
  if (meta.negative) return "negative test";
  const feature = meta.features.find((name) => FEATURE_PROBES[name] && !FEATURE_PROBES[name]());
  if (feature) return `feature ${feature}`;
  if (source.includes("$262")) return "uses $262";
  return undefined;
}

async function worker(listFile: string, from: number): Promise<void> {
  const { Runner } = await import("./runner.js");
  const tests = JSON.parse(readFileSync(listFile, "utf8")) as TestFile[];
  const runner = await Runner.create(JSON.parse(process.env.TEST262_INCLUDES ?? "[]") as string[]);
  for (let index = from; index < tests.length; index++) {
    const test = tests[index] as TestFile;
    let status: string;
    try {
      const fn = runner.compile(test);
      const plain = runner.plain(fn);
      if (plain !== "pass") status = `fails plain on Node ${process.versions.node}: ${plain}`;
      else {
        status = "ok";
        for (const mode of ["request", "restore"] as const) {
          process.stdout.write(`${JSON.stringify({ index, started: mode })}\n`);
          const start = performance.now();
          await (mode === "request" ? runner.request(fn) : runner.restore(fn));
          const took = performance.now() - start;
          if (took > SLOW_MS) status = `slow: the ${mode} mode took ${Math.round(took)} ms`;
        }
      }
    } catch (error) {
      status = `cannot run here: ${String(error)}`;
    }
    process.stdout.write(`${JSON.stringify({ index, status })}\n`);
    // The built-ins may not have been put back: the next test starts in a new process.
    if (status.startsWith("cannot run here")) process.exit(0);
  }
}

/** Runs the candidates in child processes, restarting after a test that does not finish. */
async function runAll(tests: TestFile[], includes: string[]): Promise<string[]> {
  const listFile = join(VENDOR, "..", ".candidates.json");
  writeFileSync(listFile, JSON.stringify(tests));
  const statuses: string[] = [];
  while (statuses.length < tests.length) {
    const child = spawn(
      process.execPath,
      [
        "--import",
        "tsx",
        new URL(import.meta.url).pathname,
        "--worker",
        listFile,
        String(statuses.length),
      ],
      {
        stdio: ["ignore", "pipe", "inherit"],
        env: { ...process.env, TEST262_INCLUDES: JSON.stringify(includes) },
      },
    );
    let timer: NodeJS.Timeout | undefined;
    let killed = false;
    let exited = false;
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        killed = child.kill("SIGKILL");
      }, ROUTED_LIMIT_MS);
    };
    arm();
    for await (const line of createInterface({ input: child.stdout })) {
      if (!line.startsWith("{")) continue;
      const message = JSON.parse(line) as { index: number; status?: string };
      arm();
      if (message.status !== undefined) {
        statuses[message.index] = message.status;
        exited = message.status.startsWith("cannot run here");
        if (statuses.length % 500 === 0) console.error(`${statuses.length}/${tests.length}`);
      }
    }
    clearTimeout(timer);
    if (killed) statuses.push(`a routed mode ran over ${ROUTED_LIMIT_MS / 1000} s`);
    else if (!exited && statuses.length < tests.length) statuses.push("cannot run here: crashed");
  }
  rmSync(listFile);
  return statuses;
}

async function main(gitDir: string): Promise<void> {
  const { commit, tests: paths, texts } = readRepository(gitDir);
  const skipped = new Map<string, number>();
  const candidates: TestFile[] = [];
  for (const path of paths) {
    const source = texts.get(path) as string;
    const reason = staticReason(source);
    if (reason) skipped.set(reason, (skipped.get(reason) ?? 0) + 1);
    else candidates.push({ path, source, meta: parseMeta(source) });
  }
  const includesOf = (tests: TestFile[]) => [
    ...new Set(["assert.js", "sta.js", ...tests.flatMap((test) => test.meta.includes)]),
  ];
  rmSync(VENDOR, { recursive: true, force: true });
  for (const include of includesOf(candidates)) {
    write(join("harness", include), texts.get(`harness/${include}`) as string);
  }
  const statuses = await runAll(candidates, includesOf(candidates));
  const kept = candidates.filter((_, index) => statuses[index] === "ok");
  const excluded: Record<string, string> = {};
  candidates.forEach((test, index) => {
    if (statuses[index] !== "ok") excluded[test.path] = statuses[index] as string;
  });
  rmSync(VENDOR, { recursive: true, force: true });
  for (const include of includesOf(kept)) {
    write(join("harness", include), texts.get(`harness/${include}`) as string);
  }
  for (const test of kept) write(test.path, test.source);
  write("LICENSE", texts.get("LICENSE") as string);
  writeFileSync(
    join(VENDOR, "..", "excluded.json"),
    `${JSON.stringify({ commit, excluded }, null, 2)}\n`,
  );
  console.log(`test262 ${commit}`);
  console.log(`listed ${paths.length}, kept ${kept.length}`);
  for (const [reason, count] of [...skipped].sort((a, b) => b[1] - a[1])) {
    console.log(`  skipped (frontmatter/source) ${count}: ${reason}`);
  }
  const runtime = new Map<string, number>();
  for (const reason of Object.values(excluded)) {
    const kind = reason.replace(/:.*/, "");
    runtime.set(kind, (runtime.get(kind) ?? 0) + 1);
  }
  for (const [reason, count] of runtime) console.log(`  excluded at run time ${count}: ${reason}`);
}

function write(path: string, text: string): void {
  const full = join(VENDOR, path);
  mkdirSync(dirname(full), { recursive: true });
  writeFileSync(full, text);
}

const [flag, first, second] = process.argv.slice(2);
if (flag === "--worker") await worker(first as string, Number(second));
else if (flag) await main(flag);
else console.error("usage: npx tsx test/test262/vendor.ts <test262 git dir>");
