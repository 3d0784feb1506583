// FileStore's sessions index (Store.index): per user a directory `<user>.sessions` (0700) beside
// the states, one file per indexed id (0600) holding its entry as given, its mtime the deadline
// (as with states). An entry is only ever written whole, never rewritten from what was read, so
// nothing is locked. A symlink by a directory's or an entry's name is never followed.
import {
  closeSync,
  constants,
  fstatSync,
  fsyncSync,
  futimesSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmdirSync,
  type Stats,
  unlinkSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { isSessionId } from "../cookie.js";
import { PersistError } from "../errors.js";

const { O_RDONLY, O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW, O_NONBLOCK } = constants;
/** A user's directory: no state, lock, quarantined or temporary file has such a name. */
export const INDEX_DIR = /^([0-9a-f-]{36})\.sessions$/;
// Entries are at most 1 KiB: a larger file by an id's name was not written here, and is not read.
const ENTRY_MAX = 64 * 1024;

/** Whether `dir` is a directory of this process's user, by `lstat`: a symlink is not one. */
export function isIndexDir(dir: string): boolean {
  const stat = lstatIfAny(dir);
  return stat?.isDirectory() === true && ownedHere(stat);
}

/**
 * Writes `entry` to `file` in the index directory `dir` (made if missing), through the
 * temporary file `temp`, with the deadline as its mtime.
 */
export function writeEntry(
  dir: string,
  file: string,
  temp: string,
  entry: string,
  deadline: number,
  fsync: boolean,
): void {
  makeIndexDir(dir);
  let fd: number;
  try {
    fd = openSync(temp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600);
  } catch (error) {
    // Another process's sweep removed the directory, empty, in between: make it again.
    if (code(error) !== "ENOENT") throw error;
    makeIndexDir(dir);
    fd = openSync(temp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600);
  }
  try {
    try {
      writeFileSync(fd, entry);
      futimesSync(fd, Date.now() / 1000, deadline / 1000);
      // After futimes, so that a power loss keeps the deadline with the entry.
      if (fsync) fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temp, file);
  } catch (error) {
    try {
      unlinkSync(temp);
    } catch {
      // Renamed already, or never written.
    }
    throw error;
  }
}

/** The unexpired entries in the index directory `dir`, as `[id, entry]` pairs. */
export function readEntries(dir: string, now: number): [id: string, entry: string][] {
  if (!isIndexDir(dir)) return [];
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (error) {
    if (code(error) === "ENOENT") return [];
    throw error;
  }
  const entries: [string, string][] = [];
  for (const name of names) {
    if (!isSessionId(name)) continue;
    const entry = readEntry(join(dir, name), now);
    if (entry !== undefined) entries.push([name, entry]);
  }
  return entries;
}

/** Removes the entries `ids` from the index directory `dir`, or all of it without `ids`. */
export function removeEntries(dir: string, ids: readonly string[] | undefined): void {
  if (!isIndexDir(dir)) return;
  let names = ids;
  if (names === undefined) {
    try {
      names = readdirSync(dir).filter(isSessionId);
    } catch (error) {
      if (code(error) === "ENOENT") return;
      throw error;
    }
  }
  for (const id of names) {
    try {
      unlinkSync(join(dir, id)); // a symlink by the id's name goes, not what it points to
    } catch (error) {
      // A directory by an id's name is not an entry (readEntry skips it too).
      if (code(error) !== "ENOENT" && code(error) !== "EISDIR") throw error;
    }
  }
  if (ids === undefined) removeIfEmpty(dir);
}

/** Removes `dir` if it is empty; one that is not, or is gone, is left as it is. */
export function removeIfEmpty(dir: string): void {
  try {
    rmdirSync(dir);
  } catch (error) {
    // An entry written meanwhile (ENOTEMPTY; EEXIST on some systems), or another process's rmdir.
    const why = code(error);
    if (why !== "ENOTEMPTY" && why !== "EEXIST" && why !== "ENOENT") throw error;
  }
}

/** Makes `dir` a directory of ours: a symlink or file planted by its name is replaced, not followed. */
function makeIndexDir(dir: string): void {
  const stat = lstatIfAny(dir);
  if (stat?.isDirectory()) {
    if (!ownedHere(stat)) {
      throw new PersistError(
        "INVALID_STATE",
        `${dir} is owned by uid ${stat.uid}, not by this process's user (uid ${process.geteuid?.()})`,
      );
    }
    return;
  }
  if (stat) unlinkSync(dir);
  // Recursive: the state directory itself may have been removed under us.
  mkdirSync(dir, { recursive: true, mode: 0o700 });
}

/** The entry in `file` unless it is expired or not one this store wrote. */
function readEntry(file: string, now: number): string | undefined {
  let fd: number;
  try {
    // O_NOFOLLOW: a symlink is not read through; O_NONBLOCK: a FIFO does not block the open.
    fd = openSync(file, O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
  } catch (error) {
    // Gone since the listing, a symlink (ELOOP) or a socket (ENXIO): no entry.
    const why = code(error);
    if (why === "ENOENT" || why === "ELOOP" || why === "ENXIO") return undefined;
    throw error;
  }
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile() || !ownedHere(stat) || stat.mtimeMs <= now || stat.size > ENTRY_MAX) {
      return undefined;
    }
    return readFileSync(fd, "utf8");
  } finally {
    closeSync(fd);
  }
}

function lstatIfAny(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch (error) {
    if (code(error) === "ENOENT") return undefined;
    throw error;
  }
}

/** Whether the file is this process's user's (Windows has no owners here). */
function ownedHere(stat: Stats): boolean {
  const uid = process.geteuid?.();
  return uid === undefined || stat.uid === uid;
}

function code(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | undefined)?.code;
}
