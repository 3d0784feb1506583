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
}

// KNOWN BUG, found at the end of session 9 (the demo's GET / sets a `prefs` cookie): a getter
// read or a method call counts as a possible change, and a never-stored state always differs
// from "nothing stored", so it is written. Fails at 912416e too. `test.fails` keeps it visible
// and turns red once it is fixed: then make it a plain `test`.
test.fails("reading a fresh state through a getter and a method stores nothing and sets no cookie", async () => {
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
