import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { copyFileSync, existsSync, mkdirSync, readdirSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import { createInterface } from "node:readline";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest";
import { CHROMIUM, launchChromium } from "./fixtures/chromium.js";
import { SECRET, tempDir } from "./helpers.js";

// Debian's package; Playwright's own browser downloads are not used, so that nothing is fetched.
const ROOT = resolve(import.meta.dirname, "..");
const OUTPUT = join(ROOT, "test-output");
const START_TIMEOUT = 15_000;
const STOP_TIMEOUT = 5_000;
const ACTION_TIMEOUT = 5_000;

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
// HMAC-SHA256 in base64 without its `=` padding, as cookie-signature writes it.
const SIGNED =
  /^([0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12})\.([A-Za-z0-9+/]{43})$/;

const haveChromium = existsSync(CHROMIUM);
if (!haveChromium) {
  console.warn(
    `test/demo-browser.test.ts skipped: no Chromium at ${CHROMIUM} (on Debian: apt-get install chromium)`,
  );
}

interface Demo {
  url: string;
  port: number;
  child: ChildProcess;
}

/** Starts `npm run demo`'s entry as a child process and resolves once it prints its URL. */
async function startDemo(dataDir: string, port = 0): Promise<Demo> {
  const child = spawn(process.execPath, ["--import", "tsx", "demo/server.tsx"], {
    cwd: ROOT,
    env: { ...process.env, PORT: String(port), DATA_DIR: dataDir, SESSION_SECRET: SECRET },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr?.setEncoding("utf8").on("data", (chunk: string) => {
    stderr += chunk;
  });
  const url = await new Promise<string>((resolveUrl, reject) => {
    const fail = (why: string) => {
      clearTimeout(timer);
      child.kill("SIGKILL");
      reject(new Error(`the demo ${why}\n${stderr}`));
    };
    const timer = setTimeout(
      () => fail(`printed no URL within ${START_TIMEOUT} ms`),
      START_TIMEOUT,
    );
    child.once("exit", (code, signal) => fail(`exited (${code ?? signal}) before it listened`));
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on("line", (line) => {
      const match = /on (http:\/\/127\.0\.0\.1:(\d+))\//.exec(line);
      if (!match?.[1]) return;
      clearTimeout(timer);
      child.removeAllListeners("exit");
      resolveUrl(match[1]);
    });
  });
  return { url, port: Number(new URL(url).port), child };
}

/** Stops the demo with `signal`, and for good with SIGKILL if it has not exited in time. */
async function stopDemo(demo: Demo | undefined, signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
  const child = demo?.child;
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, "exit");
  child.kill(signal);
  const timer = setTimeout(() => child.kill("SIGKILL"), STOP_TIMEOUT);
  await exited;
  clearTimeout(timer);
}

/**
 * Clicks a form's button, as a user does, and waits for the page the redirect leads to.
 * `within` narrows the search to one part of the page, for buttons that appear twice.
 */
async function press(page: Page, name: string, within = "body"): Promise<void> {
  await Promise.all([
    page.waitForEvent("framenavigated", { predicate: (frame) => frame === page.mainFrame() }),
    page.locator(within).getByRole("button", { name, exact: true }).click(),
  ]);
  await page.waitForLoadState("load");
}

async function text(page: Page, selector: string): Promise<string> {
  return ((await page.locator(selector).textContent()) ?? "").trim();
}

/** The decoded value of a cookie in `context`: `<uuid>.<signature>`. */
async function cookieValue(context: BrowserContext, name: string): Promise<string | undefined> {
  const cookie = (await context.cookies()).find((candidate) => candidate.name === name);
  return cookie && decodeURIComponent(cookie.value);
}

describe.skipIf(!haveChromium)("the demo dashboard in Chromium", () => {
  let data: ReturnType<typeof tempDir>;
  let sessions: string;
  let demo: Demo;
  let browser: Browser;
  /** The first user; the journey below runs in order on their one browser profile. */
  let alice: BrowserContext;
  const others: BrowserContext[] = [];

  async function newContext(): Promise<BrowserContext> {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    context.setDefaultTimeout(ACTION_TIMEOUT);
    context.setDefaultNavigationTimeout(ACTION_TIMEOUT);
    return context;
  }

  async function open(context: BrowserContext): Promise<Page> {
    const page = await context.newPage();
    const response = await page.goto(demo.url);
    expect(response?.status()).toBe(200);
    return page;
  }

  beforeAll(async () => {
    data = tempDir();
    sessions = join(data.dir, "sessions");
    // Settled, not raced: whichever started must be there for afterAll to stop it.
    const [started, launched] = await Promise.allSettled([
      startDemo(data.dir),
      launchChromium(START_TIMEOUT),
    ]);
    if (started.status === "fulfilled") demo = started.value;
    if (launched.status === "fulfilled") browser = launched.value;
    for (const result of [started, launched]) {
      if (result.status === "rejected") throw result.reason;
    }
    alice = await newContext();
  }, 2 * START_TIMEOUT);

  afterEach(async () => {
    await Promise.all(others.splice(0).map((context) => context.close()));
  });

  afterAll(async () => {
    await browser?.close();
    await stopDemo(demo);
    data?.remove();
  });

  test("three increments survive a reload and a new page", async () => {
    const page = await open(alice);
    expect(await text(page, "#count")).toBe("0");
    for (let i = 0; i < 3; i++) await press(page, "Increment");
    expect(await text(page, "#count")).toBe("3");

    await page.reload();
    expect(await text(page, "#count")).toBe("3");
    await page.close();

    const again = await open(alice);
    expect(await text(again, "#count")).toBe("3");
    expect(await again.locator("#activity tbody tr").count()).toBe(3);
    await again.close();
  });

  test("a restart of the server process keeps the state", async () => {
    await stopDemo(demo, "SIGTERM");
    // The same port, so that the browser just reloads the URL it has.
    demo = await startDemo(data.dir, demo.port);

    const page = await open(alice);
    expect(await text(page, "#count")).toBe("3");
    expect(await text(page, "#status-app-state")).toBe("restored from the store");
    // The activity's Dates came back as Dates: the page renders each with toISOString().
    const times = await page
      .locator("#activity tbody time")
      .evaluateAll((nodes) => nodes.map((node) => node.getAttribute("datetime") ?? ""));
    expect(times).toHaveLength(3);
    for (const time of times) expect(Date.now() - Date.parse(time)).toBeLessThan(60_000);
    await page.close();
  });

  test("the cookie is HttpOnly, signed, and names the state file shown", async () => {
    const page = await open(alice);
    expect(await page.evaluate<string>("document.cookie")).toBe("");

    const cookie = (await alice.cookies()).find((candidate) => candidate.name === "app-state");
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: "Lax", path: "/" });
    const match = SIGNED.exec(decodeURIComponent(cookie?.value ?? ""));
    expect(match).not.toBeNull();
    const id = match?.[1] ?? "";
    expect(await text(page, "#uuid-app-state")).toBe(id);
    expect(readdirSync(sessions)).toContain(id);
    expect(await text(page, "#file-app-state")).toMatch(/^[\d,]+ bytes$/);
    await page.close();
  });

  test("another browser has its own state, and both keep theirs while alternating", async () => {
    const bob = await newContext();
    others.push(bob);
    const bobsPage = await open(bob);
    const alicesPage = await open(alice);
    expect(await text(bobsPage, "#count")).toBe("0");

    for (let round = 1; round <= 2; round++) {
      await press(bobsPage, "Increment");
      await press(alicesPage, "Increment");
      expect(await text(bobsPage, "#count")).toBe(String(round));
      expect(await text(alicesPage, "#count")).toBe(String(3 + round));
    }
    await bobsPage.reload();
    expect(await text(bobsPage, "#count")).toBe("2");
    await press(alicesPage, "Decrement");
    expect(await text(alicesPage, "#count")).toBe("4");

    const ids = [
      await text(alicesPage, "#uuid-app-state"),
      await text(bobsPage, "#uuid-app-state"),
    ];
    expect(ids[0]).toMatch(UUID_V4);
    expect(ids[1]).toMatch(UUID_V4);
    expect(ids[0]).not.toBe(ids[1]);
    await alicesPage.close();
  });

  test("preferences live under their own key: theme, filter and pins survive a reload", async () => {
    const page = await open(alice);
    await press(page, "Dark");
    await press(page, "Pin auth");
    await press(page, "Pin search");
    await press(page, "Pin checkout");
    await press(page, "Unpin auth", "#pinned");
    await page.getByLabel("Filter").fill("ch");
    await press(page, "Apply");

    await page.reload();
    expect(await page.locator("html").getAttribute("data-theme")).toBe("dark");
    expect(await page.evaluate<string>("getComputedStyle(document.body).backgroundColor")).toBe(
      "rgb(13, 17, 23)",
    );
    expect(await page.getByLabel("Filter").inputValue()).toBe("ch");
    expect(await page.locator("#pinned li span").allTextContents()).toEqual(["search", "checkout"]);
    expect(await page.locator("#items li span").allTextContents()).toEqual([
      "cache",
      "checkout",
      "search",
    ]);
    expect(await text(page, "#count")).toBe("4");

    const prefsId = await text(page, "#uuid-prefs");
    expect(prefsId).toMatch(UUID_V4);
    expect(prefsId).not.toBe(await text(page, "#uuid-app-state"));
    expect(SIGNED.exec((await cookieValue(alice, "prefs")) ?? "")?.[1]).toBe(prefsId);
    expect(readdirSync(sessions)).toContain(prefsId);
    await page.close();
  });

  test("clearing deletes the state file and the cookie; the next action gets a new UUID", async () => {
    const page = await open(alice);
    const oldId = await text(page, "#uuid-app-state");
    const prefsId = await text(page, "#uuid-prefs");
    expect(readdirSync(sessions)).toContain(oldId);

    await press(page, "Clear cookie and state file");
    expect(await text(page, "#count")).toBe("0");
    expect(readdirSync(sessions)).not.toContain(oldId);
    expect(await cookieValue(alice, "app-state")).toBeUndefined();
    expect(await text(page, "#uuid-app-state")).toMatch(/^none yet/);
    expect(await text(page, "#cookie-app-state")).toBe("expired by the response to POST /clear");

    await press(page, "Increment");
    const newId = await text(page, "#uuid-app-state");
    expect(newId).toMatch(UUID_V4);
    expect(newId).not.toBe(oldId);
    expect(await text(page, "#count")).toBe("1");
    expect(await text(page, "#cookie-app-state")).toBe("issued by the response to POST /increment");
    // The other key is untouched.
    expect(await text(page, "#uuid-prefs")).toBe(prefsId);
    expect(await page.locator("html").getAttribute("data-theme")).toBe("dark");
    await page.close();
  });

  test("a tampered cookie loads fresh state with status 200", async () => {
    const cookie = (await alice.cookies()).find((candidate) => candidate.name === "app-state");
    if (!cookie) throw new Error("alice has no app-state cookie");
    const value = decodeURIComponent(cookie.value);
    const at = value.length - 10;
    const flipped = value[at] === "A" ? "B" : "A";
    const tampered = value.slice(0, at) + flipped + value.slice(at + 1);
    const stateFile = SIGNED.exec(value)?.[1] ?? "";
    await alice.addCookies([{ ...cookie, value: encodeURIComponent(tampered) }]);

    const page = await open(alice);
    expect(await text(page, "#count")).toBe("0");
    expect(await text(page, "#cookie-app-state")).toMatch(/^rejected/);
    // The server told the browser to drop the bad cookie; the real state was not touched.
    expect(await cookieValue(alice, "app-state")).toBeUndefined();
    expect(readdirSync(sessions)).toContain(stateFile);
    await page.close();
  });

  test("screenshots of the dashboard, light and dark", async () => {
    const context = await newContext();
    others.push(context);
    const page = await open(context);
    for (const name of ["Increment", "Increment", "Increment", "Decrement", "Increment"]) {
      await press(page, name);
    }
    for (const name of ["Increment", "Increment", "Decrement", "Increment", "Increment"]) {
      await press(page, name);
    }
    await press(page, "Pin payments");
    await press(page, "Pin search");

    mkdirSync(OUTPUT, { recursive: true });
    const shots: string[] = [];
    for (const theme of ["Light", "Dark"]) {
      if (theme === "Dark") await press(page, "Dark");
      const file = join(OUTPUT, `demo-${theme.toLowerCase()}.png`);
      await page.screenshot({ path: file, fullPage: true });
      shots.push(file);
    }
    expect(await page.locator("html").getAttribute("data-theme")).toBe("dark");
    // Opt-in: the committed copies would otherwise change on every run (fresh UUIDs and times).
    if (process.env.UPDATE_SCREENSHOTS) {
      mkdirSync(join(ROOT, "docs"), { recursive: true });
      for (const file of shots) copyFileSync(file, join(ROOT, "docs", basename(file)));
    }
  });
});

describe.skipIf(!haveChromium)("signed in on two profiles", () => {
  const LAPTOP = "Mozilla/5.0 (X11; Linux x86_64) demo-laptop";
  const PHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) demo-phone";
  let data: ReturnType<typeof tempDir>;
  /** Two processes on one data directory: the laptop uses the first, the phone the second. */
  const demos: Demo[] = [];
  let browser: Browser;
  let laptop: BrowserContext;
  let phone: BrowserContext;

  async function profile(userAgent: string): Promise<BrowserContext> {
    const context = await browser.newContext({ userAgent, viewport: { width: 1280, height: 800 } });
    context.setDefaultTimeout(ACTION_TIMEOUT);
    context.setDefaultNavigationTimeout(ACTION_TIMEOUT);
    return context;
  }

  async function open(context: BrowserContext, demo: Demo): Promise<Page> {
    const page = await context.newPage();
    const response = await page.goto(demo.url);
    expect(response?.status()).toBe(200);
    return page;
  }

  async function reload(page: Page): Promise<void> {
    const response = await page.reload();
    expect(response?.status()).toBe(200);
  }

  const theme = (page: Page) => page.locator("html").getAttribute("data-theme");
  const pinned = (page: Page) => page.locator("#pinned li span").allTextContents();

  beforeAll(async () => {
    data = tempDir();
    const results = await Promise.allSettled([
      startDemo(data.dir),
      startDemo(data.dir),
      launchChromium(START_TIMEOUT),
    ]);
    for (const result of results.slice(0, 2)) {
      if (result.status === "fulfilled") demos.push(result.value as Demo);
    }
    if (results[2]?.status === "fulfilled") browser = results[2].value as Browser;
    for (const result of results) if (result.status === "rejected") throw result.reason;
    laptop = await profile(LAPTOP);
    phone = await profile(PHONE);
  }, 2 * START_TIMEOUT);

  afterAll(async () => {
    await browser?.close();
    await Promise.all(demos.map((demo) => stopDemo(demo)));
    data?.remove();
  });

  test("the user's preferences follow; signing out the others ends the phone's session", async () => {
    const [first, second] = demos as [Demo, Demo];
    const sessions = join(data.dir, "sessions");

    // 1. The laptop, anonymous: its preferences are the browser's, then merged at sign-in.
    const onLaptop = await open(laptop, first);
    for (let i = 0; i < 2; i++) await press(onLaptop, "Increment");
    await press(onLaptop, "Dark");
    await press(onLaptop, "Pin auth");
    expect(await text(onLaptop, "#scope-prefs")).toBe("this browser's");
    expect(await cookieValue(laptop, "prefs")).toMatch(SIGNED);
    await press(onLaptop, "Sign in as demo");
    expect(await text(onLaptop, "#signed-in")).toMatch(/^Signed in as demo/);
    expect(await text(onLaptop, "#cookie-account")).toBe("issued by the response to POST /signin");
    expect(await theme(onLaptop)).toBe("dark");
    expect(await pinned(onLaptop)).toEqual(["auth"]);
    expect(await cookieValue(laptop, "prefs")).toBeUndefined();
    expect(await text(onLaptop, "#scope-prefs")).toBe("the signed-in user's, on every browser");
    // The merge ran in that page's request, and stored the user's state after it was rendered.
    await reload(onLaptop);
    const prefsId = await text(onLaptop, "#uuid-prefs");
    expect(prefsId).toMatch(UUID_V4);
    expect(readdirSync(sessions)).toContain(prefsId);
    expect(await text(onLaptop, "#count")).toBe("2");

    // 2. The phone, on the other process: anonymous and light, then the user's at sign-in.
    const onPhone = await open(phone, second);
    await press(onPhone, "Increment");
    expect(await theme(onPhone)).toBe("light");
    expect(await onPhone.locator("#pinned").count()).toBe(0);
    await press(onPhone, "Sign in as demo");
    expect(await theme(onPhone)).toBe("dark");
    expect(await pinned(onPhone)).toEqual(["auth"]);
    expect(await text(onPhone, "#uuid-prefs")).toBe(prefsId);
    await press(onPhone, "Pin search");
    expect(await pinned(onPhone)).toEqual(["auth", "search"]);
    await reload(onLaptop);
    expect(await pinned(onLaptop)).toEqual(["auth", "search"]);

    // 3. The laptop lists both browsers, itself as the current one.
    const listed = onLaptop.locator("#sessions li");
    expect(await listed.count()).toBe(2);
    expect(await onLaptop.locator("#sessions li[data-current]").count()).toBe(1);
    expect(await text(onLaptop, "#sessions li[data-current] .device")).toBe(LAPTOP);
    expect((await listed.locator(".device").allTextContents()).sort()).toEqual(
      [LAPTOP, PHONE].sort(),
    );

    // 4. Sign out everywhere else: the phone's next request finds its states gone.
    await press(onLaptop, "Sign out other sessions");
    expect(await text(onLaptop, "#cookie-account")).toBe("restored sent by the browser, verified");
    expect(await listed.count()).toBe(1);
    expect(await onLaptop.locator("#sessions li[data-current]").count()).toBe(1);
    await reload(onPhone);
    expect(await onPhone.locator("#signin").count()).toBe(1);
    expect(await cookieValue(phone, "account")).toBeUndefined();
    expect(await text(onPhone, "#cookie-account")).toMatch(/^rejected/);
    expect(await theme(onPhone)).toBe("light");
    expect(await onPhone.locator("#pinned").count()).toBe(0);
    expect(await text(onPhone, "#scope-prefs")).toBe("this browser's");

    // 5. The counter is per browser: the laptop's is kept, the phone's ended with its session.
    expect(await text(onPhone, "#count")).toBe("0");
    await reload(onLaptop);
    expect(await text(onLaptop, "#count")).toBe("2");
    expect(await theme(onLaptop)).toBe("dark");
    expect(await listed.count()).toBe(1);
  });
});
