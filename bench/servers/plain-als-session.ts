// The least any session middleware built on AsyncLocalStorage does (hono-persist's API needs
// it: `new State()` is given no context): read the Cookie header, run the handler inside
// `AsyncLocalStorage.run`, and go on after it. SAVE adds the least a save can be when every
// write is a superjson string, as hono-persist's are:
// - unset: no save at all;
// - "each": superjson.stringify of the state after every request, kept in a Map;
// - "turn": one write per browser for all its requests that end in the same turn of the event
//   loop (group commit), each request answered after it.
// SHAPE=1 adds the rest of the least `@persist` can do: the handler finds its browser's state
// through AsyncLocalStorage (a function call, cheaper than any `new`), as an object wrapped in
// a Proxy whose `set` notes the change; each browser has its own state, and only a changed one
// is written. No cookie is signed or checked (a remembered header costs a Map lookup).
// hono-persist's `MemoryStore` side does all of that (a write per turn) plus its own work.
import { AsyncLocalStorage } from "node:async_hooks";
import { serve } from "@hono/node-server";
import { Hono } from "hono";
import SuperJSON from "superjson";
import { listening, page } from "./page.js";

const save = process.env.SAVE;
const shape = process.env.SHAPE === "1";
const storage = new AsyncLocalStorage<{ cookie: string }>();
const stored = new Map<string, string>();
let count = 0;
let turn: Promise<void> | undefined;
// The browsers whose requests end in this turn: each gets its write.
const ending = new Set<string>();

interface Counter {
  count: number;
}
const browsers = new Map<string, { state: Counter; proxy: Counter }>();
const changed = new Set<string>();

/** The state of the request's browser (SHAPE=1), made on its first request. */
function current(): Counter {
  const { cookie } = storage.getStore() as { cookie: string };
  let browser = browsers.get(cookie);
  if (!browser) {
    const state = { count: 0 };
    const proxy = new Proxy(state, {
      set(target, key, value, receiver) {
        changed.add(cookie);
        return Reflect.set(target, key, value, receiver);
      },
    });
    browser = { state, proxy };
    browsers.set(cookie, browser);
  }
  return browser.proxy;
}

/** What is written for `browser`: its own state (SHAPE=1), else the process's count. */
function serialize(browser: string): string | undefined {
  if (!shape) return SuperJSON.stringify({ count });
  if (!changed.delete(browser)) return undefined;
  return SuperJSON.stringify(browsers.get(browser)?.state);
}

function endOfTurn(cookie: string): Promise<void> {
  ending.add(cookie);
  turn ??= new Promise((resolve) =>
    setImmediate(() => {
      turn = undefined;
      for (const browser of ending) {
        const data = serialize(browser);
        if (data !== undefined) stored.set(browser, data);
      }
      ending.clear();
      resolve();
    }),
  );
  return turn;
}

const app = new Hono();
app.use(async (c, next) => {
  let cookie = c.req.header("Cookie") ?? "";
  // SHAPE=1: a new browser gets an id of its own, so that W2's browsers are distinct.
  if (shape && cookie === "") {
    cookie = `sid=${crypto.randomUUID()}`;
    c.header("Set-Cookie", `${cookie}; Path=/; HttpOnly`);
  }
  await storage.run({ cookie }, next);
  if (save === "each") {
    const data = serialize(cookie);
    if (data !== undefined) stored.set(cookie, data);
  } else if (save === "turn") await endOfTurn(cookie);
});
app.get("/hit", (c) => {
  if (!shape) return c.html(page(++count));
  const state = current();
  state.count++;
  return c.html(page(state.count));
});
app.get("/count", (c) => c.text(String(shape ? current().count : count)));
serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" }, (info) => listening(info.port));
