// Workloads measured inside this process with `app.request()`: the cost of hono-persist's own
// work without HTTP noise (W3 many writes in one request, W4 state size, W5 many files).
import { once } from "node:events";
import { mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Worker } from "node:worker_threads";
import { Hono } from "hono";
import SuperJSON from "superjson";
import { FileStore, persist, persistSession } from "../dist/index.js";
import { encodeEnvelope, encodeRecord } from "../dist/serialize.js";
import { Tracker } from "../dist/tracking.js";
import { SECRET } from "./servers/page.js";

@persist("bench-items")
class Items {
  items: number[] = [];
  blob = "";
}

class CountingStore extends FileStore {
  writes = 0;
  override async set(id: string, data: string, ttl: number): Promise<void> {
    this.writes++;
    return super.set(id, data, ttl);
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
}

/**
 * The mean of the middle 80% of `values`: a garbage collection now and then is left out, but
 * not the slower half of a mix (a state whose writes alternate between an append and a whole
 * write takes both in turn; a median would report one of them).
 */
function trimmedMean(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const cut = Math.floor(sorted.length / 10);
  const middle = sorted.slice(cut, sorted.length - cut);
  return middle.reduce((sum, value) => sum + value, 0) / middle.length;
}

/** Milliseconds per call of `fn`, the trimmed mean of `runs`. */
async function time(runs: number, fn: () => unknown): Promise<number> {
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    // A turn of the event loop between calls, as between requests a server gets: the
    // event-loop watch below (longestBlock) then sees each call's own stretches.
    await new Promise((resolve) => setImmediate(resolve));
    const started = performance.now();
    await fn();
    samples.push(performance.now() - started);
  }
  return trimmedMean(samples);
}

/**
 * Watches the event loop: a setImmediate that schedules itself again notes the gaps between
 * its runs, the time the loop went without coming round.
 */
function loopWatch(): { take(): number; stop(): void } {
  let longest = 0;
  let last = performance.now();
  let running = true;
  const tick = () => {
    const now = performance.now();
    longest = Math.max(longest, now - last);
    last = now;
    if (running) setImmediate(tick);
  };
  setImmediate(tick);
  return {
    /** The longest gap since the last take. */
    take() {
      const now = performance.now();
      const result = Math.max(longest, now - last);
      longest = 0;
      last = now;
      return result;
    },
    stop() {
      running = false;
    },
  };
}

/**
 * Milliseconds per call of `fn` (trimmed mean of `runs`), and the longest event-loop block each
 * call caused (median over the calls: a garbage collection now and then is not the call's).
 */
async function timeBlocks(
  runs: number,
  fn: () => unknown,
): Promise<{ ms: number; blockMs: number }> {
  const watch = loopWatch();
  const blocks: number[] = [];
  const ms = await time(runs, async () => {
    watch.take();
    await fn();
    blocks.push(watch.take());
  });
  watch.stop();
  return { ms, blockMs: median(blocks) };
}

function scratch(): string {
  return mkdtempSync(join(tmpdir(), "hono-persist-bench-"));
}

/** A browser's cookie after its first request to `app`. */
async function session(app: Hono, path: string): Promise<string> {
  const response = await app.request(path, { method: "POST" });
  return response.headers
    .getSetCookie()
    .map((line) => line.split(";")[0])
    .join("; ");
}

export async function manyWrites(runs: number) {
  const dir = scratch();
  const store = new CountingStore({ dir, sweepInterval: 0 });
  const app = new Hono();
  app.use(persistSession({ secret: SECRET, store }));
  // The same handler twice: on this browser's persisted state, and on a plain object.
  // A different state each run (offset n), so that every run has something to write.
  let n = 0;
  app.post("/persisted", (c) => {
    const state = new Items();
    state.items = [];
    n++;
    for (let i = 0; i < 10_000; i++) state.items.push(i + n);
    return c.text("ok");
  });
  const plainState = { items: [] as number[] };
  app.post("/plain", (c) => {
    plainState.items = [];
    n++;
    for (let i = 0; i < 10_000; i++) plainState.items.push(i + n);
    return c.text("ok");
  });
  const cookie = await session(app, "/persisted");
  const writesBefore = store.writes;
  const persisted = await time(runs, () =>
    app.request("/persisted", { method: "POST", headers: { cookie } }),
  );
  const writesPerRequest = (store.writes - writesBefore) / runs;
  const plain = await time(runs, () => app.request("/plain", { method: "POST" }));
  // Where the time goes, each part alone: the loop on a plain object; through hono-persist's
  // tracking Proxy; through bare Proxies whose traps only hand out the cached child and method
  // (what any Proxy-based tracking costs in V8); and the save of the final state (serialize +
  // write + rename, nothing else).
  const loopOnly = await time(runs, () => {
    plainState.items = [];
    for (let i = 0; i < 10_000; i++) plainState.items.push(i);
  });
  const tracked = new Tracker(() => {}).root({ items: [] as number[] }, {});
  const trackedLoop = await time(runs, () => {
    tracked.items = [];
    for (let i = 0; i < 10_000; i++) tracked.items.push(i);
  });
  const bare = bareProxy({ items: [] as number[] }, () => {});
  const bareLoop = await time(runs, () => {
    bare.items = [];
    for (let i = 0; i < 10_000; i++) bare.items.push(i);
  });
  const saved = { items: Array.from({ length: 10_000 }, (_, i) => i) };
  const file = join(dir, "floor");
  // JSON.stringify: no serializer of this state writes less or faster.
  const save = await time(runs, () => {
    writeFileSync(`${file}.tmp`, JSON.stringify({ json: saved }));
    renameSync(`${file}.tmp`, file);
  });
  rmSync(dir, { recursive: true });
  // The least any design that tracks with Proxies and saves durably can add to the request.
  const boundMs = plain + (bareLoop - loopOnly) + save;
  return {
    persistedMs: persisted,
    plainRequestMs: plain,
    plainLoopMs: loopOnly,
    trackedLoopMs: trackedLoop,
    bareProxyLoopMs: bareLoop,
    saveMs: save,
    ratio: persisted / plain,
    boundRatio: boundMs / plain,
    writesPerRequest,
  };
}

/**
 * The cheapest tracking Proxy: a get trap that hands out the Proxy of an object child and a
 * wrapper of `push` that reports the change, each remembered; a set trap that reports.
 */
function bareProxy<T extends object>(root: T, onChange: () => void): T {
  const proxies = new WeakMap<object, object>();
  const wrap = (target: object): object => {
    let proxy = proxies.get(target);
    if (proxy) return proxy;
    let push: ((...items: unknown[]) => number) | undefined;
    proxy = new Proxy(target, {
      get(t, key, receiver) {
        const value: unknown = Reflect.get(t, key, receiver);
        if (typeof value === "object" && value !== null) return wrap(value);
        if (value === Array.prototype.push) {
          push ??= (...items: unknown[]) => {
            onChange();
            return (t as unknown[]).push(...items);
          };
          return push;
        }
        return value;
      },
      set(t, key, value) {
        onChange();
        return Reflect.set(t, key, value);
      },
    });
    proxies.set(target, proxy);
    return proxy;
  };
  return wrap(root) as T;
}

const none: ReadonlySet<never> = new Set();
const json = new SuperJSON();

export async function stateSizes(runs: number) {
  const rows = [];
  for (const bytes of [1_000, 100_000, 1_000_000]) {
    const dir = scratch();
    const store = new FileStore({ dir, sweepInterval: 0 });
    const app = new Hono();
    app.use(persistSession({ secret: SECRET, store, maxBytes: 4_000_000 }));
    let n = 0;
    const blob = "x".repeat(bytes);
    app.post("/grow", (c) => {
      const state = new Items();
      // The first request stores the blob; each later one changes one small field, so the
      // request pays for saving the whole state, not for building it.
      if (state.blob.length !== bytes) state.blob = blob;
      state.items = [n++];
      return c.text("ok");
    });
    app.get("/read", (c) => c.text(String(new Items().blob.length)));
    const cookie = await session(app, "/grow");
    const { ms: persisted, blockMs: maxLoopBlockMs } = await timeBlocks(runs, () =>
      app.request("/grow", { method: "POST", headers: { cookie } }),
    );
    const { ms: readOnly, blockMs: readOnlyBlockMs } = await timeBlocks(runs, () =>
      app.request("/read", { headers: { cookie } }),
    );
    // The floor: serialize the same state with superjson and write it atomically, nothing else.
    const state = { items: [1], blob };
    const file = join(dir, "floor");
    const envelope = (json: string) =>
      encodeEnvelope("bench-items", { version: 1, created: 0, saved: 0, state: json });
    const floor = await time(runs, () => {
      writeFileSync(`${file}.tmp`, envelope(SuperJSON.stringify(state)));
      renameSync(`${file}.tmp`, file);
    });
    // A string as a write needs it: flat. On Node 20 JSON.stringify returns pieces that the
    // first reader (the write, a search) copies into one string, 0.5 ms for 1 MB.
    const serializeOnly = await time(runs, () => SuperJSON.stringify(state).indexOf("\n"));
    // hono-persist's own serialization of it (the record a write hands on), alone.
    const header = { version: 1, created: 0, saved: 0 };
    const encode = () =>
      encodeRecord(json, state, { key: "bench-items", exclude: none, classes: none }, header);
    const encodeOnly = await time(runs, encode);
    // What moving the record to another thread costs the event loop: `postMessage` to an idle
    // thread, as the writer thread mostly is (the structured clone of the string, and the
    // thread's wake-up). Any write off the loop must move the bytes somehow.
    const record = encode().data;
    const echo = new Worker(
      'require("node:worker_threads").parentPort.on("message", (m) => require("node:worker_threads").parentPort.postMessage(m.length))',
      { eval: true },
    );
    const samples: number[] = [];
    for (let i = 0; i < runs; i++) {
      const replied = once(echo, "message");
      const started = performance.now();
      echo.postMessage(record);
      samples.push(performance.now() - started);
      await replied;
    }
    await echo.terminate();
    const handOff = trimmedMean(samples);
    // The same floor inside a plain Hono request, where the write runs between the other work
    // of a request (measured: the same write costs up to twice its tight-loop time there).
    const plainApp = new Hono();
    plainApp.post("/grow", (c) => {
      state.items = [n++];
      writeFileSync(`${file}.tmp`, envelope(SuperJSON.stringify(state)));
      renameSync(`${file}.tmp`, file);
      return c.text("ok");
    });
    const { ms: requestFloor, blockMs: floorMaxLoopBlockMs } = await timeBlocks(runs, () =>
      plainApp.request("/grow", { method: "POST" }),
    );
    rows.push({
      bytes,
      persistedMs: persisted,
      readOnlyMs: readOnly,
      floorMs: floor,
      ratio: persisted / floor,
      requestFloorMs: requestFloor,
      requestRatio: persisted / requestFloor,
      serializeMs: serializeOnly,
      encodeMs: encodeOnly,
      handOffMs: handOff,
      maxLoopBlockMs,
      readOnlyBlockMs,
      floorMaxLoopBlockMs,
    });
    rmSync(dir, { recursive: true });
  }
  return rows;
}

export async function manyFiles(requests: number) {
  const dir = scratch();
  const store = new FileStore({ dir, sweepInterval: 0 });
  const app = new Hono();
  app.use(persistSession({ secret: SECRET, store }));
  app.post("/hit", (c) => {
    new Items().items.push(1);
    return c.text("ok");
  });
  const cookies: string[] = [];
  for (let i = 0; i < 100; i++) cookies.push(await session(app, "/hit"));
  const latency = async () =>
    time(requests, () =>
      app.request("/hit", {
        method: "POST",
        headers: { cookie: cookies[Math.floor(Math.random() * cookies.length)] as string },
      }),
    );
  const small = await latency();
  // Fill the directory to 100,000 state files, written as the store writes them.
  const now = Date.now();
  const data = encodeEnvelope("bench-items", {
    version: 1,
    created: now,
    saved: now,
    state: SuperJSON.stringify({ items: [1] }),
  });
  for (let i = 0; i < 100_000 - 100; i++) await store.set(crypto.randomUUID(), data, 3600);
  const large = await latency();
  const started = performance.now();
  const removed = await store.sweep();
  const sweepMs = performance.now() - started;
  const memory = process.memoryUsage();
  rmSync(dir, { recursive: true });
  return {
    files: 100_000,
    latencyAt100FilesMs: small,
    latencyAt100kFilesMs: large,
    ratio: large / small,
    sweepMs,
    sweepRemoved: removed,
    rssMiB: Math.round(memory.rss / 2 ** 20),
    heapMiB: Math.round(memory.heapUsed / 2 ** 20),
  };
}
