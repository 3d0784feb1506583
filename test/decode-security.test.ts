// Issue #17, findings 6 and 7: stored text crafted to break the decoder. Whatever a file holds,
// the browser gets a fresh state (200) and the file is quarantined; nothing is polluted.
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { Hono } from "hono";
import { afterEach, beforeEach, expect, test } from "vitest";
import { FileStore, persist, persistSession } from "../src/index.js";
import { Browser, overwrite, readState, SECRET, tempDir } from "./helpers.js";

let dir: string;
let removeDir: () => void;
let logged: string[];
const logger = { warn: (m: string) => logged.push(m), error: (m: string) => logged.push(m) };

beforeEach(() => {
  ({ dir, remove: removeDir } = tempDir());
  logged = [];
});
afterEach(() => removeDir());

class Point {
  constructor(
    public x = 0,
    public y = 0,
  ) {}
  sum(): number {
    return this.x + this.y;
  }
}

@persist("decode-points", { classes: [Point] })
class Board {
  point: Point | undefined;
  grid: unknown;
}

/** A browser whose state was saved once, with the path of its file. */
async function savedBrowser(): Promise<{ browser: Browser; file: string; app: Hono }> {
  const app = new Hono();
  app.use(persistSession({ secret: SECRET, store: new FileStore({ dir }), logger, cacheSize: 0 }));
  app.post("/", (c) => {
    new Board().point = new Point(1, 2);
    return c.text("ok");
  });
  app.get("/", (c) => {
    const { point } = new Board();
    return c.text(point ? `${point.constructor.name} ${point.sum()}` : "fresh");
  });
  const browser = new Browser(app);
  await browser.request("/", { method: "POST" });
  const id = (browser.cookie("decode-points") as string).split(".")[0] as string;
  const browserFile = join(dir, id);
  expect(readState(browserFile)).toContain('"x":1');
  return { browser, file: browserFile, app };
}

function quarantined(): string[] {
  return readdirSync(dir).filter((name) => name.endsWith(".corrupt"));
}

test("an escaped `__proto__` key inside a registered class is quarantined; the class keeps its prototype", async () => {
  const { browser, file } = await savedBrowser();
  // superjson restores a registered class by assigning its fields onto a new instance: an own
  // `__proto__` field would replace the instance's prototype.
  overwrite(
    file,
    `${readState(file)?.replace('"x":1', '"\\u005f_proto__":{"sum":"owned","polluted":1},"x":1')}\n`,
  );
  expect(await browser.text("/")).toBe("fresh");
  expect(quarantined()).toHaveLength(1);
  expect(logged).toEqual([expect.stringMatching(/`__proto__` key/)]);
  expect([typeof Point.prototype.sum, ({} as { polluted?: number }).polluted]).toEqual([
    "function",
    undefined,
  ]);
  expect(await browser.text("/", { method: "POST" })).toBe("ok");
  expect(await browser.text("/")).toBe("Point 3");
});

test.each([
  ["arrays", "[", "]"],
  ["objects", '{"a":', "}"],
  ["arrays, with an escape that turns on the key check", "[", "]", '"\\u0041"'],
])(
  "a stored state nested 200,000 deep (%s) is quarantined, not a 500 on every request",
  async (_, open, close, inner = "1") => {
    const { browser, file } = await savedBrowser();
    const deep = `${open.repeat(200_000)}${inner}${close.repeat(200_000)}`;
    overwrite(file, `${readState(file)?.replace('"grid":null', `"grid":${deep}`)}\n`);
    expect(readState(file)).toContain(deep.slice(0, 100));
    const response = await browser.request("/");
    expect([response.status, await response.text()]).toEqual([200, "fresh"]);
    expect(quarantined()).toHaveLength(1);
    expect(logged).toEqual([
      expect.stringMatching(/^\[hono-persist\] quarantined state "decode-points"/),
    ]);
    // The next request is served normally, from a fresh state.
    expect(await browser.text("/", { method: "POST" })).toBe("ok");
    expect(await browser.text("/")).toBe("Point 3");
  },
);
