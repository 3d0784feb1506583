// A fresh state costs nothing until it changes: reading it, its getters and its methods
// included, creates no entry and sets no cookie (SECURITY.md, "Disk filling").
import { Hono } from "hono";
import { expect, test } from "vitest";
import { MemoryStore, persist, persistSession } from "../src/index.js";
import { SECRET } from "./helpers.js";

@persist("fresh-reads")
class Prefs {
  theme = "light";
  filter = "";
  pinned = new Set<string>();
  get visible(): string[] {
    return ["a", "b"].filter((item) => item.includes(this.filter));
  }
  isPinned(item: string): boolean {
    return this.pinned.has(item);
  }
  pin(item: string): void {
    this.pinned.add(item);
  }
}

// A getter that fills a field on its first read: it runs on the raw object, so what it
// writes is unseen by the Proxy, and must still be saved.
@persist("fresh-lazy")
class Lazy {
  _token: string | undefined;
  get token(): string {
    this._token ??= "minted";
    return this._token;
  }
}

test("reading a fresh state through a getter and a method stores nothing and sets no cookie", async () => {
  const store = new MemoryStore();
  const app = new Hono();
  app.use(persistSession({ secret: SECRET, store }));
  app.get("/", (c) => {
    const prefs = new Prefs();
    return c.text(`${prefs.theme} ${prefs.visible.join(",")} ${prefs.isPinned("a")}`);
  });
  const response = await app.request("/");
  expect([await response.text(), response.headers.getSetCookie(), store.size]).toEqual([
    "light a,b false",
    [],
    0,
  ]);
});

test("what a getter or a method changes on a fresh state is saved", async () => {
  const store = new MemoryStore();
  const app = new Hono();
  app.use(persistSession({ secret: SECRET, store }));
  app.get("/token", (c) => c.text(new Lazy().token));
  app.get("/pin", (c) => {
    new Prefs().pin("a");
    return c.text("ok");
  });
  const token = await app.request("/token");
  expect([await token.text(), token.headers.getSetCookie().length, store.size]).toEqual([
    "minted",
    1,
    1,
  ]);
  const pinned = await app.request("/pin");
  expect([pinned.headers.getSetCookie().length, store.size]).toEqual([1, 2]);
  const again = await app.request("/pin", {
    headers: { cookie: pinned.headers.getSetCookie()[0]?.split(";")[0] ?? "" },
  });
  // Pinning what is pinned changes nothing: no new cookie, nothing written again.
  expect(again.headers.getSetCookie()).toEqual([]);
});
