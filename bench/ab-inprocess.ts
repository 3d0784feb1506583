// Ad-hoc A/B in one process: app.request() of a MemoryStore counter, this build against
// BASELINE (a dist/ folder, default .baseline/dist), alternating, medians of 6 rounds of
// 20,000 requests. W1: one browser; W2: 1,000 browsers in turn. With CACHE=1000 (the default
// cacheSize) they and the W1 browser overflow the cache, so each W2 request loads its state
// from the store (the cold path); with CACHE=2000 every request reuses its cached instance.
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { Hono } from "hono";

type Library = typeof import("../dist/index.js");

async function make(dist: string) {
  const { MemoryStore, persist, persistSession } = (await import(dist)) as Library;
  const Counter = persist("counter")(
    class Counter {
      count = 0;
    },
  );
  const app = new Hono();
  const cacheSize = Number(process.env.CACHE ?? 1000);
  app.use(
    persistSession({
      secret: "benchmark-secret-that-is-at-least-32-characters",
      store: new MemoryStore(),
      cacheSize,
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
  const n = 20_000;
  const start = performance.now();
  for (let i = 0; i < n; i++) {
    const cookie = w2 ? (side.cookies[i % 1000] as string) : side.cookie;
    await side.app.request("/hit", { headers: { cookie } });
  }
  return ((performance.now() - start) / n) * 1000;
}

const current = await make(new URL("../dist/index.js", import.meta.url).href);
const baseline = await make(
  pathToFileURL(resolve(process.env.BASELINE ?? ".baseline/dist", "index.js")).href,
);
const runs = { currentW1: [0], baselineW1: [0], currentW2: [0], baselineW2: [0] };
for (const list of Object.values(runs)) list.length = 0;
for (let round = 0; round < 6; round++) {
  runs.currentW1.push(await time(current, false));
  runs.baselineW1.push(await time(baseline, false));
  runs.baselineW2.push(await time(baseline, true));
  runs.currentW2.push(await time(current, true));
}
const median = (values: number[]) => [...values].sort((a, b) => a - b)[values.length >> 1] ?? 0;
console.log(
  process.version,
  `cacheSize ${process.env.CACHE ?? 1000}`,
  Object.entries(runs)
    .map(([name, values]) => `${name} ${median(values).toFixed(2)} µs`)
    .join(", "),
);
