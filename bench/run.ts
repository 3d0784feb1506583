// npm run bench: hono-persist side by side with plain Hono, the disk's limit and the peers a
// user would pick instead, in one run. Absolute figures on a shared 2-core machine drift, so
// every side is also given as a ratio to plain Hono (W1: measured right before the side; W2:
// in the same round), rounds alternate the order of the sides, and the median of the rounds
// is reported.
// Environment: ROUNDS (default 3), SECONDS per measurement (default 3), REDIS_URL (else a
// redis-server on PATH is started for the Redis side; without either that side is left out;
// the Redis Cluster and PostgreSQL sides run on servers started here when installed),
// BASELINE: the dist/ folder of another build (an earlier commit's `npm run build`), measured
// beside this one as sides of their own (W1, W2) and in processes taking turns (W3, W4).
// `BENCH=ab` (with BASELINE): only the paired A/B of options `hooks` and `user` (bench/ab-unused.ts).
// `BENCH=ab-inprocess` (with BASELINE): the same A/B through app.request() in one process
// (bench/ab-inprocess.ts), which resolves costs of a few percent.
import { spawn, spawnSync } from "node:child_process";
import { once } from "node:events";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { cpus, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { hasPostgresServer, startPostgresServer } from "../test/fixtures/postgres-server.js";
import { hasRedisCluster, startRedisCluster } from "../test/fixtures/redis-cluster.js";
import { abUnused } from "./ab-unused.js";
import { writeChart } from "./chart.js";
import { onServerCpus, pinned, pinRunner } from "./cpus.js";
import {
  cpuMicros,
  get,
  type LoadResult,
  load,
  mapLimited,
  newSession,
  rssMiB,
  type Server,
  startServer,
} from "./http.js";
import { manyFiles, manyWrites, stateSizes } from "./inprocess.js";

const ROUNDS = Number(process.env.ROUNDS ?? 3);
const SECONDS = Number(process.env.SECONDS ?? 3);
const SESSIONS = 1000;
const BASELINE = process.env.BASELINE ? resolve(process.env.BASELINE) : undefined;
// `BENCH=stores npm run bench`: only plain Hono and the sides with a store server (and the
// file sides they are compared with), W1 and W2, into bench/results-stores-node<major>.md.
const STORES_ONLY = process.env.BENCH === "stores";
const STORE_SIDES =
  /^(plain Hono \(ceiling\)|hono-persist (FileStore|MemoryStore|RedisStore|PostgresStore)|express-session)/;
const scratch = mkdtempSync(join(tmpdir(), "hono-persist-bench-"));

interface Side {
  name: string;
  file: string;
  env: Record<string, string>;
  server?: Server | undefined;
  w1: LoadResult[];
  w2: LoadResult[];
  /** Plain Hono's W1 req/s measured right before this side's, per round: its W1 ratio is to it. */
  plainBefore: number[];
  /** Server CPU time per answered request, µs. */
  cpuPerRequest: { w1: number[]; w2: number[] };
  /** Store writes per answered request (hono-persist sides). */
  writes: { w1: number[]; w2: number[] };
  rssAfterW2?: number;
  heapAfterW2?: number | undefined;
}

/** hono-persist's bench server counts its writes; other sides have no /stats. */
async function stats(url: string): Promise<{ writes: number; heapMiB: number } | undefined> {
  const response = await get(`${url}/stats`);
  return response.ok ? ((await response.json()) as { writes: number; heapMiB: number }) : undefined;
}

async function measure(side: Side, cookies: string[], w: "w1" | "w2"): Promise<void> {
  const { url, child } = side.server as Server;
  const before = await stats(url);
  const cpuBefore = cpuMicros(child.pid as number);
  const result = await load(url, cookies, 10, SECONDS);
  const cpu = cpuMicros(child.pid as number) - cpuBefore;
  const after = await stats(url);
  side[w].push(result);
  // Counted requests include the read-backs of the counts: a few dozen against 10,000s.
  const cpuPerRequest = cpu / Math.max(1, result.ok);
  side.cpuPerRequest[w].push(cpuPerRequest);
  process.stderr.write(
    `  ${w}: ${Math.round(result.rps)} req/s, ${Math.round(cpuPerRequest)} µs of server CPU per request\n`,
  );
  if (before && after) side.writes[w].push((after.writes - before.writes) / Math.max(1, result.ok));
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Ends the side's server and waits for it to exit. */
async function stopServer(side: Side): Promise<void> {
  const child = side.server?.child;
  side.server = undefined;
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, "exit");
  child.kill();
  await exited;
}

/** REDIS_URL, or a redis-server of our own (persistence off), or undefined. */
async function redis(): Promise<{ url: string; stop: () => void } | undefined> {
  if (!existsSync("src/stores/redis.ts")) return undefined;
  if (process.env.REDIS_URL) return { url: process.env.REDIS_URL, stop: () => {} };
  if (spawnSync("redis-server", ["--version"]).status !== 0) return undefined;
  const port = await freePort();
  const flags = ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"];
  const [command, args] = onServerCpus("redis-server", flags);
  const child = spawn(command, args, { stdio: ["ignore", "pipe", "ignore"] });
  for await (const line of createInterface({ input: child.stdout })) {
    if (line.includes("Ready to accept connections")) break;
  }
  return { url: `redis://127.0.0.1:${port}`, stop: () => child.kill() };
}

/** The disk's limit, in a process of its own: atomic replaces per second over `files` files. */
function diskLimit(files: number): number {
  const dir = mkdtempSync(join(scratch, "disk-"));
  const out = spawnSync(process.execPath, ["--import", "tsx", "bench/servers/disk-limit.ts"], {
    env: { ...process.env, DIR: dir, SECONDS: String(SECONDS), FILES: String(files), BYTES: "200" },
    encoding: "utf8",
  });
  rmSync(dir, { recursive: true });
  return (JSON.parse(out.stdout) as { writesPerSecond: number }).writesPerSecond;
}

const round1 = (value: number) => Math.round(value * 10) / 10;
const round2 = (value: number) => Math.round(value * 100) / 100;
const writesCell = (value: number | undefined) =>
  value === undefined ? "" : String(round2(value));
const pct = (value: number) => `${Math.round(value * 100)}%`;
// Event-loop blocks run from a few µs to ms: whole µs keep the small ones apart.
const micros = (ms: number) => Math.round(ms * 1000).toLocaleString("en");

type InProcess = {
  w3: Awaited<ReturnType<typeof manyWrites>>;
  w4: Awaited<ReturnType<typeof stateSizes>>;
};

/**
 * W3 and W4 of this build and of the baseline, each in a process of its own, taking turns
 * (this, baseline, this, baseline): the mean of each build's two runs.
 */
function inProcessAB(baseline: string): { current: InProcess; baseline: InProcess } {
  const run = (dist: string | undefined): InProcess => {
    const out = spawnSync(process.execPath, ["--import", "tsx", "bench/inprocess-cli.ts"], {
      env: { ...process.env, ...(dist && { DIST: dist }), W3_RUNS: "100", W4_RUNS: "30" },
      encoding: "utf8",
      maxBuffer: 64 * 1024 * 1024,
    });
    if (out.status !== 0) throw new Error(`bench/inprocess-cli.ts failed: ${out.stderr}`);
    return JSON.parse(out.stdout) as InProcess;
  };
  const runs = { current: [] as InProcess[], baseline: [] as InProcess[] };
  for (let turn = 0; turn < 2; turn++) {
    process.stderr.write(`A/B in-process, turn ${turn + 1}/2\n`);
    runs.current.push(run(undefined));
    runs.baseline.push(run(join(baseline, "index.js")));
  }
  const mean = (values: number[]) => values.reduce((sum, v) => sum + v, 0) / values.length;
  const merge = (all: InProcess[]): InProcess => {
    const [first] = all as [InProcess];
    return {
      w3: {
        ...first.w3,
        persistedMs: mean(all.map((r) => r.w3.persistedMs)),
        trackedLoopMs: mean(all.map((r) => r.w3.trackedLoopMs)),
        plainRequestMs: mean(all.map((r) => r.w3.plainRequestMs)),
      },
      w4: first.w4.map((row, i) => ({
        ...row,
        persistedMs: mean(all.map((r) => (r.w4[i] as typeof row).persistedMs)),
        maxLoopBlockMs: mean(all.map((r) => (r.w4[i] as typeof row).maxLoopBlockMs)),
        floorMs: mean(all.map((r) => (r.w4[i] as typeof row).floorMs)),
      })),
    };
  };
  return { current: merge(runs.current), baseline: merge(runs.baseline) };
}

/** This build beside the baseline, as ratios: W1/W2 from the same rounds, W3/W4 from inProcessAB. */
function abSection(
  ab: { current: InProcess; baseline: InProcess },
  rows: { side: string; w1: { rps: number; ratio: number }; w2: { rps: number; ratio: number } }[],
): string[] {
  const find = (name: string) => rows.find((r) => r.side === name);
  const pairs: [string, string][] = [
    ["hono-persist FileStore (durable)", "baseline: hono-persist FileStore (durable)"],
    ["hono-persist MemoryStore", "baseline: hono-persist MemoryStore"],
  ];
  const lines = [
    `## A/B: this build against the baseline (${process.env.BASELINE_LABEL ?? BASELINE})`,
    "",
    "W1 and W2: sides of the same rounds (W1 ratio to plain Hono measured right before each). W3 and W4: each build in a process of its own, taking turns twice; means. Below 1 in the last column: this build is faster (times) or slower (rates); read each row's unit.",
    "",
    "| Workload | this build | baseline | this / baseline |",
    "| --- | ---: | ---: | ---: |",
  ];
  for (const [current, baseline] of pairs) {
    const a = find(current);
    const b = find(baseline);
    if (!a || !b) continue;
    lines.push(
      `| W1 ${current}, vs plain | ${pct(a.w1.ratio)} | ${pct(b.w1.ratio)} | ${round2(a.w1.ratio / b.w1.ratio)} |`,
    );
    lines.push(
      `| W2 ${current}, req/s | ${a.w2.rps} | ${b.w2.rps} | ${round2(a.w2.rps / b.w2.rps)} |`,
    );
  }
  const { current: c, baseline: b } = ab;
  lines.push(
    `| W3 request, ms | ${round2(c.w3.persistedMs)} | ${round2(b.w3.persistedMs)} | ${round2(c.w3.persistedMs / b.w3.persistedMs)} |`,
  );
  lines.push(
    `| W3 the loop through the tracking Proxy, ms | ${round2(c.w3.trackedLoopMs)} | ${round2(b.w3.trackedLoopMs)} | ${round2(c.w3.trackedLoopMs / b.w3.trackedLoopMs)} |`,
  );
  c.w4.forEach((row, i) => {
    const base = b.w4[i] as typeof row;
    lines.push(
      `| W4 ${row.bytes.toLocaleString("en")} B request, ms | ${round2(row.persistedMs)} | ${round2(base.persistedMs)} | ${round2(row.persistedMs / base.persistedMs)} |`,
    );
    lines.push(
      `| W4 ${row.bytes.toLocaleString("en")} B longest loop block, µs | ${micros(row.maxLoopBlockMs)} | ${micros(base.maxLoopBlockMs)} | ${round2(row.maxLoopBlockMs / base.maxLoopBlockMs)} |`,
    );
  });
  lines.push("");
  return lines;
}

/** The median of the side's per-round ratios to plain Hono (W1: measured right before it). */
function ratio(side: Side, plain: Side, w: "w1" | "w2"): number {
  return median(
    side[w].map((result, round) => {
      const before = w === "w1" && side !== plain ? side.plainBefore[round] : undefined;
      return result.rps / ((before ?? (plain[w][round] as LoadResult).rps) || 1);
    }),
  );
}

function summary(side: Side, plain: Side, w: "w1" | "w2") {
  return {
    rps: Math.round(median(side[w].map((r) => r.rps))),
    ratio: ratio(side, plain, w),
    p99: median(side[w].map((r) => r.p99)),
    lost: side[w].reduce((s, r) => s + r.lost, 0),
    cpuUs: Math.round(median(side.cpuPerRequest[w])),
    answered: side[w].reduce((s, r) => s + r.ok, 0),
    errors: side[w].reduce((s, r) => s + r.errors, 0),
  };
}

/** `BENCH=stores`: W1 and W2 of the store sides, in a results file of their own. */
function writeStores(sides: Side[], plain: Side): void {
  const machine = `${cpus().length} × ${cpus()[0]?.model ?? "CPU"}, Node ${process.version}, ${new Date().toISOString().slice(0, 10)}`;
  const rows = sides.map((side) => ({
    side: side.name,
    w1: summary(side, plain, "w1"),
    w2: summary(side, plain, "w2"),
  }));
  const table = (w: "w1" | "w2") => [
    "| Side | req/s | vs plain | p99 ms | lost updates | server CPU µs per request |",
    "| --- | ---: | ---: | ---: | ---: | ---: |",
    ...rows.map(
      (r) =>
        `| ${r.side} | ${r[w].rps} | ${pct(r[w].ratio)} | ${r[w].p99} | ${r[w].lost}${r[w].answered ? ` (${pct(r[w].lost / r[w].answered)})` : ""} | ${r[w].cpuUs} |`,
    ),
  ];
  const markdown = [
    "# Benchmark results: the stores side by side",
    "",
    `${machine}. \`BENCH=stores npm run bench\`: plain Hono and every side with a store, in one run; ${ROUNDS} rounds of ${SECONDS} s per side and workload, sides in rotating order, medians; W1 ratios are to plain Hono measured right before each side, W2 ratios to plain Hono in the same round. Redis, the Redis Cluster (3 masters, no replicas) and PostgreSQL (fsync off, as in the tests) run on this machine, started by the bench${pinned ? "; the servers and redis-server on CPUs 1 and up, the runner on CPU 0 (the cluster's nodes and PostgreSQL are not pinned)" : ""}.`,
    "",
    "## W1: one browser, 10 concurrent connections (read state, increment, render a small page)",
    "",
    ...table("w1"),
    "",
    `## W2: ${SESSIONS} browsers, requests spread over them`,
    "",
    ...table("w2"),
    "",
  ].join("\n");
  console.log(markdown);
  const results = `bench/results-stores-node${process.versions.node.split(".")[0] ?? ""}`;
  writeFileSync(`${results}.md`, markdown);
  writeFileSync(
    `${results}.json`,
    `${JSON.stringify({ machine, rounds: ROUNDS, seconds: SECONDS, rows }, null, 2)}\n`,
  );
  rmSync(scratch, { recursive: true, force: true });
}

async function main() {
  const redisServer = await redis();
  // The cluster's nodes are not pinned to the servers' CPUs as the single redis-server is.
  const redisCluster = hasRedisCluster() ? await startRedisCluster() : undefined;
  // A throwaway PostgreSQL (fsync off, as in the tests), both PostgreSQL sides on one server.
  const postgres = hasPostgresServer() ? await startPostgresServer() : undefined;
  const side = (name: string, file: string, env: Record<string, string>): Side => ({
    name,
    file,
    env,
    w1: [],
    w2: [],
    plainBefore: [],
    writes: { w1: [], w2: [] },
    cpuPerRequest: { w1: [], w2: [] },
  });
  const sides: Side[] = [
    side("plain Hono (ceiling)", "plain.ts", {}),
    side("plain Hono + AsyncLocalStorage.run (no state)", "plain-als.ts", {}),
    side(
      "plain Hono + an AsyncLocalStorage middleware that reads the Cookie and awaits the handler (no state)",
      "plain-als-session.ts",
      {},
    ),
    side(
      "that middleware + superjson.stringify of the state after each request",
      "plain-als-session.ts",
      { SAVE: "each" },
    ),
    side(
      "that middleware + one superjson write per browser and turn of the event loop, answering after it (group commit)",
      "plain-als-session.ts",
      { SAVE: "turn" },
    ),
    side(
      "that middleware + the least `@persist` does: each browser's state found through AsyncLocalStorage in the handler, a Proxy noting writes, superjson.stringify of a changed state after each request",
      "plain-als-session.ts",
      { SAVE: "each", SHAPE: "1" },
    ),
    side(
      "the same, with one superjson write per changed browser and turn, answering after it",
      "plain-als-session.ts",
      { SAVE: "turn", SHAPE: "1" },
    ),
    side("hono-persist FileStore (durable)", "hono-persist.ts", { DIR: join(scratch, "persist") }),
    side("hono-persist MemoryStore", "hono-persist.ts", { STORE: "memory" }),
    ...(BASELINE
      ? [
          side("baseline: hono-persist FileStore (durable)", "hono-persist.ts", {
            DIR: join(scratch, "persist-baseline"),
            DIST: join(BASELINE, "index.js"),
          }),
          side("baseline: hono-persist MemoryStore", "hono-persist.ts", {
            STORE: "memory",
            DIST: join(BASELINE, "index.js"),
          }),
        ]
      : []),
    ...(redisServer
      ? [
          side("hono-persist RedisStore", "hono-persist.ts", {
            STORE: "redis",
            REDIS_URL: redisServer.url,
          }),
        ]
      : []),
    ...(redisCluster
      ? [
          side("hono-persist RedisStore, Redis Cluster of 3 masters", "hono-persist.ts", {
            STORE: "redis-cluster",
            REDIS_URL: redisCluster.urls.join(","),
          }),
        ]
      : []),
    ...(postgres
      ? [
          side("hono-persist PostgresStore", "hono-persist.ts", {
            STORE: "postgres",
            PG_URL: postgres.url,
          }),
        ]
      : []),
    side("express-session + session-file-store", "express-session.ts", {
      DIR: join(scratch, "express"),
    }),
    ...(postgres
      ? [
          side("express-session + connect-pg-simple", "express-session.ts", {
            PG_URL: postgres.url,
          }),
        ]
      : []),
    side("hono-sessions (memory)", "hono-sessions.ts", {}),
  ];
  if (STORES_ONLY) sides.splice(0, sides.length, ...sides.filter((s) => STORE_SIDES.test(s.name)));
  const plain = sides[0] as Side;
  // Plain Hono runs throughout; every other side runs in a process started for its turn and
  // ended after it. Kept between turns (stopped with SIGSTOP while the others ran), a server
  // ran slower in later rounds than in the first (plain Hono + AsyncLocalStorage.run: 64.6k
  // req/s with 15 µs of CPU per request, then 52.5k with 18 µs), and left running, the others
  // slowed the one measured.
  plain.server = await startServer(plain.file, plain.env);
  pinRunner(true);
  /**
   * Plain Hono's W1, measured right before another side's: that side's W1 ratio is to it, so
   * that drift over the run hits both alike.
   */
  const plainW1 = async (): Promise<number> => {
    const { url } = plain.server as Server;
    const cookie = await newSession(url);
    await load(url, [cookie], 10, 1); // warm-up
    const { rps } = await load(url, [cookie], 10, SECONDS);
    process.stderr.write(`  plain Hono's w1 before it: ${Math.round(rps)} req/s\n`);
    return rps;
  };
  const disk: { one: number[]; many: number[] } = { one: [], many: [] };

  for (let round = 0; round < ROUNDS; round++) {
    // Each round starts with another side, so drift over time hits every side alike.
    const order = sides.map((_, i) => sides[(i + round) % sides.length] as Side);
    for (const side of order) {
      process.stderr.write(`round ${round + 1}/${ROUNDS}: ${side.name}\n`);
      if (side !== plain) {
        side.plainBefore.push(await plainW1());
        side.server = await startServer(side.file, side.env);
      }
      const { url } = side.server as Server;
      const cookie = await newSession(url);
      await load(url, [cookie], 10, 1); // warm-up
      await measure(side, [cookie], "w1");
      // New browsers for each process: a MemoryStore's are gone with the process before.
      const browsers = await mapLimited(Array.from({ length: SESSIONS }), () => newSession(url));
      await measure(side, browsers, "w2");
      if (round === ROUNDS - 1) {
        side.rssAfterW2 = rssMiB(side.server?.child.pid as number);
        side.heapAfterW2 = (await stats(url))?.heapMiB;
      }
      if (side !== plain) await stopServer(side);
    }
    if (STORES_ONLY) continue;
    // The disk's limit is measured with every CPU, as before the pinning.
    pinRunner(false);
    disk.one.push(diskLimit(1));
    disk.many.push(diskLimit(SESSIONS));
    pinRunner(true);
  }
  await stopServer(plain);
  redisServer?.stop();
  await redisCluster?.dispose();
  await postgres?.dispose();
  // The in-process workloads have the machine to themselves, writer thread included.
  pinRunner(false);
  if (STORES_ONLY) return writeStores(sides, plain);

  process.stderr.write("in-process workloads (W3, W4, W5)\n");
  const w3 = await manyWrites(200);
  const w4 = await stateSizes(60);
  const w5 = await manyFiles(300);
  const ab = BASELINE ? inProcessAB(BASELINE) : undefined;

  const rows = sides.map((side) => ({
    side: side.name,
    w1: summary(side, plain, "w1"),
    w2: summary(side, plain, "w2"),
    writesPerRequest: {
      w1: side.writes.w1.length ? median(side.writes.w1) : undefined,
      w2: side.writes.w2.length ? median(side.writes.w2) : undefined,
    },
    rssAfterW2MiB: side.rssAfterW2,
    heapAfterW2MiB: side.heapAfterW2 === undefined ? undefined : round1(side.heapAfterW2),
  }));
  const diskOne = median(disk.one);
  const diskMany = median(disk.many);
  const named = (prefix: string) =>
    rows.find((r) => r.side.startsWith(prefix)) as (typeof rows)[number];
  const file = named("hono-persist FileStore");
  const memory = named("hono-persist MemoryStore");
  const als = named("plain Hono + AsyncLocalStorage.run");
  const alsSession = named("plain Hono + an AsyncLocalStorage middleware");
  const saveEach = named("that middleware + superjson.stringify");
  const saveTurn = named("that middleware + one superjson write");
  const shapeEach = named("that middleware + the least `@persist` does");
  const shapeTurn = named("the same, with one superjson write per changed browser");
  // The least a design with hono-persist's API (AsyncLocalStorage, a Proxy) and superjson
  // writes can do: the better of a write per request and one per turn.
  const memoryBound = Math.max(shapeEach.w1.ratio, shapeTurn.w1.ratio);
  const w2Target = Math.min(0.8 * diskMany, 0.5 * (rows[0]?.w2.rps ?? 0));
  const targets = [
    {
      target: "W1 FileStore ≥ 40% of plain Hono, 0 lost",
      value: `${pct(file.w1.ratio)}, ${file.w1.lost} lost`,
      met: file.w1.ratio >= 0.4 && file.w1.lost === 0,
    },
    {
      target: `W2 FileStore ≥ min(80% of disk ${Math.round(diskMany)}/s, 50% of plain) = ${Math.round(w2Target)} req/s`,
      value: `${file.w2.rps} req/s`,
      met: file.w2.rps >= w2Target,
    },
    {
      target: "W3 ≤ 5× the same request on a plain object, 1 write",
      value: `${round1(w3.ratio)}×, ${w3.writesPerRequest} write (bound of any Proxy-tracking durable design here: ${round1(w3.boundRatio)}×)`,
      met: w3.ratio <= 5 && w3.writesPerRequest === 1,
    },
    {
      target: "W4 ≤ 1.5× the superjson + write floor at every size",
      value: `${w4.map((r) => `${round1(r.ratio)}×`).join(", ")} (vs the same write in a plain Hono request: ${w4.map((r) => `${round1(r.requestRatio)}×`).join(", ")})`,
      met: w4.every((r) => r.ratio <= 1.5),
    },
    {
      target: "W4 event loop blocked no longer than the serialization",
      value: `${w4
        .map((r) => `${micros(r.maxLoopBlockMs)} vs ${micros(r.serializeMs)} µs`)
        .join(
          ", ",
        )} (bound, the least durable design that serializes on the event loop, in a turn of its own, and writes on a thread: ${w4.map((r) => micros(r.leastBlockMs)).join(", ")} µs; the same request read-only: ${w4.map((r) => micros(r.readOnlyBlockMs)).join(", ")} µs; hono-persist's serialization alone: ${w4.map((r) => micros(r.encodeMs)).join(", ")} µs)`,
      met: w4.every((r) => r.maxLoopBlockMs <= r.serializeMs),
    },
    {
      target: "MemoryStore W1 ≥ 80% of plain Hono",
      value: `${pct(memory.w1.ratio)} (bound, the least \`@persist\` can do on AsyncLocalStorage, a Proxy and superjson: ${pct(memoryBound)}, the better of a write per request, ${pct(shapeEach.w1.ratio)}, and one per turn, ${pct(shapeTurn.w1.ratio)}; without the Proxy and per-browser state: ${pct(saveEach.w1.ratio)} and ${pct(saveTurn.w1.ratio)}; with no write: ${pct(alsSession.w1.ratio)}; AsyncLocalStorage.run alone: ${pct(als.w1.ratio)})`,
      met: memory.w1.ratio >= 0.8,
    },
  ];

  const machine = `${cpus().length} × ${cpus()[0]?.model ?? "CPU"}, Node ${process.version}, ${new Date().toISOString().slice(0, 10)}`;
  const lines = [
    "# Benchmark results",
    "",
    `${machine}. ${ROUNDS} rounds of ${SECONDS} s per side and workload, sides in rotating order, medians; W1 ratios are to plain Hono measured right before each side, W2 ratios to plain Hono in the same round. Load: autocannon, 10 connections, from the runner process (W1: the browser's cookie as a fixed header; W2: one of the browsers' cookies per request); each server in its own process${pinned ? ", the servers (and redis-server) on CPUs 1 and up, the runner on CPU 0 while it loads them" : ", not pinned to CPUs (no taskset, or one CPU)"}. Produced by \`npm run bench\`.`,
    "",
    "## Targets",
    "",
    "| Target | Measured | Met |",
    "| --- | --- | --- |",
    ...targets.map((t) => `| ${t.target} | ${t.value} | ${t.met ? "yes" : "**no**"} |`),
    "",
    "## W1: one browser, 10 concurrent connections (read state, increment, render a small page)",
    "",
    "| Side | req/s | vs plain | p99 ms | answered | lost updates | store writes per request | server CPU µs per request |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ...rows.map(
      (r) =>
        `| ${r.side} | ${r.w1.rps} | ${pct(r.w1.ratio)} | ${r.w1.p99} | ${r.w1.answered} | ${r.w1.lost}${r.w1.answered ? ` (${pct(r.w1.lost / r.w1.answered)})` : ""} | ${writesCell(r.writesPerRequest.w1)} | ${r.w1.cpuUs} |`,
    ),
    `| disk limit: raw write + rename, one file | ${Math.round(diskOne)} writes/s | | | | | | |`,
    "",
    `FileStore wrote ${Math.round(file.w1.rps * (file.writesPerRequest.w1 ?? 0))} times a second to the browser's one file (concurrent requests share a write; a small state is appended to its file, which is rewritten whole and renamed in once it would pass 4 KB), ${pct((file.w1.rps * (file.writesPerRequest.w1 ?? 0)) / diskOne)} of the rate of whole-file replaces the disk allows for one file.`,
    "",
    `## W2: ${SESSIONS} browsers, requests spread over them`,
    "",
    "| Side | req/s | vs plain | p99 ms | lost updates | store writes per request | server CPU µs per request | RSS after, MiB | heap after, MiB |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ...rows.map(
      (r) =>
        `| ${r.side} | ${r.w2.rps} | ${pct(r.w2.ratio)} | ${r.w2.p99} | ${r.w2.lost} | ${writesCell(r.writesPerRequest.w2)} | ${r.w2.cpuUs} | ${r.rssAfterW2MiB ?? ""} | ${r.heapAfterW2MiB ?? ""} |`,
    ),
    `| disk limit: raw write + rename over ${SESSIONS} files | ${Math.round(diskMany)} writes/s | | | | | | | |`,
    "",
    "## W3: 10,000 `items.push` in one request (FileStore)",
    "",
    `Request ${round2(w3.persistedMs)} ms vs the same request with the loop on a plain object ${round2(w3.plainRequestMs)} ms: ${round1(w3.ratio)}×; ${w3.writesPerRequest} file write per request (10,000 numbers serialized).`,
    "",
    "| Part, measured alone | ms |",
    "| --- | ---: |",
    `| the loop on a plain object | ${round2(w3.plainLoopMs)} |`,
    `| the loop through hono-persist's tracking Proxy | ${round2(w3.trackedLoopMs)} |`,
    `| the loop through bare Proxies (traps that only hand out the cached child and \`push\`) | ${round2(w3.bareProxyLoopMs)} |`,
    `| saving the final state: superjson + write + rename | ${round2(w3.saveMs)} |`,
    "",
    `The least any design that tracks writes with Proxies and saves before responding adds: plain request + (bare-Proxy loop − plain loop) + save = ${round1(w3.boundRatio)}× the plain request.`,
    "",
    "## W4: state size (FileStore, one changed request each)",
    "",
    "Every side measured in blocks of 10 calls (after 3 not counted), one block of each side in turn and the order rotated every round, so that drift of the machine hits all alike; times are trimmed means.",
    "",
    "| State | request ms | the same, read-only ms | floor: superjson + write + rename ms | vs floor | the floor in a plain Hono request ms | vs that | the least durable design ms |",
    "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ...w4.map(
      (r) =>
        `| ${r.bytes.toLocaleString("en")} B | ${round2(r.persistedMs)} | ${round2(r.readOnlyMs)} | ${round2(r.floorMs)} | ${round1(r.ratio)}× | ${round2(r.requestFloorMs)} | ${round1(r.requestRatio)}× | ${round2(r.leastMs)} |`,
    ),
    "",
    "The least durable design: the browser's state found through AsyncLocalStorage, a Proxy noting the change, superjson in a turn of the event loop of its own after the handler, the write on a thread, the response after it; no signed cookie, no check that the file is still the one last written, no appends.",
    "",
    "A whole write of the record (write a temporary file, rename it over the state file), alone, on the event loop and through a thread that does nothing else (the loop's part: `postMessage`, the structured clone of the string). FileStore makes whole writes on its writer thread, and appends a record of up to 16 KB to a file this process last wrote while the file stays within 4 KB (or twice the record), on the event loop.",
    "",
    "| State | on the event loop ms | through a thread ms | of which the event loop's µs |",
    "| ---: | ---: | ---: | ---: |",
    ...w4.map(
      (r) =>
        `| ${r.bytes.toLocaleString("en")} B | ${round2(r.wholeHereMs)} | ${round2(r.wholeThreadMs)} | ${micros(r.handOffMs)} |`,
    ),
    "",
    "The event loop, µs: the longest stretch it went without coming round during a request (median over the requests), and the parts measured alone.",
    "",
    "| State | longest block: request | the same, read-only | the same, floor request | the same, least durable design | superjson alone | hono-persist's serialization alone |",
    "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ...w4.map(
      (r) =>
        `| ${r.bytes.toLocaleString("en")} B | ${micros(r.maxLoopBlockMs)} | ${micros(r.readOnlyBlockMs)} | ${micros(r.floorMaxLoopBlockMs)} | ${micros(r.leastBlockMs)} | ${micros(r.serializeMs)} | ${micros(r.encodeMs)} |`,
    ),
    "",
    "Superjson alone: in a loop of its own, its output made one flat string, as a write needs it (on Node 20 `JSON.stringify` returns pieces that the first reader joins: 0.5 ms at 1 MB).",
    "",
    "## W5: 100,000 state files in the directory",
    "",
    `Request latency with 100 files ${w5.latencyAt100FilesMs.toFixed(3)} ms, with 100,000 ${w5.latencyAt100kFilesMs.toFixed(3)} ms (${round1(w5.ratio)}×: no scans on the request path). Sweep of the directory: ${Math.round(w5.sweepMs)} ms (by lstat, ${w5.sweepRemoved} expired). Runner process after W5: RSS ${w5.rssMiB} MiB, heap ${w5.heapMiB} MiB.`,
    "",
  ];
  if (ab) lines.push(...abSection(ab, rows));
  const markdown = lines.join("\n");
  console.log(markdown);
  // One file per Node major: on Node 20, AsyncLocalStorage makes every promise cost more.
  const major = process.versions.node.split(".")[0] ?? "";
  const results = `bench/results-node${major}`;
  writeFileSync(`${results}.md`, markdown);
  writeFileSync(
    `${results}.json`,
    `${JSON.stringify({ machine, rounds: ROUNDS, seconds: SECONDS, targets, rows, disk: { one: diskOne, many: diskMany }, w3, w4, w5, ab }, null, 2)}\n`,
  );
  // Drawn from the file just written, so the README's chart cannot drift from the results.
  console.log(`chart: ${writeChart(major)}`);
  rmSync(scratch, { recursive: true, force: true });
}

if (process.env.BENCH === "ab") {
  if (!BASELINE)
    throw new Error("BENCH=ab needs BASELINE: the dist/ folder of the build to compare");
  await abUnused(BASELINE, scratch);
} else if (process.env.BENCH === "ab-inprocess") {
  if (!BASELINE)
    throw new Error("BENCH=ab-inprocess needs BASELINE: the dist/ folder of the build to compare");
  // In a process of its own: this one has loaded the current build already.
  const child = spawnSync(process.execPath, ["--import", "tsx", "bench/ab-inprocess.ts"], {
    stdio: "inherit",
    env: { ...process.env, BASELINE },
  });
  if (child.status !== 0) throw new Error("bench/ab-inprocess.ts failed");
} else await main();
