// RedisStore over a node-redis cluster client, against a real three-master Redis Cluster
// started here (test/fixtures/redis-cluster.ts). test/redis.test.ts covers a single Redis.
import { randomUUID } from "node:crypto";
import type { Hono } from "hono";
import { createClient, createCluster } from "redis";
import { v4 } from "uuid";
import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest";
import { type Persisted, type PersistSessionOptions, persist, type Store } from "../src/index.js";
import { RedisStore } from "../src/stores/redis.js";
import {
  hasRedisCluster,
  NODE_TIMEOUT_MS,
  type RedisCluster,
  startRedisCluster,
} from "./fixtures/redis-cluster.js";
import {
  across,
  type ServerProcess,
  startCounterServer,
  thousandIncrements,
} from "./fixtures/servers.js";
import { capture, counterApp as sharedCounterApp, until } from "./fixtures/store-app.js";
import { Browser, tempDir } from "./helpers.js";
import { figure } from "./reliability/figures.js";
import { storeContract } from "./store-contract.js";

const canRun = hasRedisCluster();
if (!canRun) {
  const why =
    "redis-cluster.test.ts: redis-server or redis-cli is not on PATH (apt-get install redis-server)";
  if (process.env.REQUIRE_STORES === "1") throw new Error(`${why}, and REQUIRE_STORES=1`);
  console.warn(`${why}: the Redis Cluster tests are skipped`);
}

@persist("cluster-counter")
class Counter {
  count = 0;
}
interface Counter extends Persisted {}
/** This browser's counter, in a request. */
const counter = (): Counter => new Counter();

/** Keys of one test, apart from every other test's. */
const freshPrefix = () => `hono-persist-test:${randomUUID()}:`;

/**
 * A cluster client as docs/stores.md advises: node connections that give up an attempt after
 * 2 s and never stop reconnecting, so that a master back after an outage is used again.
 */
function clusterClient(urls: string[]) {
  return createCluster({
    rootNodes: urls.map((url) => ({ url })),
    defaults: {
      socket: {
        connectTimeout: 2_000,
        reconnectStrategy: (retries) => Math.min(50 * 2 ** retries, 500) + Math.random() * 50,
      },
    },
  });
}
type Cluster = ReturnType<typeof clusterClient>;

function counterApp(store: Store, options: Partial<PersistSessionOptions> = {}) {
  return sharedCounterApp(counter, store, options);
}

const idOf = (browser: Browser) => browser.cookie("cluster-counter")?.split(".")[0] ?? "";

describe.skipIf(!canRun)("RedisStore over a Redis Cluster", () => {
  let cluster: RedisCluster;
  let admin: Cluster;
  /** The first node's own connection, for CLUSTER commands (the restart test spares it). */
  let node: ReturnType<typeof createClient>;

  beforeAll(async () => {
    cluster = await startRedisCluster(3);
    admin = clusterClient(cluster.urls);
    admin.on("error", (error) => console.warn(`redis-cluster.test.ts admin: ${String(error)}`));
    await admin.connect();
    node = createClient({ url: cluster.urls[0] as string });
    node.on("error", (error) => console.warn(`redis-cluster.test.ts node: ${String(error)}`));
    await node.connect();
  }, 30_000);
  afterAll(async () => {
    try {
      admin?.destroy();
      node?.destroy();
    } finally {
      await cluster?.dispose();
    }
  });

  /** The slot of `key`, as Redis computes it. */
  const slot = async (key: string) => Number(await node.sendCommand(["CLUSTER", "KEYSLOT", key]));
  /** The address of the master serving `slot`, as the cluster says. */
  async function masterOf(key: string): Promise<string> {
    const at = await slot(key);
    const ranges = (await node.sendCommand(["CLUSTER", "SLOTS"])) as [number, number, unknown[]][];
    const range = ranges.find(([from, to]) => from <= at && at <= to);
    return `${range?.[2][0]}:${range?.[2][1]}`;
  }

  /** Two browsers with a count of 1: one whose state is on the master `address`, one elsewhere. */
  async function twoBrowsers(app: Hono, prefix: string, address: string) {
    const browsers = new Map<boolean, Browser>();
    while (browsers.size < 2) {
      const browser = new Browser(app);
      await browser.request("/increment", { method: "POST" });
      const onIt = (await masterOf(`${prefix}{${idOf(browser)}}`)) === address;
      if (!browsers.has(onIt)) browsers.set(onIt, browser);
    }
    return [browsers.get(true), browsers.get(false)] as [Browser, Browser];
  }

  storeContract(
    "RedisStore (cluster)",
    () => new RedisStore({ client: admin, prefix: freshPrefix() }),
    {
      clock: { msPerSecond: 150 },
      sweeps: false,
      indexes: true,
    },
  );

  describe("keys", () => {
    let prefix: string;
    let store: RedisStore;
    beforeAll(() => {
      prefix = freshPrefix();
      store = new RedisStore({ client: admin, prefix });
    });
    afterAll(() => store.close());

    test("a state, its lock and its quarantined copy are `<prefix>{<id>}`…, in the slot of <id>", async () => {
      const id = v4();
      const key = `${prefix}{${id}}`;
      await store.set(id, "torn", 60);
      expect(await admin.get(key)).toBe("torn");
      const release = await store.lock(id, 1);
      expect(await admin.exists(`${key}.lock`)).toBe(1);
      // Two keys in one script: a CROSSSLOT error if they were in two slots.
      await store.quarantine(id);
      expect(await admin.get(`${key}.corrupt`)).toBe("torn");
      expect(await store.get(id, 60)).toBeUndefined();
      await release();
      expect(await admin.exists(`${key}.lock`)).toBe(0);
      const slots = await Promise.all([key, `${key}.lock`, `${key}.corrupt`, id].map(slot));
      expect(new Set(slots).size).toBe(1);
    });

    test("states spread over all three masters", async () => {
      const prefix = freshPrefix();
      const store = new RedisStore({ client: admin, prefix });
      const ids = Array.from({ length: 60 }, () => v4());
      await Promise.all(ids.map((id) => store.set(id, "data", 60)));
      const held = new Map(cluster.nodes.map(({ address }) => [address, 0]));
      for (const id of ids) {
        const address = await masterOf(`${prefix}{${id}}`);
        held.set(address, (held.get(address) ?? 0) + 1);
      }
      expect([...held.keys()].sort()).toEqual(cluster.nodes.map(({ address }) => address).sort());
      // Each master holds what the cluster says it does, and all hold some.
      const counts = await Promise.all(
        cluster.nodes.map(async ({ address }) => {
          const own = createClient({ url: `redis://${address}` });
          await own.connect();
          try {
            return (await own.keys(`${prefix}*`)).length;
          } finally {
            own.destroy();
          }
        }),
      );
      expect(counts).toEqual(cluster.nodes.map(({ address }) => held.get(address)));
      for (const count of counts) expect(count).toBeGreaterThan(0);
      await store.close();
    });

    test("a prefix with a brace is refused: it would break the hash tag", () => {
      for (const prefix of ["app{x}:", "app}", "{"]) {
        expect(() => new RedisStore({ client: admin, prefix })).toThrow(
          new TypeError(
            "[hono-persist] option `prefix` must not contain { or } with a cluster client: the store tags keys with {<id>}",
          ),
        );
      }
    });

    test("close() removes the store's listeners and leaves the cluster client open", async () => {
      const before = ["error", "node-error", "node-ready"].map((e) => admin.listenerCount(e));
      const other = new RedisStore({ client: admin, prefix });
      expect(["error", "node-error", "node-ready"].map((e) => admin.listenerCount(e))).toEqual(
        before.map((count) => count + 1),
      );
      await other.close();
      expect(["error", "node-error", "node-ready"].map((e) => admin.listenerCount(e))).toEqual(
        before,
      );
      const id = v4();
      await store.set(id, "still", 60);
      expect(await store.get(id, 60)).toBe("still");
    });
  });

  describe("sessions index", () => {
    test("a user's hash is `<prefix>sessions:{<user>}`, in the slot of {<user>}", async () => {
      const prefix = freshPrefix();
      const store = new RedisStore({ client: admin, prefix });
      try {
        const [user, id] = [v4(), v4()];
        const key = `${prefix}sessions:{${user}}`;
        await store.index(user, id, "{}", 60);
        expect(await admin.hKeys(key)).toEqual([id]);
        expect(await admin.pTTL(key)).toBeGreaterThan(59_000);
        expect(await slot(key)).toBe(await slot(`{${user}}`));
        expect(await store.indexed(user)).toEqual([[id, "{}"]]);
        await store.unindex(user);
        expect(await admin.exists(key)).toBe(0);
      } finally {
        await store.close();
      }
    });
  });

  describe("with persistSession()", () => {
    let prefix: string;
    let store: RedisStore;
    beforeAll(() => {
      prefix = freshPrefix();
      store = new RedisStore({ client: admin, prefix });
    });
    afterAll(() => store.close());

    test("state survives reloads, is cleared and regenerated, at `<prefix>{<id>}`", async () => {
      const { app } = counterApp(store, { idleTimeout: 3600 });
      const browser = new Browser(app);
      for (let i = 0; i < 3; i++) await browser.request("/increment", { method: "POST" });
      expect(await browser.text("/")).toBe("3");
      expect(await new Browser(app).text("/")).toBe("0");
      const before = idOf(browser);
      expect(JSON.parse((await admin.get(`${prefix}{${before}}`)) ?? "")).toMatchObject({
        key: "cluster-counter",
      });
      expect(await admin.pTTL(`${prefix}{${before}}`)).toBeGreaterThan(3_590_000);

      await browser.request("/regenerate", { method: "POST" });
      const after = idOf(browser);
      expect(after).not.toBe(before);
      expect(await admin.exists(`${prefix}{${before}}`)).toBe(0);
      expect(await browser.text("/")).toBe("3");

      const response = await browser.request("/clear", { method: "POST" });
      expect(response.headers.getSetCookie().join()).toMatch(/^cluster-counter=; Max-Age=0/);
      expect(await admin.exists(`${prefix}{${after}}`)).toBe(0);
      expect(await browser.text("/")).toBe("0");
    });

    test("with `lock`, concurrent requests of one browser all count; no lock is left", async () => {
      const { app } = counterApp(store, { lock: { timeout: 5 } });
      const browser = new Browser(app);
      await browser.request("/increment", { method: "POST" });
      const responses = await Promise.all(
        Array.from({ length: 20 }, () => browser.request("/increment", { method: "POST" })),
      );
      expect(responses.map((response) => response.status)).toEqual(Array(20).fill(200));
      expect(await browser.text("/")).toBe("21");
      const lock = `${prefix}{${idOf(browser)}}.lock`;
      await until(async () => (await admin.exists(lock)) === 0, 5_000);
    });
  });

  describe("two server processes sharing the cluster", () => {
    let servers: ServerProcess[] = [];
    let dir: ReturnType<typeof tempDir>;
    beforeAll(() => {
      dir = tempDir();
    });
    afterEach(async () => {
      await Promise.all(servers.map((server) => server.stop()));
      servers = [];
    });
    afterAll(() => dir.remove());

    test("with `lock`, 1,000 concurrent increments spread over both end at exactly 1,000", async () => {
      const shared = {
        REDIS_CLUSTER: cluster.urls.join(","),
        REDIS_PREFIX: freshPrefix(),
        LOCK: "20",
      };
      servers = await Promise.all([
        startCounterServer(dir.dir, shared),
        startCounterServer(dir.dir, shared),
      ]);
      const session = across(servers as [ServerProcess, ServerProcess]);
      const { failed, final } = await thousandIncrements(
        session,
        "redis-cluster-two-processes-lock",
      );
      expect(failed).toEqual([]);
      expect(final).toBe(1000);
      const id = session.browser.cookie("counter")?.split(".")[0] ?? "";
      expect(await admin.exists(`${shared.REDIS_PREFIX}{${id}}`)).toBe(1);
      await until(
        async () => (await admin.exists(`${shared.REDIS_PREFIX}{${id}}.lock`)) === 0,
        5_000,
      );
    }, 40_000);
  });

  describe("resharding", () => {
    test("a slot moved to another master is followed (ASK while it migrates, MOVED after)", async () => {
      const prefix = freshPrefix();
      const store = new RedisStore({ client: admin, prefix });
      const own = cluster.nodes.map(({ address }) => createClient({ url: `redis://${address}` }));
      try {
        await Promise.all(own.map((client) => client.connect()));
        const ids = (
          await Promise.all(own.map((client) => client.sendCommand(["CLUSTER", "MYID"])))
        ).map(String);
        const id = v4();
        const key = `${prefix}{${id}}`;
        await store.set(id, "before", 60);
        const at = String(await slot(key));
        const holder = await masterOf(key);
        const f = cluster.nodes.findIndex(({ address }) => address === holder);
        const t = (f + 1) % cluster.nodes.length;
        const [from, to] = [own[f], own[t]] as [typeof node, typeof node];
        const [fromId, toId] = [ids[f], ids[t]] as [string, string];

        // What `redis-cli --cluster reshard` does, for this one slot.
        await to.sendCommand(["CLUSTER", "SETSLOT", at, "IMPORTING", fromId]);
        await from.sendCommand(["CLUSTER", "SETSLOT", at, "MIGRATING", toId]);
        const port = String(cluster.nodes[t]?.port);
        await from.sendCommand(["MIGRATE", "127.0.0.1", port, "", "0", "5000", "KEYS", key]);
        // The key has moved, its slot not yet: the old master answers ASK.
        const count = ["CLUSTER", "COUNTKEYSINSLOT", at];
        expect([await from.sendCommand(count), await to.sendCommand(count)]).toEqual([0, 1]);
        expect(await store.get(id, 60)).toBe("before");
        await store.set(id, "asked", 60);
        expect(await store.get(id, 60)).toBe("asked");

        for (const client of [to, from, ...own.filter((c) => c !== to && c !== from)]) {
          await client.sendCommand(["CLUSTER", "SETSLOT", at, "NODE", toId]);
        }
        // The store's client still sends this slot to the old master, which answers MOVED.
        expect(await store.get(id, 60)).toBe("asked");
        await store.set(id, "moved", 60);
        expect(await to.get(key)).toBe("moved");
        const release = await store.lock(id, 1);
        expect(await to.exists(`${key}.lock`)).toBe(1);
        await release();
        await store.quarantine(id);
        expect(await to.get(`${key}.corrupt`)).toBe("moved");
        expect(await masterOf(key)).toBe(cluster.nodes[t]?.address);
      } finally {
        for (const client of own) client.destroy();
        await store.close();
      }
    });
  });

  describe("a master frozen (SIGSTOP)", () => {
    test("its states fail within 3 s, the others' work; once it goes on, its states work again", async () => {
      const client = clusterClient(cluster.urls);
      client.on("error", () => undefined); // the store logs it
      await client.connect();
      const prefix = freshPrefix();
      const store = new RedisStore({ client, prefix, logger: capture() });
      try {
        const frozen = cluster.nodes[1];
        if (frozen === undefined) throw new Error("no node");
        const { app } = counterApp(store);
        const [hit, spared] = await twoBrowsers(app, prefix, frozen.address);
        frozen.pause();
        let started = Date.now();
        const failed = await hit.request("/");
        const failedAfterMs = Date.now() - started;
        expect(failed.status).toBe(500);
        expect(await failed.text()).toBe(
          `[hono-persist] could not read ${prefix}{${idOf(hit)}}: Redis node ${frozen.address} did not answer within 2 s`,
        );
        expect(failedAfterMs).toBeGreaterThanOrEqual(1_900);
        expect(failedAfterMs).toBeLessThan(3_000);
        started = Date.now();
        expect(await spared.text("/")).toBe("1");
        const sparedAfterMs = Date.now() - started;
        expect(sparedAfterMs).toBeLessThan(1_000); // not held up by the timeout
        frozen.resume();
        started = Date.now();
        await until(async () => (await hit.request("/")).status === 200, 10_000);
        const recoveredAfterMs = Date.now() - started;
        expect(await hit.text("/")).toBe("1");
        await cluster.ready();
        figure("redis-cluster-node-frozen", {
          commandTimeoutMs: 2_000,
          failedAfterMs,
          sparedAfterMs,
          recoveredAfterMs,
        });
      } finally {
        await store.close();
        client.destroy();
      }
    }, 30_000);
  });

  // Last: it stops one master of the shared cluster.
  describe("a master stopped and restarted", () => {
    test("its states fail within 3 s, the others' work; once it is back, its states work again", async () => {
      const client = clusterClient(cluster.urls);
      client.on("error", () => undefined); // the store logs it
      await client.connect();
      const logger = capture();
      const prefix = freshPrefix();
      const store = new RedisStore({ client, prefix, logger });
      try {
        const victim = cluster.nodes[2];
        if (victim === undefined) throw new Error("no node");
        const { app } = counterApp(store);
        const [hit, spared] = await twoBrowsers(app, prefix, victim.address);
        const key = `${prefix}{${idOf(hit)}}`;

        await victim.stop();
        let started = Date.now();
        const failed = await hit.request("/");
        const failedAfterMs = Date.now() - started;
        expect(failed.status).toBe(500);
        expect(await failed.text()).toBe(
          `[hono-persist] could not read ${key}: Redis node ${victim.address} did not answer within 2 s (connect ECONNREFUSED ${victim.address})`,
        );
        expect(failedAfterMs).toBeLessThan(3_000);
        started = Date.now();
        expect(await spared.text("/")).toBe("1");
        const sparedAfterMs = Date.now() - started;
        expect(sparedAfterMs).toBeLessThan(1_000); // not held up by the timeout

        // Once the other masters mark it failed, they go on serving their own slots.
        await until(async () => {
          const nodes = String(await node.sendCommand(["CLUSTER", "NODES"]));
          return new RegExp(`${victim.address}@\\d+ master,fail `).test(nodes);
        }, 10 * NODE_TIMEOUT_MS);
        await spared.request("/increment", { method: "POST" });
        expect(await spared.text("/")).toBe("2");
        started = Date.now();
        expect((await hit.request("/")).status).toBe(500);
        const failedAgainAfterMs = Date.now() - started;
        expect(failedAgainAfterMs).toBeLessThan(3_000);
        // Once per outage, naming the node; the process and the other masters are fine.
        expect(logger.logged.error).toEqual([
          `[hono-persist] RedisStore cannot reach Redis node ${victim.address} (Socket closed unexpectedly): requests for its states fail after 2 s until it answers again`,
        ]);

        await victim.start();
        started = Date.now();
        // Until the restarted master rejoins, its slots answer CLUSTERDOWN (at once).
        const meanwhile: string[] = [];
        let recovered: Response | undefined;
        await until(async () => {
          const response = await hit.request("/");
          if (response.status === 200) recovered = response;
          else meanwhile.push(await response.text());
          return recovered !== undefined;
        }, 10_000);
        const recoveredAfterMs = Date.now() - started;
        // Started with no persistence (`--save '' --appendonly no`), it lost its states.
        expect(await recovered?.text()).toBe("0");
        await hit.request("/increment", { method: "POST" });
        expect(await hit.text("/")).toBe("1");
        expect(await spared.text("/")).toBe("2");
        expect(logger.logged.warn).toEqual([
          `[hono-persist] RedisStore reaches Redis node ${victim.address} again`,
        ]);
        await cluster.ready();
        figure("redis-cluster-node-restart", {
          commandTimeoutMs: 2_000,
          nodeTimeoutMs: NODE_TIMEOUT_MS,
          failedAfterMs,
          failedAgainAfterMs,
          sparedAfterMs,
          recoveredAfterMs,
          failedWhileRejoining: meanwhile.length,
        });
        console.log(
          `redis-cluster.test.ts: while rejoining: ${JSON.stringify([...new Set(meanwhile)])}`,
        );
      } finally {
        await store.close();
        client.destroy();
      }
    }, 40_000);
  });
});
