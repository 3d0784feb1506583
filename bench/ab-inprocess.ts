// `BENCH=ab-inprocess BASELINE=<dist> npm run bench`: this build against BASELINE in one
// process, through app.request() (no HTTP, whose noise on a shared 2-core machine hides
// costs under ~10%: bench/ab-unused-node24.md). A MemoryStore counter, W1 one browser, W2
// 1,000 browsers in turn (all cached: the hot path). Each round times every side once, in an
// order that alternates round by round; the figure is the median, over rounds, of each round's
// ratio to the baseline. The baseline loaded a second time, from a copy, is the A/A control:
// what the method reads when nothing differs.
import { cpSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { Hono } from "hono";

type Library = typeof import("../dist/index.js");

const ROUNDS = Number(process.env.ROUNDS ?? 15);
const REQUESTS = Number(process.env.REQUESTS ?? 10_000);
const BASELINE = resolve(process.env.BASELINE ?? ".baseline/dist");

async function make(dist: string) {
  const { MemoryStore, persist, persistSession } = (await import(dist)) as Library;
  const Counter = persist("counter")(
    class Counter {
      count = 0;
    },
  );
  const app = new Hono();
  app.use(
    persistSession({
      secret: "benchmark-secret-that-is-at-least-32-characters",
      store: new MemoryStore({ sweepInterval: 0 }),
      cacheSize: 2000,
    }),
  );
  app.get("/hit", (c) => {
    new Counter().count++;
    return c.text("ok");
  });
  const cookieOf = (response: Response) =>
    (response.headers.get("set-cookie") ?? "").split(";")[0] ?? "";
  const cookie = cookieOf(await app.request("/hit"));
  const cookies: string[] = [];
  for (let i = 0; i < 1000; i++) cookies.push(cookieOf(await app.request("/hit")));
  return { app, cookie, cookies };
}

type Side = Awaited<ReturnType<typeof make>>;

/** µs per request. */
async function time(side: Side, w2: boolean): Promise<number> {
  const start = performance.now();
  for (let i = 0; i < REQUESTS; i++) {
    const cookie = w2 ? (side.cookies[i % 1000] as string) : side.cookie;
    await side.app.request("/hit", { headers: { cookie } });
  }
  return ((performance.now() - start) / REQUESTS) * 1000;
}

// The copy sits beside the baseline, so that it resolves the same node_modules.
const copy = mkdtempSync(join(dirname(BASELINE), "aa-"));
cpSync(BASELINE, copy, { recursive: true });
const entry = (dist: string) => pathToFileURL(join(dist, "index.js")).href;
const sides = {
  baseline: await make(entry(BASELINE)),
  current: await make(new URL("../dist/index.js", import.meta.url).href),
  "baseline again": await make(entry(copy)),
};
rmSync(copy, { recursive: true, force: true });

type Name = keyof typeof sides;
const names = Object.keys(sides) as Name[];
const times: Record<string, number[]> = {};
for (let round = 0; round < ROUNDS; round++) {
  for (const w2 of [false, true]) {
    const order = round % 2 === 0 ? names : [...names].reverse();
    for (const name of order) {
      const label = `${w2 ? "W2" : "W1"} ${name}`;
      times[label] ??= [];
      times[label].push(await time(sides[name], w2));
    }
  }
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[values.length >> 1] ?? 0;
const rows: string[] = [];
const json: Record<string, unknown> = {};
for (const w of ["W1", "W2"]) {
  const base = times[`${w} baseline`] ?? [];
  for (const name of ["current", "baseline again"] as const) {
    const own = times[`${w} ${name}`] ?? [];
    const ratios = own.map((value, i) => value / (base[i] ?? value));
    const figure = {
      us: median(own),
      baselineUs: median(base),
      ratio: median(ratios),
      min: Math.min(...ratios),
      max: Math.max(...ratios),
      above: ratios.filter((ratio) => ratio > 1).length,
    };
    json[`${w} ${name}`] = figure;
    rows.push(
      `| ${w} | ${name === "current" ? "this build / baseline" : "A/A: baseline again / baseline"} | ${figure.us.toFixed(2)} | ${figure.baselineUs.toFixed(2)} | ${figure.ratio.toFixed(3)} | ${figure.min.toFixed(3)}–${figure.max.toFixed(3)} | ${figure.above}/${ratios.length} |`,
    );
  }
}
const label = process.env.BASELINE_LABEL ?? BASELINE;
const report = [
  "# In-process A/B: this build against the baseline",
  "",
  `${process.version}, ${new Date().toISOString().slice(0, 10)}, baseline ${label}. \`BENCH=ab-inprocess BASELINE=<dist> npm run bench\`: ${ROUNDS} rounds of ${REQUESTS.toLocaleString("en-US")} \`app.request()\` per side and workload, sides in an order alternating round by round; medians of each round's time ratio to the baseline (above 1: slower).`,
  "",
  "| W | sides | µs per request | baseline µs | ratio, median | min–max | rounds above 1 |",
  "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
  ...rows,
  "",
].join("\n");
const out = process.env.OUT ?? "bench/ab-inprocess-node24";
writeFileSync(`${out}.md`, report);
writeFileSync(
  `${out}.json`,
  `${JSON.stringify({ label, rounds: ROUNDS, figures: json }, null, 2)}\n`,
);
console.log(report);
