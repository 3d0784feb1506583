import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import type { AddressInfo } from "node:net";
import { createInterface } from "node:readline";
import { serve } from "@hono/node-server";
import { Hono } from "hono";
import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest";
import { FileStore, persist, persistSession } from "../src/index.js";
import { Browser, SECRET, tempDir } from "./helpers.js";

@persist("e2e-counter")
class Counter {
  count = 0;
}

describe("a real HTTP server on loopback", () => {
  let url: string;
  let server: ReturnType<typeof serve>;
  let removeDir: () => void;

  beforeAll(async () => {
    const temp = tempDir();
    removeDir = temp.remove;
    const app = new Hono();
    app.use(
      persistSession({ secret: SECRET, store: new FileStore({ dir: temp.dir, sweepInterval: 0 }) }),
    );
    app.get("/", (c) => c.text(String(new Counter().count)));
    app.post("/increment", (c) => {
      new Counter().count++;
      return c.text("ok");
    });
    server = serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" });
    await once(server, "listening");
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.close();
    removeDir();
  });

  test("reloads keep the state, and the cookie is HttpOnly over the wire", async () => {
    const browser = new Browser(url);
    const first = await browser.request("/increment", { method: "POST" });
    expect(first.headers.get("set-cookie")).toMatch(
      /^e2e-counter=[0-9a-f-]{36}\..+; HttpOnly; SameSite=Lax$/,
    );
    await browser.request("/increment", { method: "POST" });
    expect(await browser.text("/")).toBe("2");
  });

  test("200 concurrent increments of one browser over HTTP end at 200", async () => {
    const browser = new Browser(url);
    await browser.request("/increment", { method: "POST" });
    const statuses = await Promise.all(
      Array.from(
        { length: 199 },
        async () => (await browser.request("/increment", { method: "POST" })).status,
      ),
    );
    expect(statuses.filter((status) => status !== 200)).toEqual([]);
    expect(await browser.text("/")).toBe("200");
  });
});

describe("the demo server, restarted", () => {
  let child: ChildProcess | undefined;
  let removeDir: () => void;
  let dataDir: string;

  beforeAll(() => {
    ({ dir: dataDir, remove: removeDir } = tempDir());
  });
  afterEach(() => {
    child?.kill("SIGKILL");
  });
  afterAll(() => removeDir());

  /** Starts the demo on a free loopback port and resolves with its URL once it listens. */
  async function start(): Promise<string> {
    child = spawn(process.execPath, ["--import", "tsx", "demo/server.tsx"], {
      env: { ...process.env, PORT: "0", DATA_DIR: dataDir, SESSION_SECRET: SECRET },
      stdio: ["ignore", "pipe", "inherit"],
    });
    const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
    for await (const line of lines) {
      const match = /on (http:\/\/127\.0\.0\.1:\d+)\//.exec(line);
      if (match?.[1]) return match[1];
    }
    throw new Error("the demo exited before it listened");
  }

  test("state survives a restart of the server process, even after SIGKILL", async () => {
    const url = await start();
    // What a browser sends with a form: the demo runs Hono's csrf(), which refuses a form post
    // without `Origin` or `Sec-Fetch-Site`.
    const post = { method: "POST", headers: { Origin: url } };
    const browser = new Browser(url);
    for (let i = 0; i < 3; i++) {
      expect((await browser.request("/increment", post)).status).toBe(303);
    }
    child?.kill("SIGKILL");
    await once(child as ChildProcess, "exit");

    const restarted = await start();
    const again = new Browser(restarted);
    for (const [name, value] of browser.cookies) again.cookies.set(name, value);
    const page = await again.text("/");
    expect(page).toMatch(/<div class="count" id="count">3<\/div>/);
    expect(page).toContain("restored from the store");

    expect(
      (await again.request("/clear", { method: "POST", headers: { Origin: restarted } })).status,
    ).toBe(303);
    expect(await again.text("/")).toMatch(/<div class="count" id="count">0<\/div>/);
  });
});
