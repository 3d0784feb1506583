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

beforeAll(async () => {
  const temp = tempDir();
  removeDir = temp.remove;
  const app = new Hono();
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

test("1,000 concurrent increments of one session over real HTTP end at exactly 1,000", async () => {
  const browser = new Browser(url);
  const first = (await (await browser.request("/increment", { method: "POST" })).json()) as Reply;
  const replies = await Promise.all(
    Array.from({ length: 999 }, async () => {
      const response = await browser.request("/increment", { method: "POST" });
      return { status: response.status, body: (await response.json()) as Reply };
    }),
  );
  const final = (await (await browser.request("/")).json()) as Reply;
  const ok = replies.filter((reply) => reply.status === 200);
  figure("same-session", {
    sent: 1000,
    answered200: ok.length + 1,
    final: final.count,
    lost: 1000 - final.count,
  });
  expect(ok).toHaveLength(999);
  expect(replies.every((reply) => reply.body.id === first.id)).toBe(true);
  // Each increment answered with a distinct count: none applied twice, none lost.
  expect(new Set(replies.map((reply) => reply.body.count)).size).toBe(999);
  expect(final).toEqual({ id: first.id, count: 1000 });
});

test("100 sessions × 50 interleaved concurrent increments end at exactly 50 each, none sees another's data", async () => {
  const browsers = await Promise.all(
    Array.from({ length: 100 }, async () => {
      const browser = new Browser(url);
      const first = (await (
        await browser.request("/increment", { method: "POST" })
      ).json()) as Reply;
      return { browser, id: first.id };
    }),
  );
  const foreign: string[] = [];
  // Round-robin: request k goes to session k % 100, all in flight together.
  await Promise.all(
    Array.from({ length: 49 * 100 }, async (_, k) => {
      const { browser, id } = browsers[k % 100] as (typeof browsers)[number];
      const reply = (await (
        await browser.request("/increment", { method: "POST" })
      ).json()) as Reply;
      if (reply.id !== id) foreign.push(`${id} saw ${reply.id}`);
    }),
  );
  const finals = await Promise.all(
    browsers.map(
      async ({ browser }) => ((await (await browser.request("/")).json()) as Reply).count,
    ),
  );
  figure("many-sessions", {
    sessions: 100,
    incrementsEach: 50,
    sessionsAtExactly50: finals.filter((count) => count === 50).length,
    foreignReplies: foreign.length,
  });
  expect(foreign).toEqual([]);
  expect(finals).toEqual(Array.from({ length: 100 }, () => 50));
  expect(new Set(browsers.map(({ id }) => id)).size).toBe(100);
});
