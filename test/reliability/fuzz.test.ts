import { dirname } from "node:path";
import { sign } from "cookie-signature";
import fc from "fast-check";
import { Hono } from "hono";
import { MAX, NIL, v1, v4, v6, v7 } from "uuid";
import { afterAll, beforeAll, expect, test } from "vitest";
import { FileStore, isSessionId, persist, persistSession } from "../../src/index.js";
import { Browser, SECRET, tempDir } from "../helpers.js";
import { figure } from "./figures.js";

const RUNS = 100_000;

@persist("fuzz")
class Counter {
  count = 0;
}

/** Records every path the store is asked to touch. */
class WatchedStore extends FileStore {
  readonly paths: string[] = [];
  #watch(id: string) {
    this.paths.push(`${this.dir}/${id}`);
  }
  override async get(id: string, ttl: number) {
    this.#watch(id);
    return super.get(id, ttl);
  }
  override async set(id: string, data: string, ttl: number) {
    this.#watch(id);
    return super.set(id, data, ttl);
  }
  override async delete(id: string) {
    this.#watch(id);
    return super.delete(id);
  }
  override async quarantine(id: string) {
    this.#watch(id);
    return super.quarantine(id);
  }
}

let removeDir: () => void;
let store: WatchedStore;
let app: Hono;
let valid = "";

beforeAll(async () => {
  const temp = tempDir();
  removeDir = temp.remove;
  store = new WatchedStore({ dir: temp.dir, sweepInterval: 0 });
  app = new Hono();
  app.use(persistSession({ secret: SECRET, store, logger: { warn() {}, error() {} } }));
  app.get("/", (c) => c.text(String(new Counter().count)));
  app.post("/", (c) => {
    new Counter().count++;
    return c.text("ok");
  });
  const browser = new Browser(app);
  await browser.request("/", { method: "POST" });
  valid = browser.cookie("fuzz") ?? "";
});
afterAll(() => removeDir());

const traversal = fc.constantFrom(
  "../../../etc/passwd",
  "..%2F..%2F..%2Fetc%2Fpasswd",
  "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
  "/etc/passwd",
  "....//....//etc/passwd",
  "..\\..\\windows\\win.ini",
  "%00",
  "%2500",
  "x%00.json",
  "%c0%ae%c0%ae/",
);
const notV4 = fc
  .constantFrom(NIL, MAX)
  .chain((id) =>
    fc.constantFrom(id, v1(), v6(), v7(), v4().toUpperCase(), v4().replace(/-(.)/, "-c")),
  );
const often = (arbitrary: fc.Arbitrary<string>) => ({ arbitrary, weight: 20 });
const cookieValue = fc.oneof(
  often(fc.string({ unit: "binary", maxLength: 200 })),
  often(fc.string({ unit: "grapheme", maxLength: 100 })),
  { arbitrary: fc.string({ minLength: 1_000, maxLength: 8_000 }), weight: 1 },
  often(traversal),
  often(traversal.map((payload) => sign(payload, SECRET))),
  often(notV4.map((id) => sign(id, SECRET))),
  often(fc.string({ minLength: 32, maxLength: 40 }).map((secret) => sign(v4(), secret))),
  often(
    fc.nat().map((at) => {
      // The valid cookie with one character changed.
      const i = at % valid.length;
      return `${valid.slice(0, i)}${valid[i] === "A" ? "B" : "A"}${valid.slice(i + 1)}`;
    }),
  ),
  often(fc.constant(valid)),
);
const encoded = fc
  .tuple(cookieValue, fc.boolean())
  .map(([value, encode]) => (encode ? encodeURIComponent(value) : value));
const cookieName = fc.oneof(
  fc.constant("fuzz"),
  fc.constant("__Host-fuzz"),
  fc.string({ maxLength: 20 }),
);
const header = fc
  .tuple(
    fc.oneof(
      { arbitrary: fc.array(fc.tuple(cookieName, encoded), { maxLength: 6 }), weight: 50 },
      // Hundreds of cookies, duplicate names among them.
      {
        arbitrary: fc.array(fc.tuple(cookieName, encoded), { minLength: 100, maxLength: 300 }),
        weight: 1,
      },
    ),
    fc.constantFrom("; ", ";", ",", " ; ", ";;"),
  )
  .map(([pairs, separator]) => pairs.map(([name, value]) => `${name}=${value}`).join(separator))
  // Headers carry bytes: non-Latin-1 text travels as its UTF-8 bytes, as it does on the wire.
  .map((text) => Buffer.from(text, "utf8").toString("latin1"));

test(`${RUNS.toLocaleString("en")} hostile Cookie headers: no 5xx, no exception, no path outside the store`, async () => {
  let refusedByHeaders = 0;
  let slowest = 0;
  const statuses = new Map<number, number>();
  await fc.assert(
    // One request in 20 writes: a fresh state is a file, and 100,000 files would measure the disk.
    fc.asyncProperty(header, fc.nat(19), async (cookie, dice) => {
      const write = dice === 0;
      try {
        new Headers({ cookie });
      } catch {
        refusedByHeaders++; // CR, LF or NUL: no HTTP request can carry it.
        return;
      }
      const started = performance.now();
      const response = await app.request("/", {
        method: write ? "POST" : "GET",
        headers: { cookie },
      });
      slowest = Math.max(slowest, performance.now() - started);
      statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
      expect(response.status).toBeLessThan(500);
    }),
    { numRuns: RUNS },
  );
  const outside = store.paths.filter(
    (path) => dirname(path) !== store.dir || !isSessionId(path.slice(store.dir.length + 1)),
  );
  figure("fuzz-cookies", {
    headers: RUNS,
    refusedByHeaders,
    statuses: Object.fromEntries(statuses),
    storeCalls: store.paths.length,
    pathsOutsideStore: outside.length,
    slowestMs: Math.round(slowest),
  });
  expect(outside).toEqual([]);
  // A generous bound against pathological (ReDoS-like) inputs, not a speed target.
  expect(slowest).toBeLessThan(2_000);
  // The valid session survived all of it.
  expect(
    await (
      await app.request("/", { headers: { cookie: `fuzz=${encodeURIComponent(valid)}` } })
    ).text(),
  ).not.toBe("0");
}, 300_000);
