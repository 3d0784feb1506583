import { randomBytes } from "node:crypto";
import {
  closeSync,
  constants,
  fstatSync,
  futimesSync,
  linkSync,
  lstatSync,
  openSync,
  readSync,
  renameSync,
  type Stats,
  unlinkSync,
  writeSync,
} from "node:fs";
import { hostname } from "node:os";
import { setTimeout as delay } from "node:timers/promises";
import { PersistError } from "../errors.js";

/** A lock whose file has not been refreshed for this long is taken to be a dead holder's. */
export const LOCK_STALE_MS = 10_000;
const { O_RDONLY, O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW, O_NONBLOCK, S_IFMT } = constants;
const HOST = hostname();
// A token is a pid, a host name (at most 255 bytes) and 16 hex digits: a larger file is none.
const TOKEN_MAX = 512;

/**
 * An exclusive lock across processes: a file created with `O_EXCL`, holding its owner's pid,
 * host and a random token. The holder keeps the file open and refreshes its mtime; a waiter
 * breaks a lock whose owner is a dead process on this host, or whose file went unrefreshed for
 * `LOCK_STALE_MS` (a holder on another host sharing the directory). Waiters poll with a short
 * backoff: the directory may be shared by processes that have no other channel.
 *
 * Only a regular file of at most `TOKEN_MAX` bytes can be a holder's: anything else by the name
 * (a FIFO, a symlink, a large file: none of them ever made here) is removed like a dead
 * holder's, unread, rather than let every request of that browser wait for the timeout.
 *
 * Resolves with the function that releases the lock; rejects with `LOCK_TIMEOUT` after
 * `timeout` seconds.
 */
export async function lockFile(file: string, timeout: number): Promise<() => void> {
  const token = `${process.pid}\n${HOST}\n${randomBytes(8).toString("hex")}`;
  const deadline = Date.now() + timeout * 1000;
  let fd = tryCreate(file, token);
  for (let attempt = 0; fd === undefined; attempt++) {
    if (!breakIfStale(file)) {
      if (Date.now() >= deadline) {
        throw new PersistError(
          "LOCK_TIMEOUT",
          `${file} is still locked by another request after ${timeout} s`,
        );
      }
      await delay(Math.min(1 + attempt, 20) * (0.5 + Math.random()));
    }
    fd = tryCreate(file, token);
  }
  const held = fd;
  // Through the descriptor: the path may be another holder's by now (ours broken as stale).
  const refresh = setInterval(() => {
    try {
      const now = new Date();
      futimesSync(held, now, now);
    } catch {
      // Nothing left to refresh.
    }
  }, LOCK_STALE_MS / 3).unref();
  let released = false;
  return function release() {
    // Once: the descriptor's number may be another file's by a second call.
    if (released) return;
    released = true;
    clearInterval(refresh);
    try {
      // Ours while its inode is: an open file's inode is never reused.
      if (sameFile(lstatSync(file), fstatSync(held))) unlinkSync(file);
    } catch {
      // Already broken or removed.
    } finally {
      closeSync(held);
    }
  };
}

/** The open lock file, or `undefined` when `file` exists already. */
function tryCreate(file: string, token: string): number | undefined {
  let fd: number;
  try {
    fd = openSync(file, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") return undefined;
    throw new PersistError("STORE_FAILED", `could not lock ${file}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  try {
    writeSync(fd, token);
    return fd;
  } catch (error) {
    closeSync(fd);
    unlinkSync(file);
    throw new PersistError("STORE_FAILED", `could not lock ${file}: ${(error as Error).message}`, {
      cause: error,
    });
  }
}

/** Removes the lock at `file` if its holder is gone; true when the caller should try again. */
function breakIfStale(file: string): boolean {
  let fd: number | undefined;
  let found: Stats;
  try {
    // O_NONBLOCK: a FIFO by this name would block the open, and the event loop, forever.
    fd = openSync(file, O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
    found = fstatSync(fd);
  } catch (error) {
    if (fd !== undefined) closeSync(fd);
    const code = (error as NodeJS.ErrnoException).code;
    // Released meanwhile.
    if (code === "ENOENT") return true;
    // A symlink (ELOOP) or a socket (ENXIO): no holder's. Anything else waits for the deadline:
    // answering "try again at once" would spin the event loop.
    if (code !== "ELOOP" && code !== "ENXIO") return false;
    try {
      found = lstatSync(file);
    } catch (again) {
      return (again as NodeJS.ErrnoException).code === "ENOENT";
    }
  }
  try {
    // A directory cannot be removed like a file: it waits for the deadline.
    if (found.isDirectory()) return false;
    if (found.isFile() && found.size <= TOKEN_MAX && fd !== undefined) {
      if (!isStale(readToken(fd), found.mtimeMs)) return false;
    }
    return moveAside(file, found);
  } finally {
    // Open until here, so that no new file can take its inode while it is compared.
    if (fd !== undefined) closeSync(fd);
  }
}

/**
 * Removes the lock file `found`, moving it aside first: if another waiter broke it and locked
 * again meanwhile, the file moved is theirs, and it goes back. False when it cannot be moved
 * (an immutable file, a read-only disk): the caller waits for its deadline, since trying again
 * at once would find it again, forever, without yielding the event loop.
 */
function moveAside(file: string, found: Stats): boolean {
  const aside = `${file}.${randomBytes(4).toString("hex")}.stale`;
  try {
    renameSync(file, aside);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "ENOENT";
  }
  try {
    if (!sameFile(lstatSync(aside), found)) linkSync(aside, file);
  } catch {
    // A new holder exists already; the one moved aside was stale after all.
  }
  try {
    unlinkSync(aside);
  } catch {
    // A directory that took the name meanwhile: the sweep leaves it to its owner.
  }
  return true;
}

function readToken(fd: number): string {
  const buffer = Buffer.alloc(TOKEN_MAX);
  return buffer.toString("utf8", 0, readSync(fd, buffer, 0, TOKEN_MAX, 0));
}

function sameFile(a: Stats, b: Stats): boolean {
  return a.ino === b.ino && a.dev === b.dev && (a.mode & S_IFMT) === (b.mode & S_IFMT);
}

function isStale(content: string, mtime: number): boolean {
  if (Date.now() - mtime > LOCK_STALE_MS) return true;
  const [pid, host] = content.split("\n");
  return host === HOST && pid !== undefined && !isRunning(Number(pid));
}

/** Whether a process with this pid runs on this host (for files a crashed process left). */
export function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code !== "ESRCH";
  }
}
