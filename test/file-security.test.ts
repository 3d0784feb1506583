// Files planted in a FileStore directory (outside security review, issue #17): each test failed,
// or hung the process, before its fix.
import { execFileSync, spawnSync } from "node:child_process";
import {
  chmodSync,
  chownSync,
  existsSync,
  lstatSync,
  lutimesSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  statSync,
  symlinkSync,
  truncateSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { Hono } from "hono";
import { v4 } from "uuid";
import { afterEach, beforeEach, describe, expect, test } from "vitest";
import {
  FileStore,
  PersistError,
  type PersistSessionOptions,
  persist,
  persistInfo,
  persistSession,
} from "../src/index.js";
import { Browser, SECRET, tempDir } from "./helpers.js";

@persist("planted")
class Counter {
  count = 0;
  note = "";
}

const root = process.geteuid?.() === 0;
const NOBODY = 65534;

let dir: string;
let removeDir: () => void;
let logged: string[];
const logger = { warn: (m: string) => logged.push(m), error: (m: string) => logged.push(m) };

beforeEach(() => {
  ({ dir, remove: removeDir } = tempDir());
  logged = [];
});
afterEach(() => removeDir());

function appOver(store: FileStore, options: Partial<PersistSessionOptions> = {}): Hono {
  const app = new Hono();
  app.use(persistSession({ secret: SECRET, store, logger, ...options }));
  app.get("/", (c) => c.text(String(new Counter().count)));
  app.post("/", (c) => {
    const counter = new Counter();
    counter.count++;
    return c.text(String(counter.count));
  });
  return app;
}

const idOf = (browser: Browser) => browser.cookie("planted")?.split(".")[0] ?? "";
/** What is left in `dir` of locks: lock files, and ones moved aside to be broken. */
const locksIn = (dir: string) =>
  readdirSync(dir).filter((name) => name.endsWith(".lock") || name.endsWith(".stale"));

describe("lock files", () => {
  async function lockedBrowser(
    routes?: (app: Hono) => void,
  ): Promise<{ app: Hono; browser: Browser; lock: string }> {
    const app = appOver(new FileStore({ dir, sweepInterval: 0 }), { lock: { timeout: 1 } });
    routes?.(app);
    const browser = new Browser(app);
    expect(await browser.text("/", { method: "POST" })).toBe("1");
    return { app, browser, lock: join(dir, `${idOf(browser)}.lock`) };
  }

  test("a FIFO planted as a browser's lock file is no holder: removed at once, the event loop never blocked", async () => {
    const { app, browser, lock } = await lockedBrowser();
    const other = new Browser(app);
    expect(await other.text("/", { method: "POST" })).toBe("1");
    execFileSync("mkfifo", [lock]);
    const delay = monitorEventLoopDelay({ resolution: 10 });
    delay.enable();
    const started = performance.now();
    const [mine, theirs] = await Promise.all([
      browser.request("/", { method: "POST" }),
      other.request("/", { method: "POST" }),
    ]);
    delay.disable();
    expect([mine.status, await mine.text(), theirs.status, await theirs.text()]).toEqual([
      200,
      "2",
      200,
      "2",
    ]);
    expect(performance.now() - started).toBeLessThan(1000);
    expect(delay.max / 1e6).toBeLessThan(500);
    expect(locksIn(dir)).toEqual([]);
  });

  test("a symlink planted as a lock file is no holder: removed, never followed; its target is untouched", async () => {
    const { browser, lock } = await lockedBrowser();
    const outside = tempDir();
    try {
      const target = join(outside.dir, "target");
      writeFileSync(target, "outside\n");
      symlinkSync(target, lock);
      const response = await browser.request("/", { method: "POST" });
      expect(response.status).toBe(200);
      expect(await response.text()).toBe("2");
      expect(locksIn(dir)).toEqual([]);
      expect(readFileSync(target, "utf8")).toBe("outside\n");
    } finally {
      outside.remove();
    }
  });

  test("a lock file larger than any token is no holder: removed unread", async () => {
    const { browser, lock } = await lockedBrowser();
    writeFileSync(lock, "x".repeat(64 * 1024));
    const response = await browser.request("/", { method: "POST" });
    expect(response.status).toBe(200);
    expect(await response.text()).toBe("2");
    expect(locksIn(dir)).toEqual([]);
  });

  test("a held lock file replaced by a FIFO: the release leaves it, unread, and the next request removes it", async () => {
    const { browser, lock } = await lockedBrowser((app) =>
      app.post("/swap", (c) => {
        const counter = new Counter();
        const fifo = join(dir, "fifo");
        execFileSync("mkfifo", [fifo]);
        renameSync(fifo, join(dir, `${persistInfo(counter).id}.lock`));
        return c.text(String(++counter.count));
      }),
    );
    expect(await browser.text("/swap", { method: "POST" })).toBe("2");
    expect(lstatSync(lock).isFIFO()).toBe(true);
    expect(await browser.text("/", { method: "POST" })).toBe("3");
    expect(locksIn(dir)).toEqual([]);
  });

  test("a directory planted as a lock file is waited on until the timeout (503), not removed", async () => {
    const { browser, lock } = await lockedBrowser();
    mkdirSync(lock);
    const response = await browser.request("/", { method: "POST" });
    expect(response.status).toBe(503);
    expect(lstatSync(lock).isDirectory()).toBe(true);
  });
});

describe("the store directory", () => {
  const refused = (path: string, reason: string) =>
    new PersistError("STORE_DIR", `cannot use ${path} as the state directory: ${reason}`);

  test.each([
    ["0777", 0o777],
    ["1777 (sticky)", 0o1777],
    ["0770", 0o770],
  ])("an existing directory of ours with mode %s is tightened to 0700", (_, mode) => {
    const store = join(dir, "store");
    mkdirSync(store);
    chmodSync(store, mode);
    new FileStore({ dir: store, sweepInterval: 0 });
    expect(statSync(store).mode & 0o7777).toBe(0o700);
  });

  test("a directory of ours that others may only read keeps its mode", () => {
    const store = join(dir, "store");
    mkdirSync(store);
    chmodSync(store, 0o750);
    new FileStore({ dir: store, sweepInterval: 0 });
    expect(statSync(store).mode & 0o7777).toBe(0o750);
  });

  test("a symlink given as `dir` is refused, naming it", () => {
    const real = join(dir, "real");
    mkdirSync(real, { mode: 0o700 });
    const link = join(dir, "link");
    symlinkSync(real, link);
    expect(() => new FileStore({ dir: link, sweepInterval: 0 })).toThrow(
      refused(link, "it is a symbolic link: give the directory it points to as `dir`"),
    );
    expect(
      (() => {
        try {
          new FileStore({ dir: link, sweepInterval: 0 });
        } catch (error) {
          return (error as PersistError).code;
        }
      })(),
    ).toBe("STORE_DIR");
  });

  test("a directory reached through a symlinked parent, or made in a sticky world-writable one, is accepted", () => {
    const real = join(dir, "real");
    mkdirSync(real, { mode: 0o700 });
    symlinkSync(real, join(dir, "link"));
    const through = new FileStore({ dir: join(dir, "link", "store"), sweepInterval: 0 });
    expect(statSync(through.dir).mode & 0o7777).toBe(0o700);
    const shared = join(dir, "shared");
    mkdirSync(shared);
    chmodSync(shared, 0o1777);
    const inside = new FileStore({ dir: join(shared, "store"), sweepInterval: 0 });
    expect(statSync(inside.dir).mode & 0o7777).toBe(0o700);
  });

  test.skipIf(!root)("a directory owned by another user is refused, naming the fix", () => {
    const store = join(dir, "store");
    mkdirSync(store, { mode: 0o700 });
    chownSync(store, NOBODY, NOBODY);
    expect(() => new FileStore({ dir: store, sweepInterval: 0 })).toThrow(
      refused(
        store,
        `it is owned by uid ${NOBODY}, not by this process's user (uid 0), who could replace any state in it: \`chown 0 ${store}\` or choose another directory`,
      ),
    );
  });
});

describe("state files", () => {
  test("a sparse 450 MB file planted as a browser's state is quarantined unread: fresh state, no memory spike", async () => {
    const app = appOver(new FileStore({ dir, sweepInterval: 0 }));
    const browser = new Browser(app);
    expect(await browser.text("/", { method: "POST" })).toBe("1");
    const id = idOf(browser);
    const planted = join(dir, "planted");
    writeFileSync(planted, "");
    truncateSync(planted, 450 * 1024 * 1024);
    renameSync(planted, join(dir, id));
    const rss = process.memoryUsage().rss;
    const response = await browser.request("/");
    expect(process.memoryUsage().rss - rss).toBeLessThan(100 * 1024 * 1024);
    expect(response.status).toBe(200);
    expect(await response.text()).toBe("0");
    const [aside = ""] = readdirSync(dir).filter((name) => name.endsWith(".corrupt"));
    expect(aside).toMatch(new RegExp(`^${id}\\.\\d+\\.corrupt$`));
    expect(statSync(join(dir, aside)).size).toBe(450 * 1024 * 1024);
    expect(logged).toEqual([
      `[hono-persist] quarantined state "planted" ${id}: [hono-persist] ${join(dir, id)} is 471859200 bytes, more than a state of \`maxBytes\` (1048576) is stored in`,
    ]);
  });

  test("with `maxBytes` of 5 MiB, a 3 MB state is saved, then restored by a new app on the same directory", async () => {
    const options = { maxBytes: 5 * 1024 * 1024 };
    const app = appOver(new FileStore({ dir, sweepInterval: 0 }), options);
    app.post("/large", (c) => {
      const counter = new Counter();
      counter.count = 7;
      counter.note = "x".repeat(3_000_000);
      return c.text("ok");
    });
    const browser = new Browser(app);
    expect(await browser.text("/large", { method: "POST" })).toBe("ok");
    const restarted = appOver(new FileStore({ dir, sweepInterval: 0 }), options);
    restarted.get("/note", (c) => c.text(`${new Counter().count} ${new Counter().note.length}`));
    const response = await restarted.request("/note", {
      headers: { Cookie: `planted=${browser.cookies.get("planted")}` },
    });
    expect(await response.text()).toBe("7 3000000");
    expect(logged).toEqual([]);
  });

  // As root, a file of another user is served by the old code; as that user (seteuid), touching
  // root's file fails with EPERM, which made every request of the browser a 500.
  test.skipIf(!root).each([
    ["this process runs as root", 0],
    ["this process runs as another user", NOBODY],
  ])("a state file owned by another user is quarantined unread when %s", async (_, uid) => {
    const owner = uid === 0 ? NOBODY : 0;
    chownSync(dir, uid, uid);
    const as = (euid: number) => process.seteuid?.(euid);
    try {
      as(uid);
      const app = appOver(new FileStore({ dir, sweepInterval: 0 }));
      const browser = new Browser(app);
      expect(await browser.text("/", { method: "POST" })).toBe("1");
      const id = idOf(browser);
      as(0);
      const planted = join(dir, "planted");
      writeFileSync(
        planted,
        readFileSync(join(dir, id), "utf8").replace('"count":1', '"count":42'),
      );
      chownSync(planted, owner, owner);
      renameSync(planted, join(dir, id));
      as(uid);
      const response = await browser.request("/");
      expect(response.status).toBe(200);
      expect(await response.text()).toBe("0");
      expect(readdirSync(dir).filter((name) => name.endsWith(".corrupt"))).toHaveLength(1);
      expect(logged).toEqual([
        `[hono-persist] quarantined state "planted" ${id}: [hono-persist] ${join(dir, id)} is owned by uid ${owner}, not by this process's user (uid ${uid})`,
      ]);
    } finally {
      as(0);
    }
  });

  test("a state file whose deadline cannot be moved (immutable: EPERM) is invalid state, not a store failure", async ({
    skip,
  }) => {
    const id = "2b7d9b7e-0a7e-4f4e-9a59-2a3f3c1d2e4f";
    const file = join(dir, id);
    await new FileStore({ dir, sweepInterval: 0 }).set(id, "state", 60);
    if (spawnSync("chattr", ["+i", file]).status !== 0) skip("chattr +i is not available here");
    try {
      // A new store has no memory of the file; a longer ttl makes it move the deadline.
      const error = await new FileStore({ dir, sweepInterval: 0 })
        .get(id, 3600)
        .catch((caught: unknown) => caught);
      expect(error).toEqual(
        new PersistError("INVALID_STATE", `${file} refuses this process's update (EPERM)`),
      );
      expect((error as PersistError).code).toBe("INVALID_STATE");
    } finally {
      spawnSync("chattr", ["-i", file]);
    }
    expect(existsSync(file)).toBe(true);
  });
});

describe("sessions index", () => {
  /** A store in `dir/store`, and files outside it, two of them named as expired and live ids. */
  function planted() {
    const store = new FileStore({ dir: join(dir, "store"), sweepInterval: 0 });
    const outside = join(dir, "outside");
    mkdirSync(outside);
    const [expired, live] = [v4(), v4()];
    writeFileSync(join(outside, expired), "expired");
    utimesSync(join(outside, expired), new Date(0), new Date(0));
    writeFileSync(join(outside, live), "live");
    utimesSync(join(outside, live), new Date(), new Date(Date.now() + 3_600_000));
    const secret = join(dir, "secret");
    writeFileSync(secret, "outside");
    // A deadline ahead: a link to it, were it followed, would read as a live entry.
    utimesSync(secret, new Date(), new Date(Date.now() + 3_600_000));
    /** What is outside the store: names, contents and mtimes. */
    const snapshot = () =>
      [...readdirSync(outside).map((name) => join(outside, name)), secret].map((file) => [
        file,
        readFileSync(file, "utf8"),
        statSync(file).mtimeMs,
      ]);
    return { store, outside, expired, live, secret, snapshot };
  }

  test("a symlink planted as <user>.sessions is never followed: nothing listed, nothing outside removed or written; index() replaces it with a directory", async () => {
    const { store, outside, expired, live, snapshot } = planted();
    const user = v4();
    const records = join(store.dir, `${user}.sessions`);
    symlinkSync(outside, records);
    const before = snapshot();
    expect(await store.indexed(user)).toEqual([]);
    await store.unindex(user, [expired, live]);
    await store.unindex(user);
    expect(await store.sweep()).toBe(0);
    expect(snapshot()).toEqual(before);
    expect(lstatSync(records).isSymbolicLink()).toBe(true);
    const id = v4();
    await store.index(user, id, "mine", 60);
    expect(lstatSync(records).isDirectory()).toBe(true);
    expect(readdirSync(records)).toEqual([id]);
    expect(await store.indexed(user)).toEqual([[id, "mine"]]);
    expect(snapshot()).toEqual(before);
  });

  test("a symlink planted as an entry is not read through; unindex() and sweep() remove the link, not its target", async () => {
    const { store, secret, snapshot } = planted();
    const [user, mine, link] = [v4(), v4(), v4()];
    await store.index(user, mine, "mine", 60);
    const records = join(store.dir, `${user}.sessions`);
    const before = snapshot();
    symlinkSync(secret, join(records, link));
    expect(await store.indexed(user)).toEqual([[mine, "mine"]]);
    await store.unindex(user, [link]);
    expect(readdirSync(records)).toEqual([mine]);
    // Swept by the link's own mtime, which is no deadline of ours (here, long past).
    symlinkSync(secret, join(records, link));
    lutimesSync(join(records, link), new Date(0), new Date(0));
    expect(await store.sweep()).toBe(1);
    expect(readdirSync(records)).toEqual([mine]);
    expect(snapshot()).toEqual(before);
  });

  test("a FIFO or directory planted as an entry is not listed, and indexed() never blocks on it", async () => {
    const store = new FileStore({ dir, sweepInterval: 0 });
    const [user, mine, fifo, sub] = [v4(), v4(), v4(), v4()];
    await store.index(user, mine, "mine", 60);
    const records = join(dir, `${user}.sessions`);
    execFileSync("mkfifo", [join(records, fifo)]);
    mkdirSync(join(records, sub));
    expect(await store.indexed(user)).toEqual([[mine, "mine"]]);
    await store.unindex(user);
    // The FIFO is unlinked unopened; a directory is no entry, so it stays, and so does its parent.
    expect(readdirSync(records)).toEqual([sub]);
  });

  test("a user or id that is not a UUIDv4 never becomes a path", async () => {
    const store = new FileStore({ dir, sweepInterval: 0 });
    for (const bad of ["../escape", "..", "/etc/passwd", v4().toUpperCase(), "", `${v4()}\0`]) {
      await expect(store.index(bad, v4(), "{}", 60)).rejects.toThrow(
        new TypeError(`[hono-persist] FileStore: ${JSON.stringify(bad)} is not a UUIDv4`),
      );
      await expect(store.index(v4(), bad, "{}", 60)).rejects.toThrow(TypeError);
      await expect(store.indexed(bad)).rejects.toThrow(TypeError);
      await expect(store.unindex(bad)).rejects.toThrow(TypeError);
      await expect(store.unindex(v4(), [v4(), bad])).rejects.toThrow(TypeError);
    }
    expect(readdirSync(dir)).toEqual([]);
  });

  test.runIf(root)(
    "entries and directories of another user are not read, nor written into",
    async () => {
      const store = new FileStore({ dir, sweepInterval: 0 });
      const [user, mine, theirs, stranger] = [v4(), v4(), v4(), v4()];
      await store.index(user, mine, "mine", 60);
      await store.index(user, theirs, "theirs", 60);
      chownSync(join(dir, `${user}.sessions`, theirs), NOBODY, NOBODY);
      expect(await store.indexed(user)).toEqual([[mine, "mine"]]);
      await store.index(stranger, v4(), "x", 60);
      chownSync(join(dir, `${stranger}.sessions`), NOBODY, NOBODY);
      expect(await store.indexed(stranger)).toEqual([]);
      const file = join(dir, `${stranger}.sessions`);
      await expect(store.index(stranger, v4(), "y", 60)).rejects.toThrow(
        new PersistError(
          "INVALID_STATE",
          `${file} is owned by uid ${NOBODY}, not by this process's user (uid 0)`,
        ),
      );
    },
  );
});
