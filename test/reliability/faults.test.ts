import { execFileSync } from "node:child_process";
import { appendFileSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { Hono } from "hono";
import { v4 } from "uuid";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { FileStore, type PersistError, persist, persistSession } from "../../src/index.js";
import { Browser, SECRET, tempDir } from "../helpers.js";
import { figure } from "./figures.js";

@persist("faults")
class Counter {
  count = 0;
}

function counterApp(store: FileStore) {
  const errors: unknown[] = [];
  const app = new Hono();
  app.use(persistSession({ secret: SECRET, store, logger: { warn() {}, error() {} } }));
  app.get("/", (c) => c.text(String(new Counter().count)));
  app.post("/increment", (c) => {
    new Counter().count++;
    return c.text("ok");
  });
  app.onError((error, c) => {
    errors.push(error);
    return c.text(error.message, 500);
  });
  return { app, errors };
}

/** A small tmpfs of our own, which can be remounted read-only: root ignores file modes. */
function mountable(): boolean {
  if (process.getuid?.() !== 0) return false;
  const probe = tempDir();
  try {
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", probe.dir], {
      stdio: "ignore",
    });
    execFileSync("umount", [probe.dir], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  } finally {
    probe.remove();
  }
}
const canMount = mountable();

/** A tmpfs of `size` mounted for the tests of the enclosing describe. */
function tmpfs(size: string): { dir: string } {
  const mountPoint = { dir: "", remove: () => {} };
  beforeAll(() => {
    Object.assign(mountPoint, tempDir());
    execFileSync("mount", ["-t", "tmpfs", "-o", `size=${size}`, "tmpfs", mountPoint.dir]);
  });
  afterAll(() => {
    execFileSync("umount", [mountPoint.dir]);
    mountPoint.remove();
  });
  return mountPoint;
}
if (!canMount)
  console.warn("faults.test.ts: cannot mount a tmpfs (needs root): the read-only test is skipped");

describe.skipIf(!canMount)("the directory turns read-only", () => {
  const mountPoint = tmpfs("4m");

  test("the request fails with a clear error, the last good state stays, and it works again when writable", async () => {
    const store = new FileStore({ dir: join(mountPoint.dir, "state"), sweepInterval: 0 });
    const { app, errors } = counterApp(store);
    const browser = new Browser(app);
    await browser.request("/increment", { method: "POST" });
    const file = join(store.dir, browser.cookie("faults")?.split(".")[0] ?? "");
    const good = readFileSync(file, "utf8");

    execFileSync("mount", ["-o", "remount,ro", mountPoint.dir]);
    const failed = await browser.request("/increment", { method: "POST" });
    expect(failed.status).toBe(500);
    expect(await failed.text()).toMatch(
      /^\[hono-persist\] could not write .+: EROFS: read-only file system, open '.+\.tmp'$/,
    );
    expect((errors[0] as PersistError).code).toBe("STORE_FAILED");
    expect(readFileSync(file, "utf8")).toBe(good);
    // Reading still works while the disk is read-only.
    expect(await browser.text("/")).toBe("1");

    execFileSync("mount", ["-o", "remount,rw", mountPoint.dir]);
    await browser.request("/increment", { method: "POST" });
    expect(await browser.text("/")).toBe("2");
    figure("fault-read-only", {
      failedRequests: 1,
      lastGoodStateKept: true,
      recoveredWithoutRestart: true,
    });
  });
});

describe.skipIf(!canMount)("the disk fills up", () => {
  const mountPoint = tmpfs("256k");

  test("an append and the whole write that follows it fail with ENOSPC; the last good state and its deadline stay", async () => {
    const store = new FileStore({ dir: join(mountPoint.dir, "state"), sweepInterval: 0 });
    const id = v4();
    const file = join(store.dir, id);
    // 3,001 bytes: the next record appended needs a second page of the file.
    const good = "g".repeat(3000);
    await store.set(id, good, 3600);
    const before = statSync(file);
    const filler = join(mountPoint.dir, "filler");
    const page = Buffer.alloc(4096, 1);
    try {
      for (;;) appendFileSync(filler, page);
    } catch (error) {
      expect((error as NodeJS.ErrnoException).code).toBe("ENOSPC");
    }
    const error = await store.set(id, "n".repeat(3000), 3600).catch((caught: unknown) => caught);
    expect((error as PersistError).code).toBe("STORE_FAILED");
    expect((error as PersistError).message).toContain("ENOSPC");
    const after = statSync(file);
    expect([after.ino, after.size, after.mtimeMs]).toEqual([
      before.ino,
      before.size,
      before.mtimeMs,
    ]);
    expect(readFileSync(file, "utf8")).toBe(`${good}\n`);
    expect(await new FileStore({ dir: store.dir, sweepInterval: 0 }).get(id, 3600)).toBe(good);
    expect(readdirSync(store.dir)).toEqual([id]);

    rmSync(filler);
    await store.set(id, "n".repeat(3000), 3600);
    expect(await new FileStore({ dir: store.dir, sweepInterval: 0 }).get(id, 3600)).toBe(
      "n".repeat(3000),
    );
    figure("fault-disk-full", { lastGoodStateKept: true, deadlineKept: true, recovered: true });
  });
});

test("the directory disappears: the write makes it again (0700), no restart", async () => {
  const temp = tempDir();
  const store = new FileStore({ dir: join(temp.dir, "state"), sweepInterval: 0 });
  const { app } = counterApp(store);
  const browser = new Browser(app);
  await browser.request("/increment", { method: "POST" });
  rmSync(store.dir, { recursive: true });
  // The state went with the directory: this browser starts fresh, and its write succeeds.
  expect(await browser.text("/")).toBe("0");
  expect((await browser.request("/increment", { method: "POST" })).status).toBe(200);
  expect(await browser.text("/")).toBe("1");
  expect(statSync(store.dir).mode & 0o777).toBe(0o700);
  figure("fault-directory-removed", { requestsFailed: 0, recoveredWithoutRestart: true });
  temp.remove();
});
