// Adversarial review of PostgresStore (issue #20), against a real throwaway PostgreSQL.
import { randomBytes } from "node:crypto";
import { setTimeout as delay } from "node:timers/promises";
import { Hono } from "hono";
import pg from "pg";
import { createCluster } from "redis";
import { v4 } from "uuid";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { type PersistError, persist, persistSession } from "../src/index.js";
import { PostgresStore } from "../src/stores/postgres.js";
import { RedisStore } from "../src/stores/redis.js";
import {
  hasPostgresServer,
  type PostgresServer,
  startPostgresServer,
} from "./fixtures/postgres-server.js";
import { hasRedisCluster, startRedisCluster } from "./fixtures/redis-cluster.js";
import { Browser, SECRET } from "./helpers.js";

@persist("review-pg")
class Tally {
  count = 0;
}

const quiet = { warn: () => undefined, error: () => undefined };

describe.skipIf(!hasPostgresServer())("PostgresStore under review", () => {
  let server: PostgresServer;
  let admin: pg.Pool;
  const schema = `review_${randomBytes(4).toString("hex")}`;
  const fresh = () => `${schema}.t_${randomBytes(6).toString("hex")}`;
  const one = async (text: string, values: unknown[] = []) =>
    Object.values((await admin.query(text, values)).rows[0] ?? {})[0];

  beforeAll(async () => {
    server = await startPostgresServer();
    admin = new pg.Pool({ connectionString: server.url });
    admin.on("error", () => undefined);
    await admin.query(`CREATE SCHEMA ${schema}`);
  }, 60_000);
  afterAll(async () => {
    await admin?.end();
    await server?.dispose();
  });

  test("lock is exclusive under contention: 40 takers on one id over two stores never overlap", async () => {
    const table = fresh();
    const a = new PostgresStore({ pool: admin, table, logger: quiet });
    const b = new PostgresStore({ pool: admin, table, logger: quiet });
    const id = v4();
    let inside = 0;
    let most = 0;
    let done = 0;
    await Promise.all(
      Array.from({ length: 40 }, async (_, i) => {
        const release = await (i % 2 ? a : b).lock(id, 20);
        inside++;
        most = Math.max(most, inside);
        await delay(1);
        inside--;
        done++;
        await release();
      }),
    );
    expect(done).toBe(40);
    expect(most).toBe(1);
    await Promise.all([a.close(), b.close()]);
  }, 30_000);

  test("take-over of an expired lease: of 20 racing takers over two stores exactly one wins", async () => {
    const table = fresh();
    const a = new PostgresStore({ pool: admin, table, logger: quiet });
    const b = new PostgresStore({ pool: admin, table, logger: quiet });
    const id = v4();
    const stale = await a.lock(id, 1);
    await admin.query(`UPDATE ${table}_lock SET expires = now() - interval '1 s' WHERE id = $1`, [
      id,
    ]);
    const outcomes = await Promise.allSettled(
      Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).lock(id, 0.3)),
    );
    const won = outcomes.filter((o) => o.status === "fulfilled");
    expect(won.length).toBe(1);
    for (const o of outcomes) {
      if (o.status === "rejected") expect((o.reason as PersistError).code).toBe("LOCK_TIMEOUT");
    }
    // The old holder's late release leaves the new holder's lock alone.
    await stale();
    expect(Number(await one(`SELECT count(*) FROM ${table}_lock WHERE id = $1`, [id]))).toBe(1);
    await (won[0] as PromiseFulfilledResult<() => Promise<void>>).value();
    await Promise.all([a.close(), b.close()]);
  }, 30_000);

  test("sweep() skips a row whose deadline a read is sliding (uncommitted), and the row survives", async () => {
    const table = fresh();
    const store = new PostgresStore({ pool: admin, table, logger: quiet });
    const id = v4();
    await store.set(id, "alive", 60);
    await admin.query(`UPDATE ${table} SET expires = now() - interval '1 s' WHERE id = $1`, [id]);
    const slider = await admin.connect();
    try {
      await slider.query("BEGIN");
      await slider.query(
        `UPDATE ${table} SET expires = now() + interval '60 s' WHERE id = $1 RETURNING data`,
        [id],
      );
      expect(await store.sweep()).toBe(0);
      await slider.query("COMMIT");
    } finally {
      slider.release();
    }
    expect(await store.get(id, 60)).toBe("alive");
    await store.close();
  });

  test("quarantine of a missing row, ttl fractional, a 10 MiB state, lone surrogates via the middleware", async () => {
    const table = fresh();
    const store = new PostgresStore({ pool: admin, table, logger: quiet });
    await store.quarantine(v4(), "nothing there");
    expect(Number(await one(`SELECT count(*) FROM ${table}_quarantine`))).toBe(0);
    const id = v4();
    await store.set(id, "x", 0.25);
    const left = Number(
      await one(`SELECT extract(epoch FROM expires - now()) FROM ${table} WHERE id = $1`, [id]),
    );
    expect(left).toBeGreaterThan(0);
    expect(left).toBeLessThanOrEqual(0.25);
    const big = "é".repeat(5 * 1024 * 1024);
    await store.set(id, big, 60);
    expect(await store.get(id, 60)).toBe(big);
    await store.close();
  }, 30_000);

  test("a state with NUL and lone surrogates round-trips through persistSession()", async () => {
    @persist("review-pg-text")
    class Text {
      value = "";
    }
    const store = new PostgresStore({ pool: admin, table: fresh(), logger: quiet });
    const app = new Hono();
    app.use(persistSession({ secret: SECRET, store }));
    const odd = "a\u0000b\ud800c\udfffd";
    app.post("/", (c) => {
      new Text().value = odd;
      return c.text("ok");
    });
    app.get("/", (c) => c.json([...new Text().value].map((ch) => ch.charCodeAt(0))));
    const browser = new Browser(app);
    expect((await browser.request("/", { method: "POST" })).status).toBe(200);
    expect(await (await browser.request("/")).json()).toEqual(
      [...odd].map((ch) => ch.charCodeAt(0)),
    );
    await store.close();
  });

  // Text the store cannot hold is refused as misuse (a TypeError), never stored as other text
  // nor reported as a failing PostgreSQL (STORE_FAILED means "try again later").
  const keptOrRefused = async (data: string) => {
    const store = new PostgresStore({ pool: admin, table: fresh(), logger: quiet });
    const id = v4();
    try {
      return await store.set(id, data, 60).then(
        async () => ((await store.get(id, 60)) === data ? "kept" : "altered"),
        (error: Error) =>
          error instanceof TypeError ? "refused" : `${error.name}: ${error.message}`,
      );
    } finally {
      await store.close();
    }
  };

  test("Store.set of a NUL character (direct use): kept or refused as misuse", async () => {
    expect(["kept", "refused"]).toContain(await keptOrRefused("a\u0000b"));
  });

  test("Store.set of a lone surrogate (direct use): kept or refused as misuse", async () => {
    expect(["kept", "refused"]).toContain(await keptOrRefused("a\ud800b"));
  });

  test("a client-side error of pg is not logged as PostgreSQL lost", async () => {
    const errors: string[] = [];
    const logger = { warn: () => undefined, error: (message: string) => errors.push(message) };
    const pool = new pg.Pool({ connectionString: server.url, max: 1 });
    const store = new PostgresStore({ pool, table: fresh(), logger });
    const id = v4();
    await store.set(id, "a", 60);
    // The app ended its own pool: pg refuses before anything is sent.
    await pool.end();
    await expect(store.get(id, 60)).rejects.toMatchObject({ code: "STORE_FAILED" });
    await store.close();
    expect(errors.filter((message) => /cannot reach PostgreSQL/.test(message))).toEqual([]);
  });

  test("a user pool of max 1 with lock: true serves 8 browsers at once, without deadlock", async () => {
    const pool = new pg.Pool({ connectionString: server.url, max: 1 });
    const store = new PostgresStore({ pool, table: fresh(), logger: quiet });
    const app = new Hono();
    app.use(persistSession({ secret: SECRET, store, lock: { timeout: 10 }, logger: quiet }));
    app.post("/", (c) => {
      new Tally().count++;
      return c.text("ok");
    });
    app.get("/", (c) => c.text(String(new Tally().count)));
    const browsers = Array.from({ length: 8 }, () => new Browser(app));
    for (const browser of browsers) await browser.request("/", { method: "POST" });
    const statuses = await Promise.all(
      browsers.flatMap((browser) =>
        Array.from({ length: 3 }, () =>
          browser.request("/", { method: "POST" }).then((r) => r.status),
        ),
      ),
    );
    expect(statuses.filter((s) => s !== 200)).toEqual([]);
    for (const browser of browsers) expect(await browser.text("/")).toBe("4");
    await store.close();
    await pool.end();
  }, 30_000);

  test("two PostgresStores with different tables share one pool with prepare on", async () => {
    const pool = new pg.Pool({ connectionString: server.url, max: 1 });
    const a = new PostgresStore({ pool, table: fresh(), logger: quiet });
    const b = new PostgresStore({ pool, table: fresh(), logger: quiet });
    const id = v4();
    await a.set(id, "a", 60);
    await b.set(id, "b", 60);
    expect([await a.get(id, 60), await b.get(id, 60)]).toEqual(["a", "b"]);
    await Promise.all([a.close(), b.close()]);
    await pool.end();
  });

  test("two copies of the store module (two versions in node_modules) share one pool", async () => {
    // Fresh evaluations of the module, as two copies of hono-persist in one process would be.
    type Module = typeof import("../src/stores/postgres.js");
    const first = (await import(
      // @ts-expect-error: a query string makes vite evaluate the module again
      "../src/stores/postgres.js?copy-one"
    )) as Module;
    const second = (await import(
      // @ts-expect-error: a query string makes vite evaluate the module again
      "../src/stores/postgres.js?copy-two"
    )) as Module;
    expect(first.PostgresStore).not.toBe(second.PostgresStore);
    const pool = new pg.Pool({ connectionString: server.url, max: 1 });
    const a = new first.PostgresStore({ pool, table: fresh(), logger: quiet });
    const b = new second.PostgresStore({ pool, table: fresh(), logger: quiet });
    const id = v4();
    const outcome = async (store: PostgresStore, data: string) =>
      store.set(id, data, 60).then(
        async () => store.get(id, 60),
        (error: PersistError) => `${error.code}: ${error.message}`,
      );
    expect(await outcome(a, "a")).toBe("a");
    expect(await outcome(b, "b")).toBe("b");
    await Promise.all([a.close(), b.close()]);
    await pool.end();
  });

  test("prepare: a table dropped and recreated while running is used again", async () => {
    const pool = new pg.Pool({ connectionString: server.url, max: 1 });
    const table = fresh();
    const store = new PostgresStore({ pool, table, logger: quiet });
    const id = v4();
    await store.set(id, "before", 60);
    expect(await store.get(id, 60)).toBe("before");
    await admin.query(`DROP TABLE ${table}`);
    await admin.query(
      `CREATE TABLE ${table} (id uuid PRIMARY KEY, data text NOT NULL, expires timestamptz NOT NULL)`,
    );
    await store.set(id, "after", 60);
    expect(await store.get(id, 60)).toBe("after");
    await store.close();
    await pool.end();
  });

  test("createTable (default) with a least-privilege app role: tables made by a migration, DML granted", async () => {
    const table = fresh();
    const owner = new PostgresStore({ pool: admin, table, logger: quiet });
    await owner.sweep(); // makes the tables as the owner (the migration)
    await owner.close();
    const role = `app_${randomBytes(3).toString("hex")}`;
    await admin.query(`CREATE ROLE ${role} LOGIN`);
    await admin.query(`GRANT USAGE ON SCHEMA ${schema} TO ${role}`);
    await admin.query(
      `GRANT SELECT, INSERT, UPDATE, DELETE ON ${table}, ${table}_lock, ${table}_quarantine TO ${role}`,
    );
    const pool = new pg.Pool({ connectionString: server.url.replace("postgres@", `${role}@`) });
    const store = new PostgresStore({ pool, table, logger: quiet });
    const id = v4();
    const outcome = await store.set(id, "x", 60).then(
      () => "stored",
      (error: PersistError) => `${error.code}: ${error.message}`,
    );
    expect(outcome).toBe("stored");
    await store.close();
    await pool.end();
  });

  test("close() twice and close() while 30 queries run on an owned pool: every call settles, bounded", async () => {
    const store = new PostgresStore({
      connectionString: server.url,
      table: fresh(),
      logger: quiet,
    });
    const id = v4();
    await store.set(id, "x", 60);
    const started = Date.now();
    const calls = Array.from({ length: 30 }, () => store.get(id, 60));
    await Promise.all([store.close(), store.close()]);
    const outcomes = await Promise.allSettled(calls);
    const took = Date.now() - started;
    // close() lets queries under way complete when PostgreSQL answers (src/stores/postgres.ts).
    expect(
      outcomes.map((o) => (o.status === "fulfilled" ? o.value : (o.reason as Error).message)),
    ).toEqual(Array(30).fill("x"));
    expect(took).toBeLessThan(1_000);
    const after = await store.get(id, 60).then(
      () => "answered",
      (error: PersistError) => error.code,
    );
    expect(after).toBe("STORE_FAILED");
  }, 15_000);
});

describe.skipIf(!hasRedisCluster())("RedisStore over a cluster under review", () => {
  test("every master stopped, then started: requests fail within 3 s, no crash; then work again with no restart", async () => {
    const cluster = await startRedisCluster(3);
    const client = createCluster({
      rootNodes: cluster.urls.map((url) => ({ url })),
      defaults: {
        socket: {
          connectTimeout: 2_000,
          reconnectStrategy: (retries) => Math.min(50 * 2 ** retries, 500) + Math.random() * 50,
        },
      },
    });
    client.on("error", () => undefined);
    await client.connect();
    const errors: string[] = [];
    const logger = { warn: () => undefined, error: (message: string) => errors.push(message) };
    const store = new RedisStore({ client, prefix: "review:", logger });
    const app = new Hono();
    app.use(persistSession({ secret: SECRET, store, lock: { timeout: 2 }, logger: quiet }));
    app.post("/", (c) => {
      new Tally().count++;
      return c.text("ok");
    });
    app.get("/", (c) => c.text(String(new Tally().count)));
    app.onError((error, c) => c.text(error.message, 500));
    try {
      const browser = new Browser(app);
      await browser.request("/", { method: "POST" });
      expect(await browser.text("/")).toBe("1");
      await Promise.all(cluster.nodes.map((node) => node.stop()));
      const started = Date.now();
      const failed = await browser.request("/");
      expect(failed.status).toBeGreaterThanOrEqual(500);
      expect(Date.now() - started).toBeLessThan(3_000 * 2 + 500); // lock, then its release
      await Promise.all(cluster.nodes.map((node) => node.start()));
      await cluster.ready();
      const deadline = Date.now() + 20_000;
      let status = 0;
      while (status !== 200 && Date.now() < deadline) {
        status = (await browser.request("/", { method: "POST" })).status;
        if (status !== 200) await delay(50);
      }
      expect(status).toBe(200);
      // Started with no persistence, the cluster lost the state: a fresh one, counted once.
      expect(await browser.text("/")).toBe("1");
      expect(errors.length).toBeGreaterThan(0);
    } finally {
      await store.close();
      client.destroy();
      await cluster.dispose();
    }
  }, 60_000);
});
