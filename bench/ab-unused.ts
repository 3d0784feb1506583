// `BENCH=ab BASELINE=<dist> npm run bench`: what options `hooks` and `user` cost when unused
// (this build against BASELINE, the build before them), what `hooks` cost when used, and the
// same method against itself (A/A: the baseline twice) for the noise floor. W1 and W2 on
// MemoryStore and FileStore. Every round and store starts the four sides' servers afresh and
// loads them in slices 1 2 3 4 4 3 2 1 (the next round 4 3 2 1 1 2 3 4): every side's slices
// centre on the same moment, so that drift of the shared machine hits all sides alike, and
// the process-to-process spread is in every pair. Bounded by BUDGET seconds: a round that
// would not end within it is not started.
// Environment: PAIRS (rounds, default 10), SECONDS per side and workload in a round (two
// slices of whole seconds: autocannon stops on its 1 s tick; default 2), BUDGET (default
// 560), BASELINE_LABEL (how the results name the baseline).
import { once } from "node:events";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { pinned, pinRunner } from "./cpus.js";
import { get, hammer, mapLimited, newSession, type Server, startServer } from "./http.js";

const PAIRS = Number(process.env.PAIRS ?? 10);
const SECONDS = Number(process.env.SECONDS ?? 2);
const BUDGET = Number(process.env.BUDGET ?? 560);
const BROWSERS = 1000;

type Store = "MemoryStore" | "FileStore";
type Workload = "W1" | "W2";
const STORES: Store[] = ["MemoryStore", "FileStore"];
const WORKLOADS: Workload[] = ["W1", "W2"];

interface Figures {
  rps: number;
  /** Server CPU time per answered request, µs (`process.cpuUsage()` of the server). */
  cpuUs: number;
  p99: number;
  /** Hook calls per answered request (0 without hooks). */
  events: number;
  /** Store writes per answered request. */
  writes: number;
}
type Measurement = Record<Workload, Figures>;

interface Side {
  name: string;
  env: Record<string, string>;
  runs: Record<Store, Measurement[]>;
}

/** One row of the results: `of` against `to`, both from the same rounds. */
interface Comparison {
  name: string;
  of: Side;
  to: Side;
}

interface Stats {
  ratios: number[];
  median: number;
  min: number;
  max: number;
  /** How many pairs fell below 1. */
  below: number;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

function statsOf(ratios: number[]): Stats {
  return {
    ratios,
    median: median(ratios),
    min: Math.min(...ratios),
    max: Math.max(...ratios),
    below: ratios.filter((r) => r < 1).length,
  };
}

async function stats(url: string) {
  return (await (await get(`${url}/stats`)).json()) as {
    writes: number;
    events: number;
    cpuMicros: number;
  };
}

/** Totals of a side's slices on one store and workload in one round. */
interface Tally {
  ok: number;
  seconds: number;
  cpuMicros: number;
  events: number;
  writes: number;
  p99: number[];
}

const tally = (): Tally => ({ ok: 0, seconds: 0, cpuMicros: 0, events: 0, writes: 0, p99: [] });

/** One slice of load, the server's CPU time read right around it (no read-backs inside). */
async function slice(url: string, cookies: string[], into: Tally): Promise<void> {
  const before = await stats(url);
  const start = performance.now();
  const result = await hammer(url, cookies, 10, SECONDS / 2);
  into.seconds += (performance.now() - start) / 1000;
  const after = await stats(url);
  if (result.errors || !result.ok)
    throw new Error(`${result.errors} errors, ${result.ok} answered`);
  into.ok += result.ok;
  into.cpuMicros += after.cpuMicros - before.cpuMicros;
  into.events += after.events - before.events;
  into.writes += after.writes - before.writes;
  into.p99.push(result.p99);
}

const figures = (t: Tally): Figures => ({
  rps: t.ok / t.seconds,
  cpuUs: t.cpuMicros / t.ok,
  p99: Math.max(...t.p99),
  events: t.events / t.ok,
  writes: t.writes / t.ok,
});

/**
 * One round on one store: the sides' servers started, each warmed up and given its browsers in
 * turn, then W1 and W2 in slices `order` then reversed. Returns each side's figures.
 */
async function round(sides: Side[], store: Store, scratch: string): Promise<Measurement[]> {
  const dirs = sides.map(() =>
    store === "FileStore" ? mkdtempSync(join(scratch, "file-")) : undefined,
  );
  const servers: Server[] = [];
  try {
    let t = performance.now();
    const lap = (what: string) => {
      process.stderr.write(
        `  ${store} ${what}: ${((performance.now() - t) / 1000).toFixed(1)} s\n`,
      );
      t = performance.now();
    };
    // Started together: loading the modules waits on the disk as much as on the CPU.
    const started = await Promise.allSettled(
      sides.map((side, i) =>
        startServer("hono-persist.ts", {
          ...side.env,
          ...(dirs[i] ? { DIR: dirs[i] } : { STORE: "memory" }),
        }),
      ),
    );
    for (const s of started) if (s.status === "fulfilled") servers.push(s.value);
    for (const s of started) if (s.status === "rejected") throw s.reason;
    lap("start");
    const one: string[] = [];
    const many: string[][] = [];
    for (const { url } of servers) {
      const cookie = await newSession(url);
      await hammer(url, [cookie], 10, 1); // warm-up
      one.push(cookie);
    }
    lap("warm-up");
    for (const { url } of servers) {
      many.push(await mapLimited(Array.from({ length: BROWSERS }), () => newSession(url)));
    }
    lap("browsers");
    const slices = [...servers.keys(), ...[...servers.keys()].reverse()];
    const w1 = sides.map(tally);
    for (const i of slices)
      await slice((servers[i] as Server).url, [one[i] as string], w1[i] as Tally);
    const w2 = sides.map(tally);
    for (const i of slices)
      await slice((servers[i] as Server).url, many[i] as string[], w2[i] as Tally);
    lap("slices");
    return sides.map((side, i) => {
      const m = { W1: figures(w1[i] as Tally), W2: figures(w2[i] as Tally) };
      process.stderr.write(
        `  ${side.name}, ${store}: W1 ${Math.round(m.W1.rps)} req/s ${Math.round(m.W1.cpuUs)} µs, W2 ${Math.round(m.W2.rps)} req/s ${Math.round(m.W2.cpuUs)} µs\n`,
      );
      return m;
    });
  } finally {
    for (const { child } of servers) {
      const exited = once(child, "exit");
      child.kill();
      await exited;
    }
    for (const dir of dirs) if (dir) rmSync(dir, { recursive: true, force: true });
  }
}

const r2 = (value: number) => value.toFixed(2);
const r3 = (value: number) => value.toFixed(3);

export async function abUnused(baseline: string, scratch: string): Promise<void> {
  const started = Date.now();
  const loadBefore = loadavg();
  const side = (name: string, env: Record<string, string>): Side => ({
    name,
    env,
    runs: { MemoryStore: [], FileStore: [] },
  });
  const dist = join(baseline, "index.js");
  const again = side("baseline, again", { DIST: dist });
  const base = side("baseline", { DIST: dist });
  const current = side("this build", {});
  const hooked = side("this build + hooks", { HOOKS: "1" });
  // Neighbours in this order: each comparison's two sides' slices run one right after the other.
  const order = [again, base, current, hooked];
  const comparisons: Comparison[] = [
    { name: "A/A: baseline / baseline (noise floor)", of: again, to: base },
    { name: "A/B: this build / baseline (`hooks`, `user` unused)", of: current, to: base },
    { name: "hooks used / none, this build", of: hooked, to: current },
  ];

  pinRunner(true);
  let rounds = 0;
  let roundSeconds = 0;
  for (let r = 0; r < PAIRS; r++) {
    const elapsed = (Date.now() - started) / 1000;
    if (r > 0 && elapsed + roundSeconds > BUDGET) {
      process.stderr.write(`budget of ${BUDGET} s: stopping after ${r} rounds\n`);
      break;
    }
    const roundStart = Date.now();
    // The order of the sides and of the stores reversed every other round.
    const sides = r % 2 ? [...order].reverse() : order;
    const stores = r % 2 ? [...STORES].reverse() : STORES;
    process.stderr.write(`round ${r + 1}/${PAIRS}\n`);
    for (const store of stores) {
      const measured = await round(sides, store, scratch);
      for (const [i, s] of sides.entries()) s.runs[store].push(measured[i] as Measurement);
    }
    rounds++;
    roundSeconds = Math.max(roundSeconds, (Date.now() - roundStart) / 1000);
  }
  pinRunner(false);

  const rows = comparisons.flatMap((c) =>
    STORES.flatMap((store) =>
      WORKLOADS.map((w) => {
        const pairs = c.of.runs[store].map((m, i) => [
          m[w],
          (c.to.runs[store][i] as Measurement)[w],
        ]);
        return {
          comparison: c.name,
          store,
          workload: w,
          rps: statsOf(pairs.map(([a, b]) => (a as Figures).rps / (b as Figures).rps)),
          cpu: statsOf(pairs.map(([a, b]) => (a as Figures).cpuUs / (b as Figures).cpuUs)),
        };
      }),
    ),
  );
  const sideRows = order.flatMap((s) =>
    STORES.map((store) => {
      const of = (w: Workload, k: keyof Figures) => median(s.runs[store].map((m) => m[w][k]));
      return {
        side: s.name,
        store,
        W1: { rps: of("W1", "rps"), cpuUs: of("W1", "cpuUs"), events: of("W1", "events") },
        W2: { rps: of("W2", "rps"), cpuUs: of("W2", "cpuUs"), events: of("W2", "events") },
        writes: { W1: of("W1", "writes"), W2: of("W2", "writes") },
      };
    }),
  );

  const minutes = ((Date.now() - started) / 60000).toFixed(1);
  const loadAfter = loadavg();
  const machine = `${cpus().length} × ${cpus()[0]?.model ?? "CPU"}, Node ${process.version} (${process.execPath}), ${new Date(started).toISOString().slice(0, 16).replace("T", " ")} UTC; load average ${loadBefore[0]?.toFixed(2)} at the start, ${loadAfter[0]?.toFixed(2)} at the end (other processes ran)`;
  const spread = (s: Stats) => `${r3(s.min)}–${r3(s.max)}`;
  const aa = (store: Store, w: Workload) =>
    rows.find(
      (r) => r.comparison === comparisons[0]?.name && r.store === store && r.workload === w,
    );
  const markdown = [
    "# A/B: options `hooks` and `user`, unused and used",
    "",
    `${machine}. Baseline: ${process.env.BASELINE_LABEL ?? baseline}. Produced by \`BENCH=ab BASELINE=<dist> npm run bench\` in ${minutes} min.`,
    "",
    "## Method",
    "",
    `Four sides, each \`bench/servers/hono-persist.ts\` (a \`@persist\` counter; \`GET /hit\` increments it and renders a small page) in a server process of its own, in this order: the baseline build again (for A/A), the baseline build, this build, and this build with option \`hooks\` set to all eight callbacks, each only counting its calls (to show that they ran). No side sets option \`user\`. ${rounds} rounds. In each round and store (MemoryStore; FileStore in a fresh directory per server), the four servers are started afresh; each in turn gets a browser, 1 s of warm-up load and ${BROWSERS} new browsers; then W1 (one browser, 10 connections) runs in slices of ${SECONDS / 2} s, one per side in the order above and then one per side in reverse (1 2 3 4 4 3 2 1), then W2 (10 connections, each request another of the ${BROWSERS} browsers', each request writes) the same; the next round starts from the other end (4 3 2 1 1 2 3 4), with the stores in the other order. So each side has ${SECONDS} s of each workload per round, and the slices of every side centre on the same moment: drift of the machine within a round hits all sides alike. Load: autocannon over loopback from the runner process${pinned ? "; the runner on CPU 0, the servers on CPUs 1 and up (`taskset`)" : ""}. req/s: requests answered over the slices' wall time. Server CPU: \`process.cpuUsage()\` of the server process (all its threads) read right before and after each slice, over the requests answered. A pair is one comparison's two sides in one round; its ratio is the first side's figure over the second's. The A/A and A/B pairs share the baseline's figures.`,
    "",
    "Reading: req/s below 1 and CPU above 1 mean the first side is slower. The A/A rows show how far two measurements of the same build fall apart with this method on this machine now; a difference smaller than their spread is not measured.",
    "",
    "## Pair ratios: median and spread",
    "",
    `| Comparison | Store | Workload | req/s ratio, median | min–max | pairs below 1 | CPU µs/request ratio, median | min–max |`,
    "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ...rows.map(
      (r) =>
        `| ${r.comparison} | ${r.store} | ${r.workload} | ${r3(r.rps.median)} | ${spread(r.rps)} | ${r.rps.below}/${r.rps.ratios.length} | ${r3(r.cpu.median)} | ${spread(r.cpu)} |`,
    ),
    "",
    "Each A/B median against the A/A spread of the same store and workload:",
    "",
    ...rows
      .filter((r) => r.comparison === comparisons[1]?.name)
      .map((r) => {
        const floor = aa(r.store, r.workload) as (typeof rows)[number];
        const inside = (s: Stats, f: Stats) =>
          s.median >= f.min && s.median <= f.max ? "within" : "**outside**";
        return `- ${r.store} ${r.workload}: req/s ${r3(r.rps.median)}, ${inside(r.rps, floor.rps)} A/A ${spread(floor.rps)}; CPU ${r3(r.cpu.median)}, ${inside(r.cpu, floor.cpu)} A/A ${spread(floor.cpu)}.`;
      }),
    "",
    "## Every pair's ratio, in round order",
    "",
    "| Comparison | Store | Workload | Figure | Ratios |",
    "| --- | --- | --- | --- | --- |",
    ...rows.flatMap((r) => [
      `| ${r.comparison} | ${r.store} | ${r.workload} | req/s | ${r.rps.ratios.map(r3).join(" ")} |`,
      `| ${r.comparison} | ${r.store} | ${r.workload} | CPU µs/request | ${r.cpu.ratios.map(r3).join(" ")} |`,
    ]),
    "",
    "## The sides: medians over the rounds",
    "",
    "| Side | Store | W1 req/s | W1 CPU µs/request | W2 req/s | W2 CPU µs/request | hook calls per request, W1 / W2 | store writes per request, W1 / W2 |",
    "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ...sideRows.map(
      (s) =>
        `| ${s.side} | ${s.store} | ${Math.round(s.W1.rps)} | ${r2(s.W1.cpuUs)} | ${Math.round(s.W2.rps)} | ${r2(s.W2.cpuUs)} | ${r2(s.W1.events)} / ${r2(s.W2.events)} | ${r2(s.writes.W1)} / ${r2(s.writes.W2)} |`,
    ),
    "",
  ].join("\n");
  console.log(markdown);
  const results = `bench/ab-unused-node${process.versions.node.split(".")[0] ?? ""}`;
  writeFileSync(`${results}.md`, markdown);
  writeFileSync(
    `${results}.json`,
    `${JSON.stringify(
      {
        machine,
        baseline: process.env.BASELINE_LABEL ?? baseline,
        rounds,
        seconds: SECONDS,
        browsers: BROWSERS,
        rows,
        sides: sideRows,
        runs: Object.fromEntries(order.map((s) => [s.name, s.runs])),
      },
      null,
      2,
    )}\n`,
  );
  rmSync(scratch, { recursive: true, force: true });
}
