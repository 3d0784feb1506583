// The least any session middleware built on AsyncLocalStorage does (hono-persist's API needs
// it: `new State()` is given no context): read the Cookie header, run the handler inside
// `AsyncLocalStorage.run`, and go on after it. SAVE adds the least a save can be when every
// write is a superjson string, as hono-persist's are:
// - unset: no save at all;
// - "each": superjson.stringify of the state after every request, kept in a Map;
// - "turn": one write per browser for all its requests that end in the same turn of the event
//   loop (group commit), each request answered after it.
// hono-persist's `MemoryStore` side does one of the last two (a turn) plus its own work.
import { AsyncLocalStorage } from "node:async_hooks";
import { serve } from "@hono/node-server";
import { Hono } from "hono";
import SuperJSON from "superjson";
import { listening, page } from "./page.js";

const save = process.env.SAVE;
const storage = new AsyncLocalStorage<{ cookie: string | undefined }>();
const stored = new Map<string, string>();
let count = 0;
let turn: Promise<void> | undefined;
// The browsers whose requests end in this turn: each gets its write.
const ending = new Set<string>();

function endOfTurn(cookie: string): Promise<void> {
  ending.add(cookie);
  turn ??= new Promise((resolve) =>
    setImmediate(() => {
      turn = undefined;
      for (const browser of ending) stored.set(browser, SuperJSON.stringify({ count }));
      ending.clear();
      resolve();
    }),
  );
  return turn;
}

const app = new Hono();
app.use(async (c, next) => {
  const cookie = c.req.header("Cookie") ?? "";
  await storage.run({ cookie }, next);
  if (save === "each") stored.set(cookie, SuperJSON.stringify({ count }));
  else if (save === "turn") await endOfTurn(cookie);
});
app.get("/hit", (c) => c.html(page(++count)));
app.get("/count", (c) => c.text(String(count)));
serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" }, (info) => listening(info.port));
