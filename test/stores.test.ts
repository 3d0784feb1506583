import { spawn, spawnSync } from "node:child_process";
import {
  appendFileSync,
  existsSync,
  linkSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  realpathSync,
  rmSync,
  statSync,
  symlinkSync,
  utimesSync,
  watch,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { v4 } from "uuid";
import { afterEach, beforeEach, describe, expect, test, vi } from "vitest";
import { FileStore, MemoryStore, PersistError } from "../src/index.js";
import { endWriterThread, writeOffThread } from "../src/stores/file-writer.js";
import { readState, tempDir } from "./helpers.js";
import { storeContract } from "./store-contract.js";

let dir: string;
let removeDir: () => void;
beforeEach(() => {
  ({ dir, remove: removeDir } = tempDir());
});
afterEach(() => {
  vi.useRealTimers();
  removeDir();
});

storeContract("MemoryStore", () => new MemoryStore({ sweepInterval: 0 }), {
  clock: "fake",
  sweeps: true,
  indexes: true,
});
storeContract("FileStore", () => new FileStore({ dir: join(dir, "store"), sweepInterval: 0 }), {
  clock: "fake",
  sweeps: true,
  indexes: true,
});

describe("FileStore", () => {
  test("creates its directory 0700 and files 0600, whatever the umask", async () => {
    const previous = process.umask(0o000);
    try {
      const store = new FileStore({ dir: join(dir, "a", "b"), sweepInterval: 0 });
      const id = v4();
      await store.set(id, "x", 60);
      expect(statSync(store.dir).mode & 0o777).toBe(0o700);
      expect(statSync(join(store.dir, id)).mode & 0o777).toBe(0o600);
    } finally {
      process.umask(previous);
    }
  });

  test("a file is written whole and renamed in, small rewrites are appended, and it is written whole again before it passes 4 KB", async () => {
    const store = new FileStore({ dir, sweepInterval: 0 });
    const id = v4();
    const file = join(dir, id);
    await store.set(id, "old", 60);
    const first = statSync(file).ino;
    expect(readFileSync(file, "utf8")).toBe("old\n");
    await store.set(id, "new", 60);
    expect(statSync(file).ino).toBe(first);
    expect(readFileSync(file, "utf8")).toBe("old\nnew\n");
    // 100-character records: 40 more fit under 4,096 bytes, the 41st does not.
    for (let i = 0; i < 40; i++) await store.set(id, `${i}`.padEnd(100, "."), 60);
    expect(statSync(file).ino).toBe(first);
    expect(statSync(file).size).toBe(8 + 40 * 101);
    await store.set(id, "last".padEnd(100, "."), 60);
    expect(statSync(file).ino).not.toBe(first);
    expect(readFileSync(file, "utf8")).toBe(`${"last".padEnd(100, ".")}\n`);
    const lastInode = statSync(file).ino;
    // Over 2 KB: the file may reach twice the record, one append after each whole write.
    const large = (n: number) => `${n}`.padEnd(3000, ".");
    const inodes: number[] = [];
    for (let n = 1; n <= 4; n++) {
      await store.set(id, large(n), 60);
      inodes.push(statSync(file).ino);
    }
    // 1 appended to "last" (101 + 3,001 bytes), 2 whole, 3 appended (6,002), 4 whole.
    expect(inodes[0]).toBe(lastInode);
    expect(inodes[1]).not.toBe(inodes[0]);
    expect(inodes[2]).toBe(inodes[1]);
    expect(inodes[3]).not.toBe(inodes[2]);
    expect(readFileSync(file, "utf8")).toBe(`${large(4)}\n`);
    expect(readdirSync(dir)).toEqual([id]);
  });

  test("a file that another writer changed is written whole, never appended to", async () => {
    const store = new FileStore({ dir, sweepInterval: 0 });
    const other = new FileStore({ dir, sweepInterval: 0 });
    const id = v4();
    const file = join(dir, id);
    await store.set(id, "mine", 60);
    await other.set(id, "theirs", 60);
    const theirs = statSync(file).ino;
    await store.set(id, "mine again", 60);
    expect(statSync(file).ino).not.toBe(theirs);
    expect(readFileSync(file, "utf8")).toBe("mine again\n");
    // Appended to by another writer: same inode, but not the file this store wrote.
    const mine = statSync(file).ino;
    await other.set(id, "theirs again", 60);
    expect(statSync(file).ino).not.toBe(mine);
    const appended = statSync(file).ino;
    expect(await store.get(id, 60)).toBe("theirs again");
    await other.set(id, "theirs, appended", 60);
    expect(statSync(file).ino).toBe(appended);
    await store.set(id, "mine, whole", 60);
    expect(readFileSync(file, "utf8")).toBe("mine, whole\n");
  });

  test("a file last changed by a write itself (a writer killed before it set the deadline) is read, not expired, and swept a day later", async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    const writer = new FileStore({ dir, sweepInterval: 0 });
    const [read, unread] = [v4(), v4()];
    for (const id of [read, unread]) {
      await writer.set(id, "one", 60);
      // What an append leaves until its futimes: the mtime (the deadline) is the write's time.
      appendFileSync(join(dir, id), "two\n");
      const { mtimeMs, ctimeMs } = statSync(join(dir, id));
      expect(mtimeMs).toBe(ctimeMs);
    }
    vi.setSystemTime(Date.now() + 1000);
    const store = new FileStore({ dir, sweepInterval: 0 });
    expect(await store.get(read, 60)).toBe("two");
    // Read: it has a deadline again, `ttl` from now.
    expect(statSync(join(dir, read)).mtimeMs).toBeGreaterThan(Date.now() + 59_000);
    vi.setSystemTime(Date.now() + 23 * 3600 * 1000);
    expect(await store.sweep()).toBe(1); // `read`, whose 60 s have passed
    expect(await store.get(unread, 60)).toBe("two");
    appendFileSync(join(dir, unread), "three\n");
    vi.setSystemTime(Date.now() + 24 * 3600 * 1000 + 1000);
    expect(await store.sweep()).toBe(1);
    expect(readdirSync(dir)).toEqual([]);
  });

  test("an append cut short (a killed writer) is skipped: the record before it is read, and the next write is whole", async () => {
    const writer = new FileStore({ dir, sweepInterval: 0 });
    const id = v4();
    const file = join(dir, id);
    await writer.set(id, '{"n":1}', 60);
    await writer.set(id, '{"n":2}', 60);
    const { atime, mtime } = statSync(file);
    appendFileSync(file, '{"n":3,"pad":"xx');
    utimesSync(file, atime, mtime);
    const store = new FileStore({ dir, sweepInterval: 0 });
    expect(await store.get(id, 60)).toBe('{"n":2}');
    // The writer's file changed behind its back: it reads it again too.
    expect(await writer.get(id, 60)).toBe('{"n":2}');
    await store.set(id, '{"n":4}', 60);
    expect(readFileSync(file, "utf8")).toBe('{"n":4}\n');
  });

  test.each([
    ["a newline", "line one\nline two"],
    ["a leading quote", '"quoted"'],
    ["nothing", ""],
    ["only a newline", "\n"],
    ["a quote inside", 'say "hi"'],
    ["a JSON string", JSON.stringify("a\nb")],
    ["a lone surrogate", "a\ud800b"],
  ])("a string with %s reads back as written, whole or appended", async (_, data) => {
    const store = new FileStore({ dir, sweepInterval: 0 });
    const id = v4();
    await store.set(id, data, 60);
    expect(await new FileStore({ dir, sweepInterval: 0 }).get(id, 60)).toBe(data);
    await store.set(id, "between", 60);
    await store.set(id, data, 60);
    expect(readFileSync(join(dir, id), "utf8").split("\n").length).toBe(4); // three records
    expect(await new FileStore({ dir, sweepInterval: 0 }).get(id, 60)).toBe(data);
    expect(await store.get(id, 60)).toBe(data);
  });

  test("what it remembers of a file is never served once the file changed behind its back", async () => {
    const store = new FileStore({ dir, sweepInterval: 0 });
    const other = new FileStore({ dir, sweepInterval: 0 });
    const id = v4();
    await store.set(id, "mine", 60);
    expect(await store.get(id, 60)).toBe("mine");
    await other.set(id, "theirs", 60);
    expect(await store.get(id, 60)).toBe("theirs");
    // Rewritten in place, same size, mtime put back: the change time still tells.
    const { atime, mtime } = statSync(join(dir, id));
    writeFileSync(join(dir, id), "THEIRS");
    utimesSync(join(dir, id), atime, mtime);
    expect(await store.get(id, 60)).toBe("THEIRS");
    await other.delete(id);
    expect(await store.get(id, 60)).toBeUndefined();
  });

  test("a failed write leaves the old state and no temporary file", async () => {
    const store = new FileStore({ dir, sweepInterval: 0 });
    const id = v4();
    await store.set(id, "old", 60);
    // A directory in place of the target makes rename fail after the temporary file is written.
    const other = v4();
    mkdirSync(join(dir, other));
    writeFileSync(join(dir, other, "x"), "");
    const error = await store.set(other, "new", 60).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(PersistError);
    expect((error as PersistError).code).toBe("STORE_FAILED");
    expect((error as PersistError).message).toContain(`could not write ${join(dir, other)}: `);
    // The OS error as the failing call reported it, though it ran on the writer thread.
    expect((error as PersistError).cause).toMatchObject({ code: "EISDIR", syscall: "rename" });
    expect(readdirSync(dir).filter((name) => name.endsWith(".tmp"))).toEqual([]);
    expect(readState(join(dir, id))).toBe("old");
  });

  test("writes of one id apply in the order they were made, even when nobody awaits them", async () => {
    const store = new FileStore({ dir, sweepInterval: 0 });
    const [kept, removed] = [v4(), v4()];
    const calls = [
      store.set(kept, "first", 60),
      store.set(removed, "first", 60),
      store.set(kept, "second", 60),
      store.delete(removed),
      store.set(kept, "third", 60),
    ];
    expect(await store.get(kept, 60)).toBe("third");
    expect(await store.get(removed, 60)).toBeUndefined();
    await Promise.all(calls);
    expect(readState(join(dir, kept))).toBe("third");
    expect(existsSync(join(dir, removed))).toBe(false);
  });

  test("the writer thread runs here, and writes a whole file and its newline as the store would", async () => {
    const file = join(dir, v4());
    const line = `é${"x".repeat(100_000)}`;
    const deadline = Date.now() + 60_000;
    const written = await writeOffThread({
      dir,
      temp: `${file}.tmp`,
      file,
      line,
      deadline,
      fsync: false,
    });
    const stat = statSync(file);
    expect(written).toMatchObject({ written: stat.ino, ino: stat.ino, size: stat.size });
    expect(readFileSync(file, "utf8")).toBe(`${line}\n`);
    expect(stat.mode & 0o777).toBe(0o600);
    expect(Math.abs(stat.mtimeMs - deadline)).toBeLessThan(1);
  });

  describe.skipIf(!existsSync("/proc/self/fd"))("files the writer thread holds open", () => {
    /** What this process has open in the test's directory (/proc/self/fd: Linux). */
    const openIn = (directory: string) => {
      const real = realpathSync(directory);
      return readdirSync("/proc/self/fd")
        .map((fd) => {
          try {
            return readlinkSync(join("/proc/self/fd", fd));
          } catch {
            return "";
          }
        })
        .filter((target) => target.startsWith(real));
    };

    test("each file it replaced (held open across the rename) is closed once it has answered", async () => {
      const store = new FileStore({ dir, sweepInterval: 0 });
      const id = v4();
      // Over 16 K: each is written whole by the thread, replacing the one before.
      for (let n = 0; n < 30; n++) await store.set(id, `${n}`.padEnd(20_000, "."), 60);
      // Jobs run in turn: once a write of a new file (nothing to replace) is answered, the close
      // that followed the last replace has run.
      await store.set(v4(), "x".repeat(20_000), 60);
      expect(openIn(dir)).toEqual([]);
      expect(readState(join(dir, id))).toBe("29".padEnd(20_000, "."));
    });

    // Needs two filesystems: the temporary file on /dev/shm (tmpfs), the state file here.
    test.skipIf(!existsSync("/dev/shm") || statSync("/dev/shm").dev === statSync(tmpdir()).dev)(
      "a write that fails after opening the file it replaces closes that too",
      async () => {
        const file = join(dir, v4());
        writeFileSync(file, "old\n");
        const temp = join("/dev/shm", `hono-persist-test-${v4()}.tmp`);
        const error = await writeOffThread({
          dir,
          temp,
          file,
          line: "new",
          deadline: Date.now() + 60_000,
          fsync: false,
        })?.catch((caught: unknown) => caught);
        // rename() across filesystems.
        expect((error as NodeJS.ErrnoException).code).toBe("EXDEV");
        expect(existsSync(temp)).toBe(false);
        expect(readFileSync(file, "utf8")).toBe("old\n");
        // Jobs run in turn: once the next is answered, the failed one's close has run.
        await writeOffThread({
          dir,
          temp: join(dir, "next.tmp"),
          file: join(dir, v4()),
          line: "x",
          deadline: Date.now() + 60_000,
          fsync: false,
        });
        expect(openIn(dir)).toEqual([]);
      },
    );

    test("a FIFO in place of the file is not opened (it would release a writer blocked on it)", async () => {
      const file = join(dir, v4());
      expect(spawnSync("mkfifo", [file]).status).toBe(0);
      // Another name for the FIFO, which outlives the rename over `file`.
      const fifo = join(dir, "fifo");
      linkSync(file, fifo);
      // A writer blocked in open() until the FIFO has a reader.
      const writer = spawn(process.execPath, [
        "-e",
        "require('node:fs').writeFileSync(process.argv[1], 'planted')",
        fifo,
      ]);
      const exited = new Promise((resolve) => writer.on("exit", resolve));
      const blocked = () =>
        readFileSync(`/proc/${writer.pid}/wchan`, "utf8") === "wait_for_partner";
      for (const until = Date.now() + 10_000; !blocked(); ) {
        expect(Date.now()).toBeLessThan(until);
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      await writeOffThread({
        dir,
        temp: `${file}.tmp`,
        file,
        line: "x",
        deadline: Date.now() + 60_000,
        fsync: false,
      });
      expect(readFileSync(file, "utf8")).toBe("x\n");
      expect(blocked()).toBe(true);
      writer.kill();
      expect(await exited).not.toBe(0);
    });
  });

  test("writes in flight when the writer thread dies are made on the main thread", async () => {
    const store = new FileStore({ dir, sweepInterval: 0 });
    const ids = Array.from({ length: 20 }, () => v4());
    await store.set(v4(), "the thread is up", 60);
    const writes = ids.map((id) => store.set(id, `state of ${id}`, 60));
    await endWriterThread();
    await Promise.all(writes);
    for (const id of ids) expect(readState(join(dir, id))).toBe(`state of ${id}`);
    // The next write starts a new thread.
    await store.set(ids[0] as string, "after", 60);
    expect(readState(join(dir, ids[0] as string))).toBe("after");
  });

  test("a write the writer thread dies in the middle of is made anew, its temporary file removed", async () => {
    const store = new FileStore({ dir, sweepInterval: 0 });
    await store.set(v4(), "the thread is up", 60);
    const id = v4();
    const large = "x".repeat(64 * 1024 * 1024);
    // The thread dies once it has created the temporary file (it is then writing 64 MB).
    const started = new Promise<void>((resolve) => {
      const watcher = watch(dir, (_, name) => {
        if (!name?.startsWith(`.${id}.`)) return;
        watcher.close();
        resolve();
      });
    });
    const write = store.set(id, large, 60);
    await started;
    await endWriterThread();
    await write;
    expect(readState(join(dir, id))?.length).toBe(large.length);
    expect(readdirSync(dir).filter((name) => name.endsWith(".tmp"))).toEqual([]);
  });

  test("the writer thread does not keep a process alive once its writes are done", () => {
    const child = spawnSync(
      process.execPath,
      ["--import", "tsx", "test/fixtures/write-once.ts", dir],
      { encoding: "utf8", timeout: 20_000 },
    );
    expect(child.signal).toBeNull(); // not killed by the timeout
    expect(child.status).toBe(0);
    expect(child.stdout).toBe("written\n");
    expect(readState(join(dir, "3f2b1c0a-9d8e-4f7a-b6c5-d4e3f2a1b0c9"))).toBe("written");
  });

  test("refreshing the deadline touches the mtime, never the content", async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    const store = new FileStore({ dir, sweepInterval: 0 });
    const id = v4();
    await store.set(id, "data", 100);
    const before = statSync(join(dir, id));
    vi.setSystemTime(Date.now() + 50_000);
    await store.get(id, 100);
    const after = statSync(join(dir, id));
    expect(after.ino).toBe(before.ino);
    expect(after.mtimeMs - before.mtimeMs).toBeCloseTo(50_000, -1);
  });

  test("a symlink in place of a state file is refused, not followed", async () => {
    const store = new FileStore({ dir, sweepInterval: 0 });
    const id = v4();
    writeFileSync(join(dir, "secret"), "outside");
    symlinkSync(join(dir, "secret"), join(dir, id));
    const error = await store.get(id, 60).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(PersistError);
    expect((error as PersistError).code).toBe("INVALID_STATE");
    await store.quarantine(id);
    expect(existsSync(join(dir, id))).toBe(false);
    const [aside = ""] = readdirSync(dir).filter((name) => name.endsWith(".corrupt"));
    expect(lstatSync(join(dir, aside)).isSymbolicLink()).toBe(true);
    expect(readState(join(dir, "secret"))).toBe("outside");
  });

  test("ids that are not UUIDv4 never become paths", async () => {
    const store = new FileStore({ dir, sweepInterval: 0 });
    for (const id of ["../escape", "/etc/passwd", v4().toUpperCase(), "", `${v4()}\0`]) {
      await expect(store.get(id, 60)).rejects.toThrow(TypeError);
      await expect(store.set(id, "x", 60)).rejects.toThrow(TypeError);
    }
    expect(readdirSync(dir)).toEqual([]);
  });

  test("sweep() removes temporary files of dead writers at once, of live ones after a minute", async () => {
    const store = new FileStore({ dir, sweepInterval: 0 });
    const dead = spawnSync("true").pid;
    const crashed = join(dir, `.${v4()}.${dead}.0a0b0c0d0e0f.tmp`);
    const inFlight = join(dir, `.${v4()}.${process.pid}.0a0b0c0d0e0f.tmp`);
    writeFileSync(crashed, "partial");
    writeFileSync(inFlight, "partial");
    expect(await store.sweep()).toBe(1);
    expect(existsSync(crashed)).toBe(false);
    expect(existsSync(inFlight)).toBe(true);
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(statSync(inFlight).ctimeMs + 61_000);
    expect(await store.sweep()).toBe(1);
    expect(existsSync(inFlight)).toBe(false);
  });

  test("sweep() goes on past an entry it cannot remove, then reports it", async () => {
    const store = new FileStore({ dir, sweepInterval: 0 });
    const blocker = join(dir, `${v4()}.1.corrupt`);
    mkdirSync(join(dir, "sub"));
    writeFileSync(join(dir, "sub", "x"), "");
    // A directory named like a quarantined file is skipped, not a reason to stop.
    mkdirSync(blocker);
    utimesSync(blocker, new Date(0), new Date(0));
    const expired = Array.from({ length: 3 }, () => join(dir, v4()));
    for (const file of expired) {
      writeFileSync(file, "{}");
      utimesSync(file, new Date(0), new Date(0));
    }
    expect(await store.sweep()).toBe(3);
    expect(expired.filter((file) => existsSync(file))).toEqual([]);
    expect(existsSync(blocker)).toBe(true);
  });

  test("the first sweep runs at start", async () => {
    const expired = join(dir, v4());
    writeFileSync(expired, "{}");
    utimesSync(expired, new Date(0), new Date(0));
    const store = new FileStore({ dir, sweepInterval: 3600 });
    await vi.waitFor(() => expect(existsSync(expired)).toBe(false), { timeout: 1000, interval: 5 });
    await store.close();
  });
});

describe("sessions index", () => {
  test("MemoryStore refuses a user or id that is not a UUIDv4, as the file-backed stores do", async () => {
    const store = new MemoryStore({ sweepInterval: 0 });
    for (const bad of ["../escape", v4().toUpperCase(), ""]) {
      await expect(store.index(bad, v4(), "{}", 60)).rejects.toThrow(
        new TypeError(`[hono-persist] MemoryStore: ${JSON.stringify(bad)} is not a UUIDv4`),
      );
      await expect(store.index(v4(), bad, "{}", 60)).rejects.toThrow(TypeError);
      await expect(store.indexed(bad)).rejects.toThrow(TypeError);
      await expect(store.unindex(bad)).rejects.toThrow(TypeError);
      await expect(store.unindex(v4(), [bad])).rejects.toThrow(TypeError);
    }
  });

  test("MemoryStore sweep() drops a user's map once its records are gone", async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    const store = new MemoryStore({ sweepInterval: 0 });
    const [user, id] = [v4(), v4()];
    await store.index(user, id, "{}", 5);
    await store.set(id, "state", 50);
    vi.setSystemTime(Date.now() + 10_000);
    expect(await store.sweep()).toBe(1);
    // States and records are apart: the state of the same id stays, and size counts states only.
    expect(store.size).toBe(1);
    expect(await store.get(id, 50)).toBe("state");
    expect(await store.indexed(user)).toEqual([]);
  });

  test("FileStore keeps a user's records in <user>.sessions/<id>, 0700 and 0600 whatever the umask, the mtime their deadline", async () => {
    const previous = process.umask(0o000);
    try {
      const store = new FileStore({ dir, sweepInterval: 0 });
      const [user, id] = [v4(), v4()];
      const before = Date.now();
      await store.index(user, id, '{"key":"k","seen":1}', 600);
      const records = join(dir, `${user}.sessions`);
      expect(readdirSync(dir)).toEqual([`${user}.sessions`]);
      expect(readdirSync(records)).toEqual([id]);
      expect(lstatSync(records).mode & 0o777).toBe(0o700);
      const stat = lstatSync(join(records, id));
      expect(stat.mode & 0o777).toBe(0o600);
      expect(stat.mtimeMs).toBeGreaterThanOrEqual(before + 600_000 - 1);
      expect(stat.mtimeMs).toBeLessThanOrEqual(Date.now() + 600_000 + 1);
      expect(readFileSync(join(records, id), "utf8")).toBe('{"key":"k","seen":1}');
    } finally {
      process.umask(previous);
    }
  });

  test("FileStore: a <user>.sessions directory is never taken for a state by get, delete, quarantine or sweep", async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    const store = new FileStore({ dir, sweepInterval: 0 });
    const [user, other, live, gone, state, oldState] = [v4(), v4(), v4(), v4(), v4(), v4()];
    await store.set(state, "state", 50);
    await store.set(oldState, "old", 5);
    await store.index(user, live, "live", 50);
    await store.index(user, gone, "gone", 5);
    await store.index(other, v4(), "other", 5);
    // A file of another tool in a user's directory is neither read nor removed.
    writeFileSync(join(dir, `${user}.sessions`, "notes.txt"), "x");
    expect(await store.get(user, 60)).toBeUndefined();
    await store.delete(user);
    await store.quarantine(user);
    expect((await store.indexed(user)).sort()).toEqual(
      [
        [live, "live"],
        [gone, "gone"],
      ].sort(),
    );
    vi.setSystemTime(Date.now() + 10_000);
    // One state and two records expired; the other user's directory, emptied, goes too.
    expect(await store.sweep()).toBe(3);
    expect(readdirSync(dir).sort()).toEqual([state, `${user}.sessions`].sort());
    expect(readdirSync(join(dir, `${user}.sessions`)).sort()).toEqual([live, "notes.txt"].sort());
    expect(await store.get(state, 50)).toBe("state");
    expect(await store.indexed(user)).toEqual([[live, "live"]]);
    expect(await store.sweep()).toBe(0);
  });

  test("FileStore: unindex() without ids removes the directory; sweep() removes dead writers' temporary files in it", async () => {
    const store = new FileStore({ dir, sweepInterval: 0 });
    const [user, id] = [v4(), v4()];
    await store.index(user, id, "{}", 60);
    const crashed = join(dir, `${user}.sessions`, `.${v4()}.${spawnSync("true").pid}.0a0b.tmp`);
    writeFileSync(crashed, "partial");
    expect(await store.sweep()).toBe(1);
    expect(readdirSync(join(dir, `${user}.sessions`))).toEqual([id]);
    await store.unindex(user);
    expect(readdirSync(dir)).toEqual([]);
  });

  test("FileStore: index() makes the directory again when it was removed under it", async () => {
    const store = new FileStore({ dir: join(dir, "store"), sweepInterval: 0 });
    const [user, id] = [v4(), v4()];
    await store.index(user, v4(), "{}", 60);
    rmSync(join(dir, "store"), { recursive: true });
    await store.index(user, id, "again", 60);
    expect(await store.indexed(user)).toEqual([[id, "again"]]);
    expect(lstatSync(join(dir, "store")).mode & 0o777).toBe(0o700);
  });
});
