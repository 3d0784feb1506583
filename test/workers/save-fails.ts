// A Worker whose store fails every save, with an `app.onError` that tries to read the state,
// as it may on Node; on workerd that throws, and the page shows why (test/workers.test.ts,
// "Hono's onError after a failed save").
import { env } from "cloudflare:workers";
import { Hono } from "hono";
import { persist, persistSession, type Store } from "../../src/workerd.js";

export { PersistDurableObject } from "../../src/stores/durable-object.js";

@persist("visits")
class Visits {
  count = 0;
}

// Nothing is ever stored: every save fails.
const failing: Store = {
  get: async () => undefined,
  set: () => Promise.reject(new Error("disk full")),
  delete: async () => {},
};

const app = new Hono();
app.use(
  persistSession({ secret: (env as { SESSION_SECRET: string }).SESSION_SECRET, store: failing }),
);
app.post("/visit", (c) => {
  new Visits().count++;
  return c.text("visited");
});
app.onError((error, c) => {
  try {
    return c.text(`error page, count ${new Visits().count}: ${error.message}`, 500);
  } catch (thrown) {
    return c.text(`error page, ${String(thrown)}; after: ${error.message}`, 500);
  }
});

export default app;
