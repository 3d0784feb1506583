// hono-persist with the store named by STORE (file: durable before the response; memory),
// in DIR for the file store.
import { serve } from "@hono/node-server";
import { Hono } from "hono";
import { FileStore, MemoryStore, persist, persistSession, type Store } from "../../dist/index.js";
import { listening, page, SECRET } from "./page.js";

@persist("counter")
class Counter {
  count = 0;
}

async function store(): Promise<Store> {
  if (process.env.STORE === "memory") return new MemoryStore();
  if (process.env.STORE === "redis") {
    const { RedisStore } = await import("../../dist/stores/redis.js");
    return new RedisStore({ url: process.env.REDIS_URL as string });
  }
  return new FileStore({ dir: process.env.DIR as string, sweepInterval: 0 });
}

const app = new Hono();
app.use(persistSession({ secret: SECRET, store: await store() }));
app.get("/hit", (c) => {
  const state = new Counter();
  state.count++;
  return c.html(page(state.count));
});
app.get("/count", (c) => c.text(String(new Counter().count)));
serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" }, (info) => listening(info.port));
