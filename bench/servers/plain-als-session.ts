// The least any session middleware built on AsyncLocalStorage does, with no state: read the
// Cookie header, run the handler inside `AsyncLocalStorage.run`, and go on after it (where a
// save would be). hono-persist's `MemoryStore` side does that plus its own work.
import { AsyncLocalStorage } from "node:async_hooks";
import { serve } from "@hono/node-server";
import { Hono } from "hono";
import { listening, page } from "./page.js";

const storage = new AsyncLocalStorage<{ cookie: string | undefined }>();
let count = 0;
const app = new Hono();
app.use(async (c, next) => {
  await storage.run({ cookie: c.req.header("Cookie") }, next);
});
app.get("/hit", (c) => c.html(page(++count)));
app.get("/count", (c) => c.text(String(count)));
serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" }, (info) => listening(info.port));
