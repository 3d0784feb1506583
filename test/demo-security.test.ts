// Issue #17, the demo's "info" findings: its page is one visitor's state, and it is served to
// the internet by people trying the library.
import { readdirSync } from "node:fs";
import { afterEach, beforeEach, expect, test } from "vitest";
import { createApp } from "../demo/app.js";
import { FileStore } from "../src/index.js";
import { Browser, SECRET, tempDir } from "./helpers.js";

let dir: string;
let remove: () => void;
beforeEach(() => {
  ({ dir, remove } = tempDir());
});
afterEach(() => remove());

test("the demo's page is never stored by a shared cache, and names no absolute path", async () => {
  const browser = new Browser(createApp({ secret: SECRET, store: new FileStore({ dir }) }));
  for (const visit of ["first", "with a stored state"]) {
    if (visit !== "first") {
      const saved = await browser.request("http://127.0.0.1:3000/increment", {
        method: "POST",
        headers: { Origin: "http://127.0.0.1:3000" },
      });
      expect(saved.status).toBe(303);
    }
    const page = await browser.request("http://127.0.0.1:3000/");
    expect([visit, page.status, page.headers.get("Cache-Control")]).toEqual([
      visit,
      200,
      "private, no-store",
    ]);
    expect(await page.text()).not.toContain(dir);
  }
});

test("a first visit to the demo's page creates no file and sets no cookie", async () => {
  const browser = new Browser(createApp({ secret: SECRET, store: new FileStore({ dir }) }));
  const page = await browser.request("http://127.0.0.1:3000/");
  expect([page.status, page.headers.getSetCookie(), readdirSync(dir)]).toEqual([200, [], []]);
});
