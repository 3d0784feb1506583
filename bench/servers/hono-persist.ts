// hono-persist with the store named by STORE (file: durable before the response, in DIR;
// memory; redis and redis-cluster at REDIS_URL; postgres at PG_URL). DIST: another build's
// index.js (`npm run bench` with BASELINE). HOOKS=1: option `hooks` with all eight callbacks,
// each only counting its calls (`BENCH=ab`).
import { serve } from "@hono/node-server";
import { Hono } from "hono";
import { createCluster } from "redis";
import type { Store } from "../../dist/index.js";
import { listening, page, SECRET } from "./page.js";

const { FileStore, MemoryStore, persist, persistSession } = (await import(
  process.env.DIST ?? "../../dist/index.js"
)) as typeof import("../../dist/index.js");

const Counter = persist("counter")(
  class Counter {
    count = 0;
  },
);

async function store(): Promise<Store> {
  if (process.env.STORE === "memory") return new MemoryStore();
  if (process.env.STORE === "redis" || process.env.STORE === "redis-cluster") {
    const { RedisStore } = (await import(
      process.env.DIST?.replace(/index\.js$/, "stores/redis.js") ?? "../../dist/stores/redis.js"
    )) as typeof import("../../dist/stores/redis.js");
    if (process.env.STORE === "redis")
      return new RedisStore({ url: process.env.REDIS_URL as string });
    // REDIS_URL: the cluster's nodes, comma-separated.
    const rootNodes = (process.env.REDIS_URL as string).split(",").map((url) => ({ url }));
    const client = await createCluster({ rootNodes })
      .on("error", () => undefined)
      .connect();
    return new RedisStore({ client });
  }
  if (process.env.STORE === "postgres") {
    const { PostgresStore } = (await import(
      process.env.DIST?.replace(/index\.js$/, "stores/postgres.js") ??
        "../../dist/stores/postgres.js"
    )) as typeof import("../../dist/stores/postgres.js");
    return new PostgresStore({ connectionString: process.env.PG_URL as string });
  }
  return new FileStore({ dir: process.env.DIR as string, sweepInterval: 0 });
}

// Counts store writes, for the runner's writes-per-request figure (group commit at work). Only
// `set` is wrapped, on the store itself: a wrapper object would hide what the store's class
// brings (an answer without a promise for a cached state, `lock`), which users get.
const counted = await store();
let writes = 0;
const set = counted.set.bind(counted);
counted.set = (id, data, ttl) => {
  writes++;
  return set(id, data, ttl);
};

let events = 0;
const count = () => {
  events++;
};
const hooks = {
  created: count,
  loaded: count,
  saved: count,
  cleared: count,
  regenerated: count,
  expired: count,
  quarantined: count,
  failed: count,
};

const app = new Hono();
// Before the middleware, so that reading the figures touches no state. `cpuMicros`: this
// process's CPU time (all its threads), to the µs.
app.get("/stats", (c) => {
  const { user, system } = process.cpuUsage();
  return c.json({
    writes,
    events,
    cpuMicros: user + system,
    heapMiB: process.memoryUsage().heapUsed / 2 ** 20,
  });
});
app.use(
  persistSession({ secret: SECRET, store: counted, ...(process.env.HOOKS === "1" && { hooks }) }),
);
app.get("/hit", (c) => {
  const state = new Counter();
  state.count++;
  return c.html(page(state.count));
});
app.get("/count", (c) => c.text(String(new Counter().count)));
serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" }, (info) => listening(info.port));
