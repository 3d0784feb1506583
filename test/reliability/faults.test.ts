import { execFileSync } from "node:child_process";
import { readFileSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { Hono } from "hono";
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
if (!canMount)
  console.warn("faults.test.ts: cannot mount a tmpfs (needs root): the read-only test is skipped");

describe.skipIf(!canMount)("the directory turns read-only", () => {
  let mountPoint: ReturnType<typeof tempDir>;
  beforeAll(() => {
    mountPoint = tempDir();
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=4m", "tmpfs", mountPoint.dir]);
  });
  afterAll(() => {
    execFileSync("umount", [mountPoint.dir]);
    mountPoint.remove();
  });

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
