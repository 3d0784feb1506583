// What any AsyncLocalStorage-based middleware costs: plain Hono with one `AsyncLocalStorage.run`
// around each request and nothing else (on Node 20 it turns on promise hooks for the process).
import { AsyncLocalStorage } from "node:async_hooks";
import { serve } from "@hono/node-server";
import { Hono } from "hono";
import { listening, page } from "./page.js";

const storage = new AsyncLocalStorage<object>();
let count = 0;
const app = new Hono();
app.use((_, next) => storage.run({}, next));
app.get("/hit", (c) => c.html(page(++count)));
app.get("/count", (c) => c.text(String(count)));
serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" }, (info) => listening(info.port));
