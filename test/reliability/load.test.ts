import { once } from "node:events";
import type { AddressInfo } from "node:net";
import { serve } from "@hono/node-server";
import { Hono } from "hono";
import { afterAll, beforeAll, expect, test } from "vitest";
import { FileStore, persist, persistInfo, persistSession } from "../../src/index.js";
import { Browser, SECRET, tempDir } from "../helpers.js";
import { figure } from "./figures.js";

@persist("load-counter")
class Counter {
  count = 0;
}

let url: string;
let server: ReturnType<typeof serve>;
let removeDir: () => void;
// Requests the server holds at once: the tests stay concurrent at the server, not only in the client.
let inFlight = 0;
let mostInFlight = 0;

beforeAll(async () => {
  const temp = tempDir();
  removeDir = temp.remove;
  const app = new Hono();
  app.use(async (_, next) => {
    mostInFlight = Math.max(mostInFlight, ++inFlight);
    try {
      await next();
    } finally {
      inFlight--;
    }
  });
  app.use(
    persistSession({ secret: SECRET, store: new FileStore({ dir: temp.dir, sweepInterval: 0 }) }),
  );
  app.post("/increment", (c) => {
    const state = new Counter();
    state.count++;
    return c.json({ id: persistInfo(state).id, count: state.count });
  });
  app.get("/", (c) => {
    const state = new Counter();
    return c.json({ id: persistInfo(state).id, count: state.count });
  });
  server = serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" });
  await once(server, "listening");
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => {
  server.close();
  removeDir();
});

type Reply = { id: string; count: number };

// Every request of a test is started at once, but at most this many are on the wire: 4,900
// connections opened together overflowed the server's listen backlog (511), and the dropped
// handshakes were retried by the kernel after 1, 3, 7, 15 s (or reset), so the test timed out
// on its own client while the server had nothing to do.
const CONNECTIONS = 100;
// Bounded so, each test is CPU work only: 3-10 s alone on 2 cores, up to 20 s beside two busy
// processes, hence three times that.
const LIMIT = 60_000;

/** Runs `task`s with at most `size` unfinished at once; the rest wait for a free slot. */
function pool(size: number): <T>(task: () => Promise<T>) => Promise<T> {
  let running = 0;
  const waiting: (() => void)[] = [];
  return async (task) => {
    if (running < size) running++;
    // A finishing task hands its slot over directly, so `running` stays at `size`.
    else await new Promise<void>((resolve) => waiting.push(resolve));
    try {
      return await task();
    } finally {
      const next = waiting.shift();
      if (next) next();
      else running--;
    }
  };
}

/** One request through `limit`, its body read before the slot (and its connection) is freed. */
async function send(
  limit: ReturnType<typeof pool>,
  browser: Browser,
  path: string,
  init?: RequestInit,
): Promise<{ status: number; body: Reply }> {
  return limit(async () => {
    const response = await browser.request(path, init);
    return { status: response.status, body: (await response.json()) as Reply };
  });
}

test(
  `1,000 concurrent increments of one session over ${CONNECTIONS} connections end at exactly 1,000`,
  async () => {
    const limit = pool(CONNECTIONS);
    mostInFlight = 0;
    const browser = new Browser(url);
    const first = (await send(limit, browser, "/increment", { method: "POST" })).body;
    const replies = await Promise.all(
      Array.from({ length: 999 }, async () =>
        send(limit, browser, "/increment", { method: "POST" }),
      ),
    );
    const final = (await send(limit, browser, "/")).body;
    const ok = replies.filter((reply) => reply.status === 200);
    figure("same-session", {
      sent: 1000,
      connections: CONNECTIONS,
      mostInFlightAtServer: mostInFlight,
      answered200: ok.length + 1,
      final: final.count,
      lost: 1000 - final.count,
    });
    expect(ok).toHaveLength(999);
    expect(replies.every((reply) => reply.body.id === first.id)).toBe(true);
    // Each increment answered with a distinct count: none applied twice, none lost.
    expect(new Set(replies.map((reply) => reply.body.count)).size).toBe(999);
    expect(final).toEqual({ id: first.id, count: 1000 });
  },
  LIMIT,
);

test(
  `100 sessions × 50 interleaved concurrent increments over ${CONNECTIONS} connections end at exactly 50 each, none sees another's data`,
  async () => {
    const limit = pool(CONNECTIONS);
    mostInFlight = 0;
    const browsers = await Promise.all(
      Array.from({ length: 100 }, async () => {
        const browser = new Browser(url);
        const first = (await send(limit, browser, "/increment", { method: "POST" })).body;
        return { browser, id: first.id };
      }),
    );
    const foreign: string[] = [];
    // Round-robin: request k goes to session k % 100, all in flight together.
    await Promise.all(
      Array.from({ length: 49 * 100 }, async (_, k) => {
        const { browser, id } = browsers[k % 100] as (typeof browsers)[number];
        const reply = (await send(limit, browser, "/increment", { method: "POST" })).body;
        if (reply.id !== id) foreign.push(`${id} saw ${reply.id}`);
      }),
    );
    const finals = await Promise.all(
      browsers.map(async ({ browser }) => (await send(limit, browser, "/")).body.count),
    );
    figure("many-sessions", {
      sessions: 100,
      connections: CONNECTIONS,
      mostInFlightAtServer: mostInFlight,
      incrementsEach: 50,
      sessionsAtExactly50: finals.filter((count) => count === 50).length,
      foreignReplies: foreign.length,
    });
    expect(foreign).toEqual([]);
    expect(finals).toEqual(Array.from({ length: 100 }, () => 50));
    expect(new Set(browsers.map(({ id }) => id)).size).toBe(100);
  },
  LIMIT,
);
