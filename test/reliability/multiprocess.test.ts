import { afterEach, beforeEach, expect, test } from "vitest";
import { type ServerProcess, startCounterServer } from "../fixtures/servers.js";
import { Browser, tempDir } from "../helpers.js";
import { figure } from "./figures.js";

type Reply = { id: string; count: number; pid: number };

let dir: string;
let removeDir: () => void;
let servers: ServerProcess[] = [];

beforeEach(() => {
  ({ dir, remove: removeDir } = tempDir());
});
afterEach(async () => {
  await Promise.all(servers.map((server) => server.stop()));
  servers = [];
  removeDir();
});

async function two(env: Record<string, string> = {}): Promise<[ServerProcess, ServerProcess]> {
  servers = await Promise.all([startCounterServer(dir, env), startCounterServer(dir, env)]);
  return servers as [ServerProcess, ServerProcess];
}

/** One browser whose requests alternate between two servers (its cookie goes to both). */
function across([a, b]: [ServerProcess, ServerProcess]) {
  const browser = new Browser(a.url);
  const to = (server: ServerProcess, path: string, init?: RequestInit) =>
    browser.request(new URL(path, server.url).href, init);
  return {
    browser,
    a: (path: string, init?: RequestInit) => to(a, path, init),
    b: (path: string, init?: RequestInit) => to(b, path, init),
  };
}

/** `total` increments, `inFlight` at a time, alternating between the two servers. */
async function spread(session: ReturnType<typeof across>, total: number, inFlight: number) {
  const statuses: number[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next < total) {
        const k = next++;
        const response = await (k % 2 ? session.b : session.a)("/increment", { method: "POST" });
        statuses.push(response.status);
        await response.arrayBuffer();
      }
    }),
  );
  return statuses;
}

test("a write through one process is seen by the next request through the other", async () => {
  const session = across(await two());
  const pids = new Set<number>();
  for (let i = 1; i <= 20; i++) {
    const written = (await (
      await (i % 2 ? session.a : session.b)("/increment", { method: "POST" })
    ).json()) as Reply;
    const read = (await (await (i % 2 ? session.b : session.a)("/")).json()) as Reply;
    pids.add(written.pid).add(read.pid);
    expect(written.count).toBe(i);
    expect(read).toMatchObject({ id: written.id, count: i });
  }
  expect(pids.size).toBe(2);
});

test("with `lock`, 1,000 concurrent increments spread over two processes end at exactly 1,000", async () => {
  const session = across(await two({ LOCK: "20" }));
  await session.a("/increment", { method: "POST" });
  const statuses = await spread(session, 999, 16);
  const final = (await (await session.b("/")).json()) as Reply;
  figure("two-processes-lock", {
    sent: 1000,
    inFlight: 16,
    answered200: statuses.filter((status) => status === 200).length + 1,
    final: final.count,
    lost: 1000 - final.count,
  });
  expect(statuses.filter((status) => status !== 200)).toEqual([]);
  expect(final.count).toBe(1000);
});

test("without `lock`, concurrent increments through two processes can be lost (measured, documented)", async () => {
  const session = across(await two());
  await session.a("/increment", { method: "POST" });
  const statuses = await spread(session, 999, 16);
  const final = (await (await session.b("/")).json()) as Reply;
  figure("two-processes-no-lock", {
    sent: 1000,
    inFlight: 16,
    answered200: statuses.filter((status) => status === 200).length + 1,
    final: final.count,
    lost: 1000 - final.count,
  });
  expect(statuses.filter((status) => status !== 200)).toEqual([]);
  expect(final.count).toBeGreaterThan(0);
  expect(final.count).toBeLessThanOrEqual(1000);
});
