import { once } from "node:events";
import { existsSync, readdirSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { serve } from "@hono/node-server";
import { Hono } from "hono";
import { html } from "hono/html";
import type { Browser, BrowserContext } from "playwright-core";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { FileStore, persist, persistSession } from "../src/index.js";
import { CHROMIUM, launchChromium } from "./fixtures/chromium.js";
import { SECRET, tempDir } from "./helpers.js";

// Debian's package; Playwright's own browser downloads are not used, so that nothing is fetched.
const START_TIMEOUT = 15_000;
const ACTION_TIMEOUT = 5_000;
const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

const haveChromium = existsSync(CHROMIUM);
if (!haveChromium) {
  console.warn(
    `test/cross-site-browser.test.ts skipped: no Chromium at ${CHROMIUM} (on Debian: apt-get install chromium)`,
  );
}

@persist("prefs")
class Prefs {
  filter = "";
}

type Server = ReturnType<typeof serve>;

async function listen(app: Hono): Promise<{ server: Server; port: number }> {
  const server = serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" });
  await once(server, "listening");
  return { server, port: (server.address() as AddressInfo).port };
}

/** The victim's app, with `persistSession`'s default options but the cookie's `SameSite`. */
function victimApp(dir: string, sameSite: "Lax" | "Strict"): Hono {
  const app = new Hono();
  app.use(persistSession({ secret: SECRET, store: new FileStore({ dir }), cookie: { sameSite } }));
  app.get("/", (c) =>
    c.html(html`<!doctype html>
      <output id="filter">${new Prefs().filter}</output>
      <form method="post" action="/filter">
        <label>Filter <input name="filter" /></label><button>Apply</button>
      </form>`),
  );
  app.post("/filter", async (c) => {
    const value = (await c.req.parseBody()).filter;
    new Prefs().filter = typeof value === "string" ? value : "";
    return c.redirect("/?applied", 303);
  });
  return app;
}

/** Another site (`localhost` is not `127.0.0.1`): its page posts a form to the app as it loads. */
function attackerApp(target: string): Hono {
  const app = new Hono();
  app.get("/", (c) =>
    c.html(html`<!doctype html>
      <form method="post" action="${target}/filter">
        <input name="filter" value="chosen by the attacker" />
      </form>
      <script>document.forms[0].submit()</script>`),
  );
  return app;
}

describe.skipIf(!haveChromium)("a form on another site, in Chromium", () => {
  let browser: Browser;
  const servers: Server[] = [];
  const dirs: ReturnType<typeof tempDir>[] = [];

  beforeAll(async () => {
    browser = await launchChromium(START_TIMEOUT);
  }, START_TIMEOUT);

  afterAll(async () => {
    await browser?.close();
    await Promise.all(
      servers.map((server) => new Promise((resolve) => server.close(() => resolve(undefined)))),
    );
    for (const dir of dirs) dir.remove();
  });

  async function newContext(): Promise<BrowserContext> {
    const context = await browser.newContext();
    context.setDefaultTimeout(ACTION_TIMEOUT);
    context.setDefaultNavigationTimeout(ACTION_TIMEOUT);
    return context;
  }

  for (const sameSite of ["Lax", "Strict"] as const) {
    test(`cannot replace the visitor's state or cookie (SameSite=${sameSite})`, async () => {
      const data = tempDir();
      dirs.push(data);
      const victim = await listen(victimApp(data.dir, sameSite));
      servers.push(victim.server);
      const app = `http://127.0.0.1:${victim.port}`;
      const attacker = await listen(attackerApp(app));
      servers.push(attacker.server);

      const context = await newContext();
      const page = await context.newPage();
      const cookieOf = async () =>
        (await context.cookies(app)).find((cookie) => cookie.name === "prefs");

      // The visitor sets their state on the app itself.
      await page.goto(`${app}/`);
      await page.getByLabel("Filter").fill("mine");
      await Promise.all([page.waitForURL(`${app}/?applied`), page.getByRole("button").click()]);
      expect(await page.locator("#filter").textContent()).toBe("mine");
      const before = await cookieOf();
      expect(before).toMatchObject({ sameSite, httpOnly: true });
      const id = decodeURIComponent(before?.value ?? "").split(".")[0];
      expect(id).toMatch(UUID_V4);

      // Then visits the other site, whose form posts to the app without the cookie.
      const posted = page.waitForResponse(
        (response) => response.url() === `${app}/filter` && response.request().method() === "POST",
      );
      await page.goto(`http://localhost:${attacker.port}/`);
      const response = await posted;
      const request = response.request();
      expect(await request.headerValue("sec-fetch-site")).toBe("cross-site");
      expect(await request.headerValue("cookie")).toBeNull();

      // And comes back: the same state, the same cookie, and no second state file.
      await page.goto(`${app}/`);
      expect(await page.locator("#filter").textContent()).toBe("mine");
      expect(await cookieOf()).toEqual(before);
      expect(readdirSync(data.dir).filter((name) => UUID_V4.test(name))).toEqual([id]);
      expect(response.status()).toBe(403);
      await context.close();
    });
  }
});
