// Findings of the outside security review (issue #17) on cookies and the responses that carry
// them, one test per finding: each failed before its fix.
import { randomBytes } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { sign } from "cookie-signature";
import { Hono } from "hono";
import { HTTPException } from "hono/http-exception";
import { streamSSE } from "hono/streaming";
import { afterEach, beforeEach, describe, expect, test } from "vitest";
import {
  FileStore,
  PersistError,
  type PersistSessionOptions,
  persist,
  persistSession,
} from "../src/index.js";
import { Browser, SECRET, tempDir } from "./helpers.js";

@persist("app-state")
class AppState {
  count = 0;
}

@persist("prefs")
class Prefs {
  theme = "light";
}

/** A real FileStore that records the ids it was asked to read. */
class ReadsStore extends FileStore {
  reads: string[] = [];
  override async get(id: string, ttl: number): Promise<string | undefined> {
    this.reads.push(id);
    return super.get(id, ttl);
  }
}

let dir: string;
let removeDir: () => void;
let store: ReadsStore;
let logged: string[];
const logger = { warn: (m: string) => logged.push(m), error: (m: string) => logged.push(m) };

beforeEach(() => {
  ({ dir, remove: removeDir } = tempDir());
  store = new ReadsStore({ dir, sweepInterval: 0 });
  logged = [];
});
afterEach(() => removeDir());

function makeApp(options: Partial<PersistSessionOptions> = {}) {
  const app = new Hono();
  // cacheSize 0: every request reads the store, so a read that should not happen shows.
  app.use(persistSession({ secret: SECRET, store, logger, cacheSize: 0, ...options }));
  app.get("/", (c) => c.text(String(new AppState().count)));
  app.post("/increment", (c) => {
    new AppState().count++;
    return c.text("ok");
  });
  app.get("/theme", (c) => c.text(new Prefs().theme));
  app.post("/theme", (c) => {
    new Prefs().theme = "dark";
    return c.text("ok");
  });
  return app;
}

function idOf(browser: Browser, name = "app-state"): string {
  return (browser.cookie(name) ?? "").split(".")[0] ?? "";
}

/** The cookie value the middleware issues for `id` of `key`: `<id>.<HMAC of "<key>.<id>">`. */
function keyed(key: string, id: string, secret = SECRET): string {
  return sign(`${key}.${id}`, secret).slice(key.length + 1);
}

function cookieHeader(...pairs: [string, string][]): { Cookie: string } {
  return {
    Cookie: pairs.map(([name, value]) => `${name}=${encodeURIComponent(value)}`).join("; "),
  };
}

describe("#8 a lock timeout tells the visitor nothing about the server", () => {
  test("the 503 body names neither the store's path nor the state's id; the PersistError is its cause", async () => {
    const app = makeApp({ lock: { timeout: 0.2 } });
    let caught: unknown;
    // Hono's default for an HTTPException, keeping the error for the assertions below.
    app.onError((error, c) => {
      caught = error;
      return error instanceof HTTPException ? error.getResponse() : c.text("500", 500);
    });
    const browser = new Browser(app);
    await browser.request("/increment", { method: "POST" });
    const id = idOf(browser);
    // Another process's request holds this browser's state.
    const release = await store.lock(id, 5);
    const response = await browser.request("/");
    release();
    const body = await response.text();
    expect(response.status).toBe(503);
    expect(body).not.toContain(dir);
    expect(body).not.toContain(id);
    expect(body).toBe("state is busy, try again");
    const cause = (caught as HTTPException).cause;
    expect(cause).toBeInstanceOf(PersistError);
    expect((cause as PersistError).code).toBe("LOCK_TIMEOUT");
    expect((cause as PersistError).message).toContain(id);
    expect(await browser.text("/")).toBe("1");
  });
});

describe("#9 a cookie's signature is bound to its key", () => {
  async function withPrefs() {
    const app = makeApp();
    const browser = new Browser(app);
    await browser.request("/theme", { method: "POST" });
    const id = idOf(browser, "prefs");
    const file = join(dir, id);
    return { app, browser, id, file, content: readFileSync(file, "utf8") };
  }

  test("(a) a prefs cookie sent under the name app-state does not verify: no read, fresh state, prefs untouched", async () => {
    const { app, browser, id, file, content } = await withPrefs();
    store.reads = [];
    const response = await app.request("/", {
      headers: cookieHeader(["app-state", browser.cookie("prefs") ?? ""]),
    });
    expect(await response.text()).toBe("0");
    expect(store.reads).not.toContain(id);
    expect(response.headers.getSetCookie()).toEqual([
      expect.stringMatching(/^app-state=; Max-Age=0/),
    ]);
    expect(readdirSync(dir)).toEqual([id]);
    expect(readFileSync(file, "utf8")).toBe(content);
    expect(await browser.text("/theme")).toBe("dark");
    expect(logged).toEqual([]);
  });

  test("(b) a legacy (id-only) prefs cookie sent as app-state: fresh state, the prefs file neither quarantined nor changed", async () => {
    const { app, browser, id, file, content } = await withPrefs();
    const response = await app.request("/", {
      headers: cookieHeader(["app-state", sign(id, SECRET)]),
    });
    expect(await response.text()).toBe("0");
    expect(response.headers.getSetCookie()).toEqual([
      expect.stringMatching(/^app-state=; Max-Age=0/),
    ]);
    // A change through it goes to a new id of its own.
    const replayed = await app.request("/increment", {
      method: "POST",
      headers: cookieHeader(["app-state", sign(id, SECRET)]),
    });
    const [line = ""] = replayed.headers.getSetCookie();
    expect(line).toMatch(/^app-state=/);
    expect(decodeURIComponent(line).slice("app-state=".length, "app-state=".length + 36)).not.toBe(
      id,
    );
    expect(readdirSync(dir).filter((name) => name.endsWith(".corrupt"))).toEqual([]);
    expect(readFileSync(file, "utf8")).toBe(content);
    expect(logged).toEqual([]);
    expect(await browser.text("/theme")).toBe("dark");
  });

  test("(c) a legacy cookie of the right key restores its state and is re-issued in the keyed form", async () => {
    const app = makeApp();
    const browser = new Browser(app);
    await browser.request("/increment", { method: "POST" });
    const id = idOf(browser);
    const response = await app.request("/", {
      headers: cookieHeader(["app-state", sign(id, SECRET)]),
    });
    expect(await response.text()).toBe("1");
    const [line = ""] = response.headers.getSetCookie();
    expect(decodeURIComponent(line.split(";")[0] ?? "")).toBe(
      `app-state=${keyed("app-state", id)}`,
    );
    expect(keyed("app-state", id)).not.toBe(sign(id, SECRET));
    // The keyed form is current: used as is, not issued again.
    const again = await app.request("/", {
      headers: cookieHeader(["app-state", keyed("app-state", id)]),
    });
    expect(await again.text()).toBe("1");
    expect(again.headers.getSetCookie()).toEqual([]);
  });

  test("a legacy cookie signed with an older secret is re-issued keyed, with the first secret", async () => {
    const oldSecret = "an-older-secret-that-is-also-32-characters";
    const browser = new Browser(makeApp());
    await browser.request("/increment", { method: "POST" });
    const id = idOf(browser);
    const response = await makeApp({ secret: [SECRET, oldSecret] }).request("/", {
      headers: cookieHeader(["app-state", sign(id, oldSecret)]),
    });
    expect(await response.text()).toBe("1");
    const [line = ""] = response.headers.getSetCookie();
    expect(decodeURIComponent(line.split(";")[0] ?? "")).toBe(
      `app-state=${keyed("app-state", id)}`,
    );
  });
});

describe("#10 a cookie name sent several times", () => {
  async function twoBrowsers(app: Hono) {
    const first = new Browser(app);
    await first.request("/increment", { method: "POST" });
    const second = new Browser(app);
    await second.request("/increment", { method: "POST" });
    await second.request("/increment", { method: "POST" });
    return { one: first.cookie("app-state") ?? "", two: second.cookie("app-state") ?? "" };
  }

  test.each([
    [
      "junk first",
      (valid: string) => [
        ["app-state", "junk"],
        ["app-state", valid],
      ],
    ],
    [
      "valid first",
      (valid: string) => [
        ["app-state", valid],
        ["app-state", "junk"],
      ],
    ],
    [
      "a forged signature first",
      (valid: string) => [
        ["app-state", `${valid.slice(0, 37)}${"A".repeat(43)}`],
        ["app-state", valid],
      ],
    ],
  ] as [string, (valid: string) => [string, string][]][])(
    "%s: the value that verifies loads, and no cookie is expired (every time)",
    async (_, pairs) => {
      const app = makeApp();
      const { one } = await twoBrowsers(app);
      for (let i = 0; i < 3; i++) {
        const response = await app.request("/", { headers: cookieHeader(...pairs(one)) });
        expect(await response.text()).toBe("1");
        expect(response.headers.getSetCookie()).toEqual([]);
      }
    },
  );

  test("two valid cookies of different ids: the first wins, nothing is expired", async () => {
    const app = makeApp();
    const { one, two } = await twoBrowsers(app);
    for (const [pairs, count] of [
      [
        [
          ["app-state", one],
          ["app-state", two],
        ],
        "1",
      ],
      [
        [
          ["app-state", two],
          ["app-state", one],
        ],
        "2",
      ],
    ] as [[string, string][], string][]) {
      const response = await app.request("/", { headers: cookieHeader(...pairs) });
      expect(await response.text()).toBe(count);
      expect(response.headers.getSetCookie()).toEqual([]);
    }
  });

  test("a validly signed id with nothing stored, sent first: the first wins (fresh state), and nothing is expired", async () => {
    const app = makeApp();
    const { one } = await twoBrowsers(app);
    const unknown = keyed("app-state", "9b2e6c1a-3f4d-4e5a-8b6c-7d8e9f0a1b2c");
    const response = await app.request("/", {
      headers: cookieHeader(["app-state", unknown], ["app-state", one]),
    });
    expect(await response.text()).toBe("0");
    expect(response.headers.getSetCookie()).toEqual([]);
  });

  test("several values none of which verifies: fresh state, and none is expired (ours may be one of another path)", async () => {
    const app = makeApp();
    const { one } = await twoBrowsers(app);
    const forged = `${one.slice(0, 37)}${"A".repeat(43)}`;
    const response = await app.request("/", {
      headers: cookieHeader(["app-state", "junk"], ["app-state", forged]),
    });
    expect(await response.text()).toBe("0");
    expect(response.headers.getSetCookie()).toEqual([]);
  });
});

describe("#11 a response that carries a state cookie is private", () => {
  function cachedApp() {
    const app = makeApp();
    app.post("/cached", (c) => {
      new AppState().count++;
      c.header("Cache-Control", c.req.header("X-Cache-Control") ?? "");
      return c.text("ok");
    });
    app.get("/cached", (c) => {
      c.header("Cache-Control", c.req.header("X-Cache-Control") ?? "");
      return c.text(String(new AppState().count));
    });
    return app;
  }

  test.each([
    ["public, max-age=60", "private, max-age=60"],
    ["no-cache", "private, no-cache"],
    ["Public, S-MaxAge=600, max-age=60, must-revalidate", "private, max-age=60, must-revalidate"],
    ["max-age=60, private", "max-age=60, private"],
    ["no-store", "private, no-store"],
    ['private="Set-Cookie", max-age=60', "private, max-age=60"],
  ])("a handler's `%s` becomes `%s` when a cookie is set", async (handler, sent) => {
    const response = await cachedApp().request("/cached", {
      method: "POST",
      headers: { "X-Cache-Control": handler },
    });
    expect(response.headers.getSetCookie()).toEqual([expect.stringMatching(/^app-state=/)]);
    expect(response.headers.get("Cache-Control")).toBe(sent);
  });

  test("also when a cookie is expired; a response that sets no cookie keeps the handler's", async () => {
    const app = cachedApp();
    const expired = await app.request("/cached", {
      headers: { "X-Cache-Control": "public, max-age=60", ...cookieHeader(["app-state", "junk"]) },
    });
    expect(expired.headers.getSetCookie()).toEqual([
      expect.stringMatching(/^app-state=; Max-Age=0/),
    ]);
    expect(expired.headers.get("Cache-Control")).toBe("private, max-age=60");
    const none = await app.request("/cached", {
      headers: { "X-Cache-Control": "public, max-age=60" },
    });
    expect(none.headers.get("Cache-Control")).toBe("public, max-age=60");
  });

  test("streamSSE: a change made before the callback's first await is saved before the headers leave, which are private", async () => {
    const app = makeApp();
    app.get("/events", (c) =>
      streamSSE(c, async (stream) => {
        new AppState().count++;
        await stream.writeSSE({ data: "changed" });
      }),
    );
    const browser = new Browser(app);
    const response = await browser.request("/events");
    expect(await response.text()).toBe("data: changed\n\n");
    expect(response.headers.getSetCookie()).toEqual([expect.stringMatching(/^app-state=/)]);
    expect(response.headers.get("Cache-Control")).toBe("private, no-cache");
    expect(await browser.text("/")).toBe("1");
  });
});

describe("weak secrets", () => {
  const message =
    "[hono-persist] option `secret` is easy to guess (fewer than 6 different characters, or one pattern repeated): generate one with `openssl rand -base64 32`";

  test.each([
    "a".repeat(32),
    "ab".repeat(16),
    `${"0".repeat(31)}1`,
    "changeme".repeat(4),
    "0123456789abcdef0123456789abcdef",
    `${"password-".repeat(4)}pass`,
  ])("%j is refused", (secret) => {
    expect(() => persistSession({ secret, store })).toThrow(new TypeError(message));
    expect(() => persistSession({ secret: [SECRET, secret], store })).toThrow(
      new TypeError(message),
    );
  });

  test("random secrets are accepted: 2,000 of 32 hex characters, 2,000 of base64", () => {
    for (let i = 0; i < 2000; i++) {
      persistSession({ secret: randomBytes(16).toString("hex"), store });
      persistSession({ secret: randomBytes(32).toString("base64"), store });
    }
  });
});
