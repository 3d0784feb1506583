// Workloads measured inside this process with `app.request()`: the cost of hono-persist's own
// work without HTTP noise (W3 many writes in one request, W4 state size, W5 many files).

import { AsyncLocalStorage } from "node:async_hooks";
import { once } from "node:events";
import {
  closeSync,
  mkdtempSync,
  openSync,
  renameSync,
  rmSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Worker } from "node:worker_threads";
import { Hono } from "hono";
import SuperJSON from "superjson";
import { encodeEnvelope, encodeRecord } from "../dist/serialize.js";
import { Tracker } from "../dist/tracking.js";
import { SECRET } from "./servers/page.js";

// The build measured: this one, or another's index.js (DIST, see bench/inprocess-cli.ts). The
// floors and bounds below always use this build's serialization.
const { FileStore, persist, persistSession } = (await import(
  process.env.DIST ?? "../dist/index.js"
)) as typeof import("../dist/index.js");

const Items = persist("bench-items")(
  class Items {
    items: number[] = [];
    blob = "";
  },
);

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

// A writer thread as small as one can be: each message a whole atomic replace (the record and
// a newline to a new temporary file, mode 0600, renamed over the file), answered when done.
const WRITER = `
const { parentPort } = require("node:worker_threads");
const fs = require("node:fs");
parentPort.on("message", ({ file, line }) => {
  const fd = fs.openSync(file + ".tmp", "wx", 0o600);
  fs.writeFileSync(fd, line);
  fs.writeSync(fd, "\\n");
  fs.closeSync(fd);
  fs.renameSync(file + ".tmp", file);
  parentPort.postMessage(1);
});
`;

/** The same atomic replace on the event loop. */
function replaceHere(file: string, line: string): void {
  const fd = openSync(`${file}.tmp`, "wx", 0o600);
  writeFileSync(fd, line);
  writeSync(fd, "\n");
  closeSync(fd);
  renameSync(`${file}.tmp`, file);
}

/**
 * The least a durable `@persist` can block the event loop for: the browser's state found
 * through AsyncLocalStorage, a Proxy noting the change, superjson in a turn of its own after the
 * handler (so that it is not one stretch with the request's own work), the write on a thread,
 * the response after it. Nothing else: no cookie signed or checked, no check that the file is
 * still the one last written, no appends.
 */
function leastDurableApp(file: string, state: object, writer: Worker): Hono {
  const storage = new AsyncLocalStorage<string>();
  const proxies = new Map<string, object>();
  const changed = new Set<string>();
  const current = () => {
    const browser = storage.getStore() as string;
    let proxy = proxies.get(browser);
    if (!proxy) {
      proxy = new Proxy(state, {
        set(target, key, value, receiver) {
          changed.add(browser);
          return Reflect.set(target, key, value, receiver);
        },
      });
      proxies.set(browser, proxy);
    }
    return proxy as { items: number[] };
  };
  const app = new Hono();
  app.use(async (c, next) => {
    const browser = c.req.header("Cookie") ?? "";
    await storage.run(browser, next);
    if (!changed.delete(browser)) return;
    await new Promise((resolve) => setImmediate(resolve));
    const line = SuperJSON.stringify(state);
    const written = once(writer, "message");
    writer.postMessage({ file, line });
    await written;
  });
  let n = 0;
  app.post("/grow", (c) => {
    current().items = [n++];
    return c.text("ok");
  });
  return app;
}

export async function stateSizes(runs: number) {
  const rows = [];
  const writer = new Worker(WRITER, { eval: true });
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
    // The floor: serialize the same state with superjson and write it atomically, nothing else.
    const state = { items: [1], blob };
    const file = join(dir, "floor");
    const envelope = (json: string) =>
      encodeEnvelope("bench-items", { version: 1, created: 0, saved: 0, state: json });
    // The same floor inside a plain Hono request, where the write runs between the other work
    // of a request (measured: the same write costs up to twice its tight-loop time there).
    const plainApp = new Hono();
    plainApp.post("/grow", (c) => {
      state.items = [n++];
      writeFileSync(`${file}.tmp`, envelope(SuperJSON.stringify(state)));
      renameSync(`${file}.tmp`, file);
      return c.text("ok");
    });
    const least = leastDurableApp(join(dir, "least"), { items: [1], blob }, writer);
    const sides = interleaved(runs, {
      persisted: () => app.request("/grow", { method: "POST", headers: { cookie } }),
      readOnly: () => app.request("/read", { headers: { cookie } }),
      floor: () => {
        writeFileSync(`${file}.tmp`, envelope(SuperJSON.stringify(state)));
        renameSync(`${file}.tmp`, file);
      },
      requestFloor: () => plainApp.request("/grow", { method: "POST" }),
      least: () => least.request("/grow", { method: "POST", headers: { cookie } }),
    });
    const { persisted, readOnly, floor, requestFloor, least: leastDurable } = await sides;
    // A string as a write needs it: flat. On Node 20 JSON.stringify returns pieces that the
    // first reader (the write, a search) copies into one string, 0.5 ms for 1 MB.
    const serializeOnly = await time(runs, () => SuperJSON.stringify(state).indexOf("\n"));
    // hono-persist's own serialization of it (the record a write hands on), alone.
    const header = { version: 1, created: 0, saved: 0 };
    const encode = () =>
      encodeRecord(json, state, { key: "bench-items", exclude: none, classes: none }, header);
    const encodeOnly = await time(runs, encode);
    const record = encode().data;
    // A whole atomic replace of the record, on the event loop, and through a thread: its time
    // until done, and the part the event loop spends (`postMessage`: the structured clone of the
    // string and the thread's wake-up). Any write off the loop must move the bytes somehow.
    const whole = join(dir, "whole");
    const wholeHere = await time(runs, () => replaceHere(whole, record));
    const handOff: number[] = [];
    const wholeThread = await time(runs, async () => {
      const written = once(writer, "message");
      const started = performance.now();
      writer.postMessage({ file: whole, line: record });
      handOff.push(performance.now() - started);
      await written;
    });
    rows.push({
      bytes,
      persistedMs: persisted.ms,
      readOnlyMs: readOnly.ms,
      floorMs: floor.ms,
      ratio: persisted.ms / floor.ms,
      requestFloorMs: requestFloor.ms,
      requestRatio: persisted.ms / requestFloor.ms,
      leastMs: leastDurable.ms,
      serializeMs: serializeOnly,
      encodeMs: encodeOnly,
      wholeHereMs: wholeHere,
      wholeThreadMs: wholeThread,
      handOffMs: trimmedMean(handOff),
      maxLoopBlockMs: persisted.blockMs,
      readOnlyBlockMs: readOnly.blockMs,
      floorMaxLoopBlockMs: requestFloor.blockMs,
      leastBlockMs: leastDurable.blockMs,
    });
    rmSync(dir, { recursive: true });
  }
  await writer.terminate();
  return rows;
}

/**
 * Each of `sides` in blocks of calls, one block of each side in turn and the order rotated
 * every round, so that drift of the machine (large here: a side measured alone can catch a slow
 * stretch) hits all of them alike, while each block measures its side in a steady state: the
 * first calls of a block, run cold after another side's work, are not counted. A turn of the
 * event loop before each call. Per side: time per call (trimmed mean) and the longest
 * event-loop block a call caused (median).
 */
async function interleaved<K extends string>(
  runs: number,
  sides: Record<K, () => unknown>,
): Promise<Record<K, { ms: number; blockMs: number }>> {
  const BLOCK = 10;
  const WARM = 3;
  const names = Object.keys(sides) as K[];
  const samples = new Map(
    names.map((name) => [name, { ms: [] as number[], block: [] as number[] }]),
  );
  const watch = loopWatch();
  for (let round = 0; round * BLOCK < runs; round++) {
    for (let j = 0; j < names.length; j++) {
      const name = names[(round + j) % names.length] as K;
      const sample = samples.get(name) as { ms: number[]; block: number[] };
      for (let i = -WARM; i < BLOCK; i++) {
        await new Promise((resolve) => setImmediate(resolve));
        watch.take();
        const started = performance.now();
        await sides[name]();
        if (i < 0) continue;
        sample.ms.push(performance.now() - started);
        sample.block.push(watch.take());
      }
    }
  }
  watch.stop();
  const result = {} as Record<K, { ms: number; blockMs: number }>;
  for (const [name, sample] of samples) {
    result[name] = { ms: trimmedMean(sample.ms), blockMs: median(sample.block) };
  }
  return result;
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
