import { Worker } from "node:worker_threads";

/**
 * FileStore's writes, run on one worker thread per process: the event loop goes on serving
 * requests while a state file is written and renamed into place. Measured side by side on a
 * 2-core machine (bench/ W2): 1,000 browsers got 4.5–5.1k requests a second answered against
 * 2.8–3.3k with the writes on the main thread, and a 1 MB state no longer blocks the loop for
 * its write; one browser's concurrent requests (W1), already carried by one write per batch,
 * stay within noise (10.0–10.3k both).
 */

/** One atomic replace: `line` and a newline into `temp`, which is then renamed over `file`. */
export interface WriteJob {
  dir: string;
  temp: string;
  file: string;
  /**
   * The record, as a string: copied to the thread as it is (0.12 ms for 1 MB, measured) and
   * encoded to UTF-8 there; encoding it on the event loop cost 0.6–0.8 ms for 1 MB.
   */
  line: string;
  /** The file's modification time: its expiry deadline (ms since the epoch). */
  deadline: number;
  fsync: boolean;
}

/** The file as renamed into place, for the store's cache of what it last wrote. */
export interface Written {
  /** The inode written, and what the path held right after the rename (another process may win). */
  written: number;
  ino: number;
  size: number;
  mtimeMs: number;
  ctimeMs: number;
}

// Plain JavaScript, evaluated by the worker: it must not depend on how this module was compiled.
// The same steps as FileStore's synchronous path: O_EXCL and O_NOFOLLOW (nothing planted is
// followed), mode 0600, the directory made again if it vanished, the temporary file removed
// on failure.
const SOURCE = `
const { parentPort } = require("node:worker_threads");
const fs = require("node:fs");
const { O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW, O_NONBLOCK, O_NOCTTY, O_RDONLY } = fs.constants;
const FLAGS = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW;
function open(job) {
  try {
    return fs.openSync(job.temp, FLAGS, 0o600);
  } catch (error) {
    if (error.code !== "ENOENT") throw error;
    fs.mkdirSync(job.dir, { recursive: true, mode: 0o700 });
    return fs.openSync(job.temp, FLAGS, 0o600);
  }
}
parentPort.on("message", ({ id, job }) => {
  let held = -1;
  try {
    const fd = open(job);
    let written;
    try {
      fs.writeFileSync(fd, job.line);
      fs.writeSync(fd, "\\n");
      if (job.fsync) fs.fsyncSync(fd);
      fs.futimesSync(fd, Date.now() / 1000, job.deadline / 1000);
      written = fs.fstatSync(fd).ino;
    } finally {
      fs.closeSync(fd);
    }
    // The file replaced stays open until the reply is sent: freeing its blocks (in the rename
    // otherwise: 0.15 ms for 100 KB, 0.55 ms for 1 MB) then happens after the request has its
    // answer, in the close. Only a regular file: opening a FIFO planted there would release a
    // writer blocked on it.
    try {
      if (fs.lstatSync(job.file).isFile())
        held = fs.openSync(job.file, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
    } catch {}
    fs.renameSync(job.temp, job.file);
    const { ino, size, mtimeMs, ctimeMs } = fs.lstatSync(job.file);
    parentPort.postMessage({ id, result: { written, ino, size, mtimeMs, ctimeMs } });
  } catch (error) {
    try { fs.unlinkSync(job.temp); } catch {}
    const { message, code, errno, syscall, path } = error || {};
    parentPort.postMessage({ id, error: { message: String(message), code, errno, syscall, path } });
  }
  if (held !== -1) {
    try { fs.closeSync(held); } catch {}
  }
});
`;

type Reply =
  | { id: number; result: Written; error?: undefined }
  | {
      id: number;
      error: { message: string; code?: string; errno?: number; syscall?: string; path?: string };
    };

/** The writer thread ended with writes in flight; they may or may not have happened. */
export class WriterLost extends Error {}

class WriterThread {
  readonly #worker: Worker;
  readonly #pending = new Map<
    number,
    { resolve(written: Written): void; reject(error: Error): void }
  >();
  #next = 0;
  /** Answered at least once: the thread works here. */
  answered = false;
  lost = false;
  /** How it ended. */
  why: string | undefined;

  constructor() {
    this.#worker = new Worker(SOURCE, { eval: true });
    // Only pending writes keep the process alive (see write).
    this.#worker.unref();
    this.#worker.on("message", (reply: Reply) => {
      this.answered = true;
      const waiting = this.#pending.get(reply.id);
      if (!waiting) return;
      this.#pending.delete(reply.id);
      if (this.#pending.size === 0) this.#worker.unref();
      if (reply.error === undefined) waiting.resolve(reply.result);
      else {
        // As the same call would have thrown here: errno, syscall and path included.
        const { message, ...details } = reply.error;
        waiting.reject(Object.assign(new Error(message), details));
      }
    });
    this.#worker.on("error", (error) => this.#lose(`failed: ${error.message}`));
    this.#worker.on("exit", (code) => this.#lose(`exited with code ${code}`));
  }

  end(): Promise<number> {
    return this.#worker.terminate();
  }

  write(job: WriteJob): Promise<Written> {
    const id = this.#next++;
    return new Promise<Written>((resolve, reject) => {
      if (this.#pending.size === 0) this.#worker.ref();
      this.#pending.set(id, { resolve, reject });
      this.#worker.postMessage({ id, job });
    });
  }

  #lose(why: string): void {
    this.lost = true;
    this.why ??= why;
    for (const [id, waiting] of this.#pending) {
      this.#pending.delete(id);
      waiting.reject(new WriterLost(`the file writer thread ${why}`));
    }
  }
}

let thread: WriterThread | undefined;
/** A thread that died before its first answer: workers do not work here. */
let unusable = false;

/**
 * Runs `job` on the writer thread (started on first use); `undefined` where no thread can run,
 * and the caller writes on the main thread. Rejects with `WriterLost` if the thread dies.
 */
export function writeOffThread(job: WriteJob): Promise<Written> | undefined {
  if (thread?.lost) {
    if (!thread.answered) giveUp(thread.why);
    thread = undefined;
  }
  if (unusable) return undefined;
  try {
    thread ??= new WriterThread();
  } catch (error) {
    giveUp(`could not start: ${String(error)}`);
    return undefined;
  }
  return thread.write(job);
}

/** Said once: writes still work, on the main thread, but the event loop waits for each. */
function giveUp(why: string | undefined): void {
  unusable = true;
  process.emitWarning(
    `the file writer thread ${why ?? "ended"} before its first write; state files are written on the main thread`,
    { code: "HONO_PERSIST_NO_WRITER_THREAD" },
  );
}

/** Ends the writer thread as a crash would (tests: writes in flight are then made on the main thread). */
export async function endWriterThread(): Promise<void> {
  await thread?.end();
}
