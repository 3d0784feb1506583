/// <reference types="@cloudflare/workers-types" />
// Cloudflare Workers: npx wrangler dev (wrangler.toml beside this file)
import { env } from "cloudflare:workers";
import { Hono } from "hono";
import { type Persisted, persist, persistSession } from "hono-persist";
import { DurableObjectStore, type PersistDurableObject } from "hono-persist/cloudflare";

// The class wrangler.toml binds as PERSIST: Workers find it among the Worker's exports.
export { PersistDurableObject } from "hono-persist/cloudflare";

declare global {
  namespace Cloudflare {
    interface Env {
      PERSIST: DurableObjectNamespace<PersistDurableObject>;
      SESSION_SECRET: string;
    }
  }
}

/** One browser's visits: restored as a `Map`, a `Set` and a `Date`, not as plain JSON. */
@persist("visits")
export class Visits {
  count = 0;
  perPath = new Map<string, number>();
  agents = new Set<string>();
  last: Date | null = null;
}
export interface Visits extends Persisted {}

const app = new Hono();
app.use(
  persistSession({
    secret: env.SESSION_SECRET, // at least 32 characters
    store: new DurableObjectStore(env.PERSIST),
    lock: true, // one browser's requests may reach several isolates at once
  }),
);
app.post("/visit/:page", (c) => {
  const visits = new Visits();
  visits.count++;
  const page = c.req.param("page");
  visits.perPath.set(page, (visits.perPath.get(page) ?? 0) + 1);
  visits.agents.add(c.req.header("User-Agent") ?? "unknown");
  visits.last = new Date();
  return c.json({ count: visits.count });
});
app.get("/", (c) => {
  const { count, perPath, agents, last } = new Visits();
  return c.json({
    count,
    perPath: perPath instanceof Map ? Object.fromEntries(perPath) : "not a Map",
    agents: agents instanceof Set ? [...agents] : "not a Set",
    last: last === null || last instanceof Date ? last : "not a Date",
  });
});
app.post("/clear", async (c) => {
  await new Visits().clearCookieState();
  return c.json({ cleared: true });
});

export default app;
