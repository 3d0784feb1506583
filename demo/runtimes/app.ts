import { Hono } from "hono";
import { FileStore, type Persisted, persist, persistSession } from "hono-persist";

/** One browser's visits: restored as a `Map`, a `Set` and a `Date`, not as plain JSON. */
@persist("visits")
export class Visits {
  count = 0;
  perPath = new Map<string, number>();
  agents = new Set<string>();
  last: Date | null = null;
}
export interface Visits extends Persisted {}

export const app = new Hono();
app.use(
  persistSession({
    secret: process.env.SESSION_SECRET ?? "", // at least 32 characters
    store: new FileStore({ dir: process.env.DATA_DIR ?? ".sessions" }),
    lock: process.env.LOCK === "1", // hold each browser's state from load to save, across processes
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
