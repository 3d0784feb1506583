// A user's state over two server processes and two browsers of that user, on every store that
// locks: with `lock`, 1,000 increments spread over both processes and both browsers end at
// exactly 1,000 (test/fixtures/counter-server.ts with USERS set). Then the user's sessions,
// listed and ended from a third party (this process): each browser's next request, on either
// server, starts fresh.
import { createCluster } from "redis";
import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest";
import { FileStore, persistSession, type Store } from "../src/index.js";
import { PostgresStore } from "../src/stores/postgres.js";
import { RedisStore } from "../src/stores/redis.js";
import { hasPostgresServer, startPostgresServer } from "./fixtures/postgres-server.js";
import { hasRedisCluster, startRedisCluster } from "./fixtures/redis-cluster.js";
import { hasRedisServer, startRedisServer } from "./fixtures/redis-server.js";
import {
  type Reply,
  type ServerProcess,
  startCounterServer,
  thousandIncrements,
} from "./fixtures/servers.js";
import { Browser, SECRET, tempDir } from "./helpers.js";

const required = process.env.REQUIRE_STORES === "1";
const has = { redis: hasRedisServer(), cluster: hasRedisCluster(), postgres: hasPostgresServer() };
for (const [name, found] of Object.entries(has)) {
  if (found) continue;
  if (required) throw new Error(`user-processes.test.ts: no ${name} server, and REQUIRE_STORES=1`);
  console.warn(`user-processes.test.ts: no ${name} server: its test is skipped`);
}

/**
 * Requests of user `ann` from two browsers (each with its own cookies), the first through A,
 * the second through B: `thousandIncrements` alternates between them.
 */
function twoDevices([a, b]: [ServerProcess, ServerProcess]) {
  const headers = { "x-user": "ann" };
  const laptop = new Browser(a.url);
  const phone = new Browser(b.url);
  const through = (browser: Browser, server: ServerProcess) => (path: string, init?: RequestInit) =>
    browser.request(new URL(path, server.url).href, { ...init, headers });
  return {
    browser: laptop,
    a: through(laptop, a),
    b: through(phone, b),
    // The same browsers through the other server.
    crossed: { a: through(phone, a), b: through(laptop, b) },
  };
}

let servers: ServerProcess[] = [];
let dir: ReturnType<typeof tempDir>;
const cleanups: (() => Promise<void>)[] = [];
beforeAll(() => {
  dir = tempDir();
});
afterEach(async () => {
  await Promise.all(servers.map((server) => server.stop()));
  servers = [];
});
afterAll(async () => {
  await Promise.all(cleanups.map((cleanup) => cleanup()));
  dir.remove();
});

async function run(
  env: Record<string, string>,
  name: string,
  admin: () => Store | Promise<Store>,
): Promise<void> {
  const shared = { USERS: "1", LOCK: "20", ...env };
  servers = await Promise.all([
    startCounterServer(dir.dir, shared),
    startCounterServer(dir.dir, shared),
  ]);
  const session = twoDevices(servers as [ServerProcess, ServerProcess]);
  const { failed, final } = await thousandIncrements(session, name);
  expect(failed).toEqual([]);
  expect(final).toBe(1000);
  // One state, no cookie: both devices read the same id and count.
  const [onA, onB] = await Promise.all([
    session.a("/").then((r) => r.json() as Promise<Reply>),
    session.b("/").then((r) => r.json() as Promise<Reply>),
  ]);
  expect(onB).toMatchObject({ id: onA.id, count: 1000 });
  expect(onA.pid).not.toBe(onB.pid);
  expect(session.browser.cookies.size).toBe(0);

  // Each browser's own counter, on both servers (cached there), recorded under the user.
  const visit = async (send: typeof session.a) =>
    ((await (await send("/visit", { method: "POST" })).json()) as Reply).count;
  const { crossed } = session;
  expect([await visit(session.a), await visit(crossed.b)]).toEqual([1, 2]);
  expect([await visit(session.b), await visit(crossed.a)]).toEqual([1, 2]);
  const store = await admin();
  try {
    const persisted = persistSession({ secret: SECRET, store, lock: true });
    const listed = await persisted.sessions("ann");
    expect(listed.map((s) => s.keys)).toEqual([["counter"], ["counter"]]);
    expect(await persisted.endSessions("ann")).toBe(2);
    expect(await persisted.sessions("ann")).toEqual([]);
  } finally {
    await store.close?.();
  }
  // Ended on both servers: each browser starts fresh wherever it comes next.
  expect([await visit(crossed.b), await visit(crossed.a)]).toEqual([1, 1]);
  expect([await visit(session.a), await visit(session.b)]).toEqual([2, 2]);
}

describe("a user's state and sessions, two processes, two browsers, with `lock`", () => {
  test("FileStore: 1,000 increments end at exactly 1,000; sessions ended on both", async () => {
    await run(
      {},
      "user-two-processes-file",
      () => new FileStore({ dir: dir.dir, sweepInterval: 0 }),
    );
  });

  test.runIf(has.redis)(
    "RedisStore: 1,000 increments end at exactly 1,000; sessions ended on both",
    async () => {
      const redis = await startRedisServer();
      cleanups.push(() => redis.dispose());
      await run(
        { REDIS_URL: redis.url, REDIS_PREFIX: "users:" },
        "user-two-processes-redis",
        () => new RedisStore({ url: redis.url, prefix: "users:" }),
      );
    },
  );

  test.runIf(has.cluster)(
    "Redis Cluster: 1,000 increments end at exactly 1,000; sessions ended on both",
    async () => {
      const cluster = await startRedisCluster();
      cleanups.push(() => cluster.dispose());
      await run(
        { REDIS_CLUSTER: cluster.urls.join(","), REDIS_PREFIX: "users:" },
        "user-two-processes-redis-cluster",
        async () => {
          const client = await createCluster({
            rootNodes: cluster.urls.map((url) => ({ url })),
          }).connect();
          cleanups.push(async () => void (await client.close()));
          return new RedisStore({ client, prefix: "users:" });
        },
      );
    },
  );

  test.runIf(has.postgres)(
    "PostgresStore: 1,000 increments end at exactly 1,000; sessions ended on both",
    async () => {
      const postgres = await startPostgresServer();
      cleanups.push(() => postgres.dispose());
      await run(
        { PG_URL: postgres.url, PG_TABLE: "users_state" },
        "user-two-processes-postgres",
        () =>
          new PostgresStore({
            connectionString: postgres.url,
            table: "users_state",
            sweepInterval: 0,
          }),
      );
    },
  );
});
