// MemoryStore, which the Workers entry exports, made where a Worker makes its middleware: at
// the top level of its module (test/workers.test.ts).
import { env } from "cloudflare:workers";
import { Hono } from "hono";
import { MemoryStore, persist, persistSession } from "../../src/workerd.js";

export { PersistDurableObject } from "../../src/stores/durable-object.js";

@persist("visits")
class Visits {
  count = 0;
}

const app = new Hono();
app.use(
  persistSession({
    secret: (env as { SESSION_SECRET: string }).SESSION_SECRET,
    store: new MemoryStore(),
  }),
);
app.post("/visit", (c) => c.text(String(++new Visits().count)));

export default app;
