// Issue #17, the demo's "info" findings: its page is one visitor's state, and it is served to
// the internet by people trying the library.
import { readdirSync } from "node:fs";
import { afterEach, beforeEach, expect, test } from "vitest";
import { createApp } from "../demo/app.js";
import { FileStore, MemoryStore, type Store } from "../src/index.js";
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
  const browser = new Browser(
    createApp({ secret: SECRET, store: new FileStore({ dir, sweepInterval: 0 }) }),
  );
  const page = await browser.request("http://127.0.0.1:3000/");
  expect([page.status, page.headers.getSetCookie(), readdirSync(dir)]).toEqual([200, [], []]);
});

test("the demo ends only a browser the signed-in user is signed in on", async () => {
  // No background sweep: it would race the removal of the directory after the test.
  const app = createApp({ secret: SECRET, store: new FileStore({ dir, sweepInterval: 0 }) });
  const [laptop, phone, stranger] = [new Browser(app), new Browser(app), new Browser(app)];
  const post = (browser: Browser, path: string, body = "") =>
    browser.request(`http://127.0.0.1:3000${path}`, {
      method: "POST",
      headers: {
        Origin: "http://127.0.0.1:3000",
        "Content-Type": "application/x-www-form-urlencoded",
      },
      body,
    });
  const listed = async (browser: Browser) => {
    const page = await browser.text("http://127.0.0.1:3000/");
    return [...page.matchAll(/name="browser" value="([^"]*)"/g)].map((match) => match[1]);
  };
  for (const browser of [laptop, phone]) {
    expect((await post(browser, "/increment")).status).toBe(303);
    expect((await post(browser, "/signin")).status).toBe(303);
  }
  const [phoneId = ""] = await listed(laptop);
  expect(phoneId).toMatch(/^[0-9a-f-]{36}$/);

  const attempts: [Browser, string][] = [
    [stranger, phoneId], // signed in as nobody
    [laptop, "not-a-uuid"],
    [laptop, "11111111-1111-4111-8111-111111111111"], // a UUIDv4 of nobody's browser
    [laptop, `${phoneId}x`],
  ];
  for (const [browser, id] of attempts) {
    expect((await post(browser, "/sessions/end", `browser=${encodeURIComponent(id)}`)).status).toBe(
      303,
    );
    expect([id, await listed(laptop)]).toEqual([id, [phoneId]]);
  }
  expect(phone.cookie("account")).toBeDefined();

  expect((await post(laptop, "/sessions/end", `browser=${phoneId}`)).status).toBe(303);
  expect(await listed(laptop)).toEqual([]);
  // The phone's next request finds its sign-in gone.
  expect(await phone.text("http://127.0.0.1:3000/")).toContain('id="signin"');
  expect(phone.cookie("account")).toBeUndefined();
});

test("on a store without the sessions index, the demo signs in and lists no sessions", async () => {
  // A third-party store of three methods, as DurableObjectStore is: no `index`, no `indexed`.
  const memory = new MemoryStore();
  const store: Store = {
    get: (id, ttl) => memory.get(id, ttl),
    set: (id, data, ttl) => memory.set(id, data, ttl),
    delete: (id) => memory.delete(id),
  };
  const browser = new Browser(createApp({ secret: SECRET, store }));
  const post = (path: string) =>
    browser.request(`http://127.0.0.1:3000${path}`, {
      method: "POST",
      headers: { Origin: "http://127.0.0.1:3000" },
    });
  expect((await post("/signin")).status).toBe(303);
  expect((await post("/sessions/end-others")).status).toBe(303);
  const page = await browser.request("http://127.0.0.1:3000/");
  const html = await page.text();
  expect([page.status, html.includes('id="signed-in"'), html.includes('id="sessions"')]).toEqual([
    200,
    true,
    false,
  ]);
});
