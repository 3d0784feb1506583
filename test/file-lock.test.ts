import { spawnSync } from "node:child_process";
import { existsSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { Hono } from "hono";
import { v4 } from "uuid";
import { afterEach, beforeEach, expect, test } from "vitest";
import { FileStore, PersistError, persist, persistSession } from "../src/index.js";
import { Browser, SECRET, tempDir } from "./helpers.js";

@persist("locked")
class Counter {
  count = 0;
}

let dir: string;
let removeDir: () => void;
beforeEach(() => {
  ({ dir, remove: removeDir } = tempDir());
});
afterEach(() => removeDir());

test("a second lock waits, then times out with LOCK_TIMEOUT; release lets the next in", async () => {
  const store = new FileStore({ dir, sweepInterval: 0 });
  const id = v4();
  const release = await store.lock(id, 1);
  const error = await store.lock(id, 0.05).catch((caught: unknown) => caught);
  expect(error).toBeInstanceOf(PersistError);
  expect((error as PersistError).code).toBe("LOCK_TIMEOUT");
  expect((error as PersistError).message).toBe(
    `[hono-persist] ${join(dir, `${id}.lock`)} is still locked by another request after 0.05 s`,
  );
  const waiting = store.lock(id, 2);
  release();
  const second = await waiting;
  second();
  expect(existsSync(join(dir, `${id}.lock`))).toBe(false);
});

test("a lock left by a crashed process on this host is broken at once", async () => {
  const store = new FileStore({ dir, sweepInterval: 0 });
  const id = v4();
  const dead = spawnSync("true").pid;
  writeFileSync(join(dir, `${id}.lock`), `${dead}\n${hostname()}\ncrashed`);
  const started = Date.now();
  const release = await store.lock(id, 0.5);
  expect(Date.now() - started).toBeLessThan(500);
  release();
});

test("with `lock`, a request that cannot get the lock in time answers 503", async () => {
  const store = new FileStore({ dir, sweepInterval: 0 });
  const app = new Hono();
  app.use(persistSession({ secret: SECRET, store, lock: { timeout: 0.1 } }));
  app.post("/", (c) => {
    new Counter().count++;
    return c.text("ok");
  });
  const browser = new Browser(app);
  await browser.request("/", { method: "POST" });
  const id = browser.cookie("locked")?.split(".")[0] ?? "";
  // Another process's request holds this browser's state.
  const release = await store.lock(id, 1);
  const response = await browser.request("/", { method: "POST" });
  expect(response.status).toBe(503);
  // The path and id are for the logs (the HTTPException's cause), not for the visitor.
  expect(await response.text()).toBe("state is busy, try again");
  release();
  expect((await browser.request("/", { method: "POST" })).status).toBe(200);
});

test("`lock` with a store that cannot lock is refused at once", () => {
  expect(() =>
    persistSession({
      secret: SECRET,
      lock: true,
      store: { get: async () => undefined, set: async () => {}, delete: async () => {} },
    }),
  ).toThrow(
    new TypeError(
      "[hono-persist] option `lock` needs a store that can lock (`FileStore`, `RedisStore`, `PostgresStore`, or a store with `lock()`)",
    ),
  );
});
