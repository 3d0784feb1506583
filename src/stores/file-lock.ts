import { randomBytes } from "node:crypto";
import {
  closeSync,
  constants,
  linkSync,
  lstatSync,
  openSync,
  readFileSync,
  renameSync,
  unlinkSync,
  utimesSync,
  writeSync,
} from "node:fs";
import { hostname } from "node:os";
import { setTimeout as delay } from "node:timers/promises";
import { PersistError } from "../errors.js";

/** A lock whose file has not been refreshed for this long is taken to be a dead holder's. */
export const LOCK_STALE_MS = 10_000;
const { O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW } = constants;
const HOST = hostname();

/**
 * An exclusive lock across processes: a file created with `O_EXCL`, holding its owner's pid,
 * host and a random token. The holder refreshes its mtime; a waiter breaks a lock whose owner
 * is a dead process on this host, or whose file went unrefreshed for `LOCK_STALE_MS` (a
 * holder on another host sharing the directory). Waiters poll with a short backoff: the
 * directory may be shared by processes that have no other channel.
 *
 * Resolves with the function that releases the lock; rejects with `LOCK_TIMEOUT` after
 * `timeout` seconds.
 */
export async function lockFile(file: string, timeout: number): Promise<() => void> {
  const token = `${process.pid}\n${HOST}\n${randomBytes(8).toString("hex")}`;
  const deadline = Date.now() + timeout * 1000;
  for (let attempt = 0; ; attempt++) {
    if (tryCreate(file, token)) break;
    if (breakIfStale(file)) continue;
    if (Date.now() >= deadline) {
      throw new PersistError(
        "LOCK_TIMEOUT",
        `${file} is still locked by another request after ${timeout} s`,
      );
    }
    await delay(Math.min(1 + attempt, 20) * (0.5 + Math.random()));
  }
  const refresh = setInterval(() => {
    try {
      const now = new Date();
      utimesSync(file, now, now);
    } catch {
      // Broken by a waiter that took us for dead: nothing left to refresh.
    }
  }, LOCK_STALE_MS / 3).unref();
  return function release() {
    clearInterval(refresh);
    try {
      if (readFileSync(file, "utf8") === token) unlinkSync(file);
    } catch {
      // Already broken or removed.
    }
  };
}

function tryCreate(file: string, token: string): boolean {
  let fd: number;
  try {
    fd = openSync(file, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw new PersistError("STORE_FAILED", `could not lock ${file}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  try {
    writeSync(fd, token);
  } finally {
    closeSync(fd);
  }
  return true;
}

/** Removes the lock at `file` if its holder is gone; true when the caller should try again. */
function breakIfStale(file: string): boolean {
  let content: string;
  let mtime: number;
  try {
    content = readFileSync(file, "utf8");
    mtime = lstatSync(file).mtimeMs;
  } catch (error) {
    // Released meanwhile. Anything else (a directory in its place) waits for the deadline:
    // answering "try again at once" would spin the event loop.
    return (error as NodeJS.ErrnoException).code === "ENOENT";
  }
  if (!isStale(content, mtime)) return false;
  // Move the stale file aside first: if another waiter broke it and locked again meanwhile,
  // the file moved is theirs, and it goes back.
  const aside = `${file}.${randomBytes(4).toString("hex")}.stale`;
  try {
    renameSync(file, aside);
  } catch {
    return true;
  }
  try {
    if (readFileSync(aside, "utf8") !== content) linkSync(aside, file);
  } catch {
    // A new holder exists already; the one moved aside was stale after all.
  } finally {
    unlinkSync(aside);
  }
  return true;
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
