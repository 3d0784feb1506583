// The ceiling: plain Hono, the count in a process variable (no session, no I/O).
import { serve } from "@hono/node-server";
import { Hono } from "hono";
import { listening, page } from "./page.js";

let count = 0;
const app = new Hono();
app.get("/hit", (c) => c.html(page(++count)));
app.get("/count", (c) => c.text(String(count)));
serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" }, (info) => listening(info.port));
