import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { Hono } from "hono";
import { afterAll, expect, test } from "vitest";
import { FileStore, persist, persistSession } from "../../src/index.js";
import { livesOf } from "../../src/internal/scope.js";
import { SECRET, tempDir } from "../helpers.js";
import { figure } from "./figures.js";

const SESSIONS = 100_000;

@persist("memory")
class Counter {
  count = 0;
  history: number[] = [];
}

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;
const temp = tempDir();
// Removing 100,000 files took over 10 s (the default hook limit) on a loaded CI machine.
afterAll(() => temp.remove(), 120_000);

function heapMiB(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed / 2 ** 20;
}

test(`${SESSIONS.toLocaleString("en")} distinct sessions one after another: the heap stays flat`, async () => {
  const store = new FileStore({ dir: temp.dir, sweepInterval: 0 });
  const app = new Hono();
  app.use(persistSession({ secret: SECRET, store }));
  app.post("/", (c) => {
    const state = new Counter();
    state.count++;
    state.history.push(Date.now());
    return c.text("ok");
  });
  const serve = async (count: number) => {
    for (let i = 0; i < count; i++) {
      // No cookie: each request is a new browser, whose state is written once.
      const response = await app.request("/", { method: "POST" });
      if (response.status !== 200) throw new Error(`status ${response.status}`);
    }
  };
  await serve(5_000);
  const warm = heapMiB();
  await serve(SESSIONS - 5_000);
  const after = heapMiB();
  figure("memory", {
    sessions: SESSIONS,
    heapAfter5kMiB: Number(warm.toFixed(1)),
    heapAfter100kMiB: Number(after.toFixed(1)),
    growthMiB: Number((after - warm).toFixed(1)),
    liveInstancesCached: livesOf(store).size,
    rssMiB: Math.round(process.memoryUsage().rss / 2 ** 20),
  });
  // The default cache keeps the 1,000 most recent; 95,000 more sessions must not grow the heap.
  expect(livesOf(store).size).toBe(1000);
  expect(after - warm).toBeLessThan(16);
}, 120_000);
