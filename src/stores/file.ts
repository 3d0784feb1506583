import { randomBytes } from "node:crypto";
import {
  accessSync,
  chmodSync,
  closeSync,
  constants,
  fstatSync,
  fsyncSync,
  ftruncateSync,
  futimesSync,
  lstatSync,
  lutimesSync,
  mkdirSync,
  openSync,
  readSync,
  renameSync,
  type Stats,
  unlinkSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { opendir } from "node:fs/promises";
import { join, resolve, sep } from "node:path";
import { isSessionId } from "../cookie.js";
import { misuse, PersistError } from "../errors.js";
import { readNow } from "../internal/read-now.js";
import type { Store } from "../types.js";
import {
  INDEX_DIR,
  isIndexDir,
  readEntries,
  removeEntries,
  removeIfEmpty,
  writeEntry,
} from "./file-index.js";
import { isRunning, LOCK_STALE_MS, lockFile } from "./file-lock.js";
import { currentRecord, recordLine } from "./file-records.js";
import { type WriteJob, WriterLost, type Written, writeOffThread } from "./file-writer.js";

/** Options of `FileStore`. */
export interface FileStoreOptions {
  /**
   * The directory that holds one file per session, created with mode 0700 if missing. Whoever
   * can write to it can replace any browser's state, so it must be a directory of this
   * process's user: a symlink (as its last component) or a directory of another user is refused
   * with `STORE_DIR`, and one of ours that group or others may write to is made 0700.
   * @default ".hono-persist" in the working directory
   */
  dir?: string;
  /**
   * Seconds between background sweeps of expired files; `0` turns them off (call `sweep()`).
   * @default 600
   */
  sweepInterval?: number;
  /**
   * `fsync` each file before it replaces the old one, so a power loss (not only a crash of the
   * process) keeps the old state or the new. Costs a disk flush per write.
   * @default false
   */
  fsync?: boolean;
}

// Temporary files of a live process younger than this may be a write in progress.
const TEMP_GRACE_MS = 60_000;
// `.<id>.<pid>.<random>.tmp`: the pid tells whether the writer still runs.
const TEMP_NAME = /^\.[0-9a-f-]{36}\.(\d+)\.[0-9a-f]+\.tmp$/;
// See deadlineOf.
const UNSET_DEADLINE_MS = 24 * 3600 * 1000;
// Quarantined files are kept this long for inspection, then swept.
const QUARANTINE_MS = 7 * 24 * 3600 * 1000;
// How many files' contents are remembered to skip reading them again, and their total length
// at most (UTF-16 units): large states are not kept in memory twice without a bound.
const RECENT = 1000;
const RECENT_LENGTH = 16 * 1024 * 1024;
// Records up to this long (UTF-16 units) are appended to their file, on this thread: one
// `write` of a few µs, less than handing it to the writer thread.
const APPEND_MAX = 16 * 1024;
// A file grows by appends up to one disk block, or twice its record; then it is rewritten whole.
const FILE_MAX = 4096;
/**
 * The largest file that holds a state of `maxBytes` (the middleware's records are JSON, stored
 * as they are): its record alone, or appended to records up to FILE_MAX or one earlier copy
 * (the append rule), with a third record at most when two processes append at one instant.
 */
const fileLimit = (maxBytes: number) => 3 * maxBytes + FILE_MAX;
const { O_APPEND, O_RDONLY, O_NOFOLLOW, O_NONBLOCK, O_WRONLY, O_CREAT, O_EXCL } = constants;
// Temporary names: random per process (two containers may share a directory and a pid), then
// a counter, which spares a call to the CSPRNG per write.
const TEMP_PREFIX = randomBytes(4).toString("hex");
let temps = 0;

/**
 * One file per session, named by its UUIDv4, mode 0600 in a directory of mode 0700.
 *
 * A file's modification time is its expiry deadline, so refreshing a session touches the
 * file without rewriting it, and `sweep()` decides from `lstat` alone, never parsing a file.
 * A file holds one record per line, the last complete one current (file-records.ts). It is
 * written whole to a temporary file in the same directory, renamed over the old one; a small
 * record is then appended to the file this store last read or wrote, until the file would pass
 * 4 KB (or twice the record). A process killed at any instant leaves the old state or the new.
 *
 * Reads and appends are synchronous: measured on a 2-core machine, each asynchronous `fs` call
 * costs 0.4–0.7 ms of thread-pool hand-off, more than the work itself. Whole files are written
 * by one writer thread per process, one message per write (file-writer.ts), so requests of other
 * browsers are served meanwhile; where no worker thread can run, they are written here.
 *
 * The sessions index lives beside the states, a directory `<user>.sessions` per user
 * (file-index.ts); its entries, at most 1 KiB, are written on this thread.
 */
export class FileStore implements Store {
  /** The absolute path of the directory. */
  readonly dir: string;
  readonly #fsync: boolean;
  readonly #timer: NodeJS.Timeout | undefined;
  /** What this store last read or wrote per id, with the file's stamp then, least recent first. */
  readonly #recent = new Map<string, { stamp: string; data: string }>();
  /** The last operation on each id with one still running (see #inOrder). */
  readonly #queues = new Map<string, Promise<unknown>>();
  #recentLength = 0;

  constructor(options: FileStoreOptions = {}) {
    const { dir = ".hono-persist", sweepInterval = 600, fsync = false } = options;
    if (typeof dir !== "string" || dir === "")
      throw misuse("option `dir` must be a directory path");
    if (typeof sweepInterval !== "number" || !(sweepInterval >= 0)) {
      throw misuse("option `sweepInterval` must be a number of seconds, or 0");
    }
    this.dir = resolve(dir);
    this.#fsync = fsync;
    try {
      mkdirSync(this.dir, { recursive: true, mode: 0o700 });
      checkOwnDirectory(this.dir);
      accessSync(this.dir, constants.R_OK | constants.W_OK | constants.X_OK);
    } catch (cause) {
      throw new PersistError(
        "STORE_DIR",
        `cannot use ${this.dir} as the state directory: ${cause instanceof Error ? cause.message : String(cause)}`,
        { cause },
      );
    }
    checkPidsVisible();
    if (sweepInterval > 0) {
      // The first sweep also removes temporary files that a crashed process left behind.
      const sweep = () => void this.sweep().catch((error: unknown) => console.warn(String(error)));
      setImmediate(sweep).unref();
      this.#timer = setInterval(sweep, sweepInterval * 1000).unref();
    }
  }

  async get(id: string, ttl: number): Promise<string | undefined> {
    return this.#get(id, ttl);
  }

  // Given the middleware's `maxBytes`, a file larger than any that holds such a state is
  // refused as INVALID_STATE, unread.
  [readNow](
    id: string,
    ttl: number,
    maxBytes?: number,
  ): string | undefined | Promise<string | undefined> {
    // A subclass's own `get` is honoured.
    return this.get === FileStore.prototype.get ? this.#get(id, ttl, maxBytes) : this.get(id, ttl);
  }

  #get(
    id: string,
    ttl: number,
    maxBytes?: number,
  ): string | undefined | Promise<string | undefined> {
    // Nothing running on this id (the common case): read now, without a queue.
    return this.#queues.has(id)
      ? this.#inOrder(id, () => this.#read(id, ttl, maxBytes))
      : this.#read(id, ttl, maxBytes);
  }

  #read(id: string, ttl: number, maxBytes: number | undefined): string | undefined {
    const file = this.#path(id);
    const known = this.#recent.get(id);
    if (known) {
      // One lstat instead of open, fstat, read and close, when the file is the one this store
      // last read or wrote: same inode, size and times (any write by anyone renames a new inode in).
      let stat: Stats | undefined;
      try {
        stat = lstatSync(file);
      } catch (error) {
        if (code(error) !== "ENOENT") throw failed("read", file, error);
      }
      if (stat?.isFile() && stampOf(stat) === known.stamp) {
        const now = Date.now();
        if (deadlineOf(stat) <= now) return this.#expire(id, file);
        this.#slide(id, file, stat, ttl, now);
        return known.data;
      }
      this.#forget(id);
    }
    let fd: number;
    try {
      // O_NOFOLLOW: a symlink planted in place of a state file is refused, not followed.
      // O_NONBLOCK: a FIFO planted there would block the open (and the event loop) forever.
      fd = openSync(file, O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
    } catch (error) {
      if (code(error) === "ENOENT") return undefined;
      if (code(error) === "ELOOP")
        throw new PersistError("INVALID_STATE", `${file} is a symbolic link`);
      // A socket cannot be opened: like any other entry that is not a regular file, not ours.
      if (code(error) === "ENXIO") throw new PersistError("INVALID_STATE", `${file} is a socket`);
      throw failed("read", file, error);
    }
    try {
      const stat = fstatSync(fd);
      if (!stat.isFile()) throw new PersistError("INVALID_STATE", `${file} is not a regular file`);
      // Whoever else owns a file in our directory put it there: it is not read. (Were we not
      // root, moving its deadline would fail with EPERM on every request.)
      const uid = process.geteuid?.();
      if (uid !== undefined && stat.uid !== uid) {
        throw new PersistError(
          "INVALID_STATE",
          `${file} is owned by uid ${stat.uid}, not by this process's user (uid ${uid})`,
        );
      }
      const now = Date.now();
      if (deadlineOf(stat) <= now) return this.#expire(id, file);
      // Files are read whole, on this thread: one of hundreds of MB would stall every request.
      if (maxBytes !== undefined && stat.size > fileLimit(maxBytes)) {
        throw new PersistError(
          "INVALID_STATE",
          `${file} is ${stat.size} bytes, more than a state of \`maxBytes\` (${maxBytes}) is stored in`,
        );
      }
      const text = readText(fd, stat.size);
      const data = currentRecord(text);
      if (data === undefined) throw new PersistError("INVALID_STATE", `${file} holds no record`);
      // Appends go only to a file whose every line is whole: never after a partial line (an
      // append cut short) or a file written by another tool, whose line it would corrupt.
      if (text.endsWith("\n")) this.#remember(id, stat, data);
      this.#slide(id, file, stat, ttl, now);
      return data;
    } catch (error) {
      if (error instanceof PersistError) throw error;
      throw failed("read", file, error);
    } finally {
      closeSync(fd);
    }
  }

  #expire(id: string, file: string): undefined {
    this.#remove(id, file, "remove");
    return undefined;
  }

  /** Moves the deadline, but only when it moves by over 1% of the ttl, to spare a syscall. */
  #slide(id: string, file: string, stat: Stats, ttl: number, now: number): void {
    const deadline = now + ttl * 1000;
    if (deadline - stat.mtimeMs <= ttl * 10) return;
    try {
      lutimesSync(file, now / 1000, deadline / 1000);
    } catch (error) {
      // Only its owner may set a file's times (an immutable file's, no one): not ours to serve.
      if (code(error) === "EPERM" || code(error) === "EACCES") {
        throw new PersistError(
          "INVALID_STATE",
          `${file} refuses this process's update (${code(error)})`,
        );
      }
      throw failed("read", file, error);
    }
    const known = this.#recent.get(id);
    if (!known) return;
    // The file at the path may be another process's by now: remember only the one touched.
    const after = lstatSync(file);
    if (after.ino === stat.ino && after.size === stat.size) known.stamp = stampOf(after);
    else this.#forget(id);
  }

  #remember(id: string, stat: Parameters<typeof stampOf>[0], data: string): void {
    this.#forget(id);
    this.#recent.set(id, { stamp: stampOf(stat), data });
    this.#recentLength += data.length;
    for (const [oldest, entry] of this.#recent) {
      if (this.#recent.size <= RECENT && this.#recentLength <= RECENT_LENGTH) break;
      this.#recent.delete(oldest);
      this.#recentLength -= entry.data.length;
    }
  }

  #forget(id: string): void {
    const entry = this.#recent.get(id);
    if (!entry) return;
    this.#recent.delete(id);
    this.#recentLength -= entry.data.length;
  }

  async set(id: string, data: string, ttl: number): Promise<void> {
    const file = this.#path(id);
    const line = recordLine(data);
    const deadline = Date.now() + ttl * 1000;
    // Nothing running on this id: append now if the file allows, else write it whole in turn.
    const queued = this.#queues.has(id);
    if (!queued && this.#append(id, file, line, data, deadline)) return;
    const written = await this.#inOrder(id, () => {
      if (queued && this.#append(id, file, line, data, deadline)) return undefined;
      const job: WriteJob = {
        dir: this.dir,
        temp: this.#temp(id),
        file,
        line,
        deadline,
        fsync: this.#fsync,
      };
      return this.#replace(id, job);
    });
    if (written === undefined) return;
    // Another process may have renamed its own file in since: remember only ours.
    if (written.ino === written.written) this.#remember(id, written, data);
    else this.#forget(id);
  }

  /**
   * Runs `operation` once the operations on `id` called before it have ended. Writes finish
   * later than they are called (on the writer thread), but a caller may rely on each call
   * taking effect in turn, as with a synchronous store, without awaiting the one before.
   */
  #inOrder<T>(id: string, operation: () => T | Promise<T>): Promise<T> {
    const before = this.#queues.get(id);
    const run = before ? before.then(operation) : Promise.resolve().then(operation);
    const settled = run.then(
      () => undefined,
      () => undefined,
    );
    this.#queues.set(id, settled);
    void settled.then(() => {
      if (this.#queues.get(id) === settled) this.#queues.delete(id);
    });
    return run;
  }

  /**
   * Appends `line` to the file when it is the very file this store last read or wrote (same
   * inode, size and times: nobody else wrote since) and stays small; `false` when the file
   * must be written whole instead.
   */
  #append(id: string, file: string, line: string, data: string, deadline: number): boolean {
    const known = this.#recent.get(id);
    if (!known || line.length > APPEND_MAX) return false;
    let fd: number;
    try {
      fd = openSync(file, O_WRONLY | O_APPEND | O_NOFOLLOW | O_NONBLOCK);
    } catch {
      return false; // Gone, or not a file to append to: the whole write reports what is wrong.
    }
    let before: Stats | undefined;
    try {
      const stat = fstatSync(fd);
      if (!stat.isFile() || stampOf(stat) !== known.stamp) return false;
      const record = `${line}\n`;
      const bytes = Buffer.byteLength(record);
      if (stat.size + bytes > Math.max(FILE_MAX, 2 * bytes)) return false;
      before = stat;
      // The write sets the mtime, the deadline, to now: until futimes, deadlineOf() reads
      // such a file as written a moment ago rather than expired.
      if (writeSync(fd, record) !== bytes) throw new Error("short write");
      futimesSync(fd, Date.now() / 1000, deadline / 1000);
      // After futimes, so that a power loss keeps the deadline with the record.
      if (this.#fsync) fsyncSync(fd);
      const after = fstatSync(fd);
      // Another process appended too (no `lock`): what the file holds now is not ours to remember.
      if (after.size === stat.size + bytes) this.#remember(id, after, data);
      else this.#forget(id);
      return true;
    } catch {
      // Disk full, say: cut a partial line off (readers would skip it anyway), put the old
      // deadline back, and let the whole write try, and fail with the reason if it fails too.
      this.#forget(id);
      if (before) restore(fd, before);
      return false;
    } finally {
      closeSync(fd);
    }
  }

  #temp(id: string): string {
    return join(this.dir, tempName(id));
  }

  async #replace(id: string, job: WriteJob): Promise<Written> {
    try {
      const offThread = writeOffThread(job);
      if (offThread === undefined) return this.#replaceHere(job);
      try {
        return await offThread;
      } catch (error) {
        // Whether it was written is unknown: writing the same content again is harmless. Its
        // temporary file may be left: start anew.
        if (error instanceof WriterLost) {
          removeQuietly(job.temp);
          return this.#replaceHere({ ...job, temp: this.#temp(id) });
        }
        throw error;
      }
    } catch (error) {
      throw failed("write", job.file, error);
    }
  }

  /** The writer thread's work, on this thread. */
  #replaceHere(job: WriteJob): Written {
    try {
      const written = this.#write(job);
      renameSync(job.temp, job.file);
      const { ino, size, mtimeMs, ctimeMs } = lstatSync(job.file);
      return { written, ino, size, mtimeMs, ctimeMs };
    } catch (error) {
      removeQuietly(job.temp);
      throw error;
    }
  }

  /** Writes the temporary file and returns its inode. */
  #write({ dir, temp, line, deadline }: WriteJob): number {
    let fd: number;
    try {
      fd = openSync(temp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600);
    } catch (error) {
      // The directory was removed under us: make it again rather than fail until a restart.
      if (code(error) !== "ENOENT") throw error;
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      fd = openSync(temp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600);
    }
    try {
      writeFileSync(fd, `${line}\n`); // loops over short writes, unlike writeSync
      if (this.#fsync) fsyncSync(fd);
      futimesSync(fd, Date.now() / 1000, deadline / 1000);
      return fstatSync(fd).ino;
    } finally {
      closeSync(fd);
    }
  }

  async delete(id: string): Promise<void> {
    const file = this.#path(id);
    return this.#inOrder(id, () => this.#remove(id, file, "delete"));
  }

  /** Unlinks the entry (`action` names it in the error); one already gone is no failure. */
  #remove(id: string, file: string, action: string): void {
    this.#forget(id);
    try {
      unlinkSync(file);
    } catch (error) {
      if (code(error) !== "ENOENT") throw failed(action, file, error);
    }
  }

  /** Renames the entry to `<id>.<time>.corrupt`, kept for a week, then swept. */
  async quarantine(id: string): Promise<void> {
    const file = this.#path(id);
    return this.#inOrder(id, () => this.#setAside(id, file));
  }

  #setAside(id: string, file: string): void {
    this.#forget(id);
    const aside = `${file}.${Date.now()}.corrupt`;
    try {
      renameSync(file, aside);
    } catch (error) {
      if (code(error) !== "ENOENT") throw failed("quarantine", file, error);
      return;
    }
    try {
      const now = Date.now();
      lutimesSync(aside, now / 1000, (now + QUARANTINE_MS) / 1000);
    } catch {
      // Another user's file: it keeps its own times, by which the sweep removes it.
    }
  }

  /**
   * An exclusive lock on `id` across the processes sharing this directory (one host), held
   * from load to save when `persistSession({ lock: true })`.
   */
  async lock(id: string, timeout: number): Promise<() => void> {
    const file = `${this.#path(id)}.lock`;
    try {
      return await lockFile(file, timeout);
    } catch (error) {
      if (code(error) !== "ENOENT") throw error;
      mkdirSync(this.dir, { recursive: true, mode: 0o700 });
      return lockFile(file, timeout);
    }
  }

  async index(user: string, id: string, entry: string, ttl: number): Promise<void> {
    const dir = this.#indexDir(user);
    const file = entryPath(dir, id);
    const deadline = Date.now() + ttl * 1000;
    try {
      writeEntry(dir, file, join(dir, tempName(id)), entry, deadline, this.#fsync);
    } catch (error) {
      if (error instanceof PersistError) throw error;
      throw failed("index", file, error);
    }
  }

  async indexed(user: string): Promise<[id: string, entry: string][]> {
    const dir = this.#indexDir(user);
    try {
      return readEntries(dir, Date.now());
    } catch (error) {
      throw failed("list", dir, error);
    }
  }

  async unindex(user: string, ids?: readonly string[]): Promise<void> {
    const dir = this.#indexDir(user);
    for (const id of ids ?? []) entryPath(dir, id);
    try {
      removeEntries(dir, ids);
    } catch (error) {
      throw failed("unindex", dir, error);
    }
  }

  /** `<dir>/<user>.sessions`, the directory of `user`'s index entries. */
  #indexDir(user: string): string {
    return `${this.#path(user)}.sessions`;
  }

  /**
   * Removes expired state and index entries, expired quarantined files, temporary files of
   * writers that are gone (a crash) and locks left by dead holders; returns how many.
   */
  async sweep(): Promise<number> {
    const now = Date.now();
    let removed = 0;
    const failures: string[] = [];
    for await (const entry of await opendir(this.dir)) {
      const index = INDEX_DIR.exec(entry.name);
      removed +=
        index && isSessionId(index[1] ?? "")
          ? await sweepIndex(join(this.dir, entry.name), now, failures)
          : sweepFile(this.dir, entry.name, this.#expired(entry.name, now), failures);
    }
    if (failures.length > 0) {
      throw new PersistError(
        "STORE_FAILED",
        `sweep removed ${removed} files but not ${failures.length}, the first: ${failures[0]}`,
      );
    }
    return removed;
  }

  /** How to tell whether the file `name` is due for removal, or `undefined` for files not ours. */
  #expired(name: string, now: number): ((stat: Stats) => boolean) | undefined {
    if (isSessionId(name)) return (stat) => deadlineOf(stat) <= now;
    if (name.endsWith(".corrupt")) return (stat) => stat.mtimeMs <= now;
    const temp = tempExpired(name, now);
    if (temp) return temp;
    if (name.endsWith(".lock") || name.endsWith(".stale")) {
      // Holders refresh their lock every few seconds; one this old has no holder.
      return (stat) => stat.mtimeMs < now - 6 * LOCK_STALE_MS;
    }
    return undefined;
  }

  async close(): Promise<void> {
    clearInterval(this.#timer);
  }

  #path(id: string): string {
    // Ids are validated before they get here; this keeps a store used directly just as safe.
    if (!isSessionId(id)) throw misuse(`FileStore: ${JSON.stringify(id)} is not a UUIDv4`);
    const file = join(this.dir, id);
    if (file !== `${this.dir}${sep}${id}`)
      throw misuse(`FileStore: ${JSON.stringify(id)} escapes ${this.dir}`);
    return file;
  }
}

/** `.<id>.<pid>.<random>.tmp`, a temporary file's name (TEMP_NAME). */
function tempName(id: string): string {
  return `.${id}.${process.pid}.${TEMP_PREFIX}${(temps++).toString(16)}.tmp`;
}

/** The file of `id`'s entry in the index directory `dir`. */
function entryPath(dir: string, id: string): string {
  if (!isSessionId(id)) throw misuse(`FileStore: ${JSON.stringify(id)} is not a UUIDv4`);
  return join(dir, id);
}

/** Whether a temporary file `name` is due for removal, or `undefined` if `name` is not one. */
function tempExpired(name: string, now: number): ((stat: Stats) => boolean) | undefined {
  const temp = TEMP_NAME.exec(name);
  if (!temp) return undefined;
  return (stat) => !isRunning(Number(temp[1])) || stat.ctimeMs < now - TEMP_GRACE_MS;
}

/** Removes the file `name` in `dir` if `expired` says so; returns 1 if it did. */
function sweepFile(
  dir: string,
  name: string,
  expired: ((stat: Stats) => boolean) | undefined,
  failures: string[],
): number {
  if (expired === undefined) return 0;
  const file = join(dir, name);
  try {
    const stat = lstatSync(file);
    // Directories or devices by our names are not ours to remove.
    if (!(stat.isFile() || stat.isSymbolicLink()) || !expired(stat)) return 0;
    unlinkSync(file);
    return 1;
  } catch (error) {
    // One entry that cannot go must not stop the sweep of the others.
    if (code(error) !== "ENOENT") failures.push(failed("remove", file, error).message);
    return 0;
  }
}

/**
 * Removes the expired entries (and dead writers' temporary files) of the index directory `dir`,
 * then `dir` itself once empty; returns how many files. A symlink by its name is not followed.
 */
async function sweepIndex(dir: string, now: number, failures: string[]): Promise<number> {
  let removed = 0;
  try {
    if (!isIndexDir(dir)) return 0;
    for await (const entry of await opendir(dir)) {
      const { name } = entry;
      const expired = isSessionId(name)
        ? (stat: Stats) => stat.mtimeMs <= now
        : tempExpired(name, now);
      removed += sweepFile(dir, name, expired, failures);
    }
    removeIfEmpty(dir);
  } catch (error) {
    if (code(error) !== "ENOENT") failures.push(failed("sweep", dir, error).message);
  }
  return removed;
}

/**
 * Throws unless `dir` itself (not a symlink to one) is a directory of this process's user that
 * no one else may write to: whoever can write to it can replace any browser's state. A
 * directory of ours that group or others may write to is made 0700.
 */
function checkOwnDirectory(dir: string): void {
  const stat = lstatSync(dir);
  if (stat.isSymbolicLink()) {
    throw new Error("it is a symbolic link: give the directory it points to as `dir`");
  }
  if (!stat.isDirectory()) throw new Error("not a directory");
  // Windows has neither owners nor modes here.
  const uid = process.geteuid?.();
  if (uid === undefined) return;
  if (stat.uid !== uid) {
    throw new Error(
      `it is owned by uid ${stat.uid}, not by this process's user (uid ${uid}), who could replace any state in it: \`chown ${uid} ${dir}\` or choose another directory`,
    );
  }
  if ((stat.mode & 0o022) !== 0) chmodSync(dir, 0o700);
}

/** Truncates a file to what it held before a failed append, with its deadline as it was. */
function restore(fd: number, before: Stats): void {
  try {
    ftruncateSync(fd, before.size);
  } catch {
    // The partial line stays; it is not read as a record.
  }
  try {
    futimesSync(fd, before.atime, before.mtime);
  } catch {
    // Read as written a moment ago (deadlineOf) until the next read moves it.
  }
}

/**
 * When a file expires: its mtime, which every write sets with futimes. A file whose last change
 * was a write itself (mtime equal to ctime: a process killed between an append and its futimes,
 * or a file written by hand) has no deadline of ours: it expires a day after that write, and
 * the next read gives it one.
 */
function deadlineOf(stat: Pick<Stats, "mtimeMs" | "ctimeMs">): number {
  return writtenLast(stat) ? stat.mtimeMs + UNSET_DEADLINE_MS : stat.mtimeMs;
}

/**
 * Whether the file's last change was a write: its mtime is its ctime. Deno gives the ctime in
 * whole seconds (the mtime in ms), so there an mtime within the ctime's second counts as equal;
 * a deadline is set a ttl later, so only a ttl under a second could be taken for one.
 */
function writtenLast({ mtimeMs, ctimeMs }: Pick<Stats, "mtimeMs" | "ctimeMs">): boolean {
  return (
    mtimeMs === ctimeMs || (ctimeMs % 1000 === 0 && mtimeMs > ctimeMs && mtimeMs < ctimeMs + 1000)
  );
}

// Above any pid a system gives out (Linux allows up to 2^22, macOS 99,998).
const NO_SUCH_PID = 2 ** 31 - 1;
let pidsVisible: boolean | undefined;

/**
 * Locks and temporary files name their process, so that a crashed one's are removed at once; where
 * signalling a process is refused (Deno without `--allow-run`), they wait until stale. Said once,
 * at construction, rather than found out when a restarted server answers 503 for 10 s.
 */
function checkPidsVisible(): void {
  if (pidsVisible !== undefined) return;
  let why = `process.kill(${NO_SUCH_PID}, 0) succeeded`;
  try {
    process.kill(NO_SUCH_PID, 0);
  } catch (error) {
    pidsVisible = code(error) === "ESRCH";
    if (pidsVisible) return;
    why = error instanceof Error ? error.message : String(error);
  }
  pidsVisible = false;
  process.emitWarning(
    `FileStore cannot tell whether a process is running (${why}): a lock left by a crashed process is broken after ${LOCK_STALE_MS / 1000} s, its temporary files are removed after ${TEMP_GRACE_MS / 1000} s. On Deno, run with --allow-run.`,
    { code: "HONO_PERSIST_NO_PID_CHECK" },
  );
}

/** The first `size` bytes of the file open at `fd` (fewer if it shrank since), as text. */
function readText(fd: number, size: number): string {
  const buffer = Buffer.allocUnsafe(size);
  let length = 0;
  while (length < size) {
    const read = readSync(fd, buffer, length, size - length, length);
    if (read === 0) break;
    length += read;
  }
  return buffer.toString("utf8", 0, length);
}

/** Removes a temporary file that may never have been created, or was renamed already. */
function removeQuietly(temp: string): void {
  try {
    unlinkSync(temp);
  } catch {
    // Not there: nothing to remove.
  }
}

/** Identifies one version of a file: a write renames a new inode in, a touch changes the times. */
function stampOf(stat: Pick<Stats, "ino" | "size" | "mtimeMs" | "ctimeMs">): string {
  return `${stat.ino}:${stat.size}:${stat.mtimeMs}:${stat.ctimeMs}`;
}

function code(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | undefined)?.code;
}

function failed(action: string, file: string, cause: unknown): PersistError {
  const reason = cause instanceof Error ? cause.message : String(cause);
  return new PersistError("STORE_FAILED", `could not ${action} ${file}: ${reason}`, { cause });
}
