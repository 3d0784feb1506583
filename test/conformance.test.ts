import { readFileSync } from "node:fs";
import { Hono } from "hono";
import { describe, expect, test } from "vitest";
import { MemoryStore, persist, persistInfo, persistSession } from "../src/index.js";
import { type Behaviour, behaviours, type State } from "./conformance/behaviours.js";
import { Browser, SECRET } from "./helpers.js";

type Outcome = { value: unknown } | { throws: string; message: string };

function outcome(run: () => unknown): Outcome {
  try {
    return { value: run() };
  } catch (error) {
    return { throws: (error as Error).name, message: (error as Error).message };
  }
}

/** The classes nested in a behaviour's class (as its static members) are registered with superjson. */
function nestedClasses(Class: State): (new () => unknown)[] {
  return Object.values(Class).filter(
    (value): value is new () => unknown => typeof value === "function",
  );
}

/**
 * Runs `behaviour` on the decorated class in a request, then observes it restored in the next.
 * `stored`: the state is stored before the behaviour runs (else it starts fresh in the request).
 */
async function runPersisted(behaviour: Behaviour, key: string, stored: boolean) {
  const Plain = behaviour.make();
  const Decorated: State = persist(key, { classes: nestedClasses(Plain) })(Plain);
  const app = new Hono();
  // cacheSize 0: the second request restores from the store, never reuses the instance.
  app.use(persistSession({ secret: SECRET, store: new MemoryStore(), cacheSize: 0 }));
  let results: { act: Outcome; observed: Outcome; restored: boolean } | undefined;
  app.post("/store", (c) => {
    // Stored before the behaviour runs, so that a change the Proxy misses is not saved by
    // the first write and shows as a difference after the restore.
    const state = new Decorated();
    const [first] = Object.keys(state);
    if (first) Reflect.set(state, first, state[first]);
    return c.text("stored");
  });
  app.post("/", (c) => {
    const state = new Decorated();
    const act = outcome(() => behaviour.act?.(state, Decorated));
    const observed = outcome(() => behaviour.observe(state, Decorated));
    results = { act, observed, restored: persistInfo(state).restored };
    return c.text("ok");
  });
  app.get("/", (c) => {
    const state = new Decorated();
    results = {
      act: { value: undefined },
      observed: outcome(() => behaviour.observe(state, Decorated)),
      restored: persistInfo(state).restored,
    };
    return c.text("ok");
  });
  const browser = new Browser(app);
  if (stored) {
    expect(await browser.text("/store", { method: "POST" })).toBe("stored");
    expect(browser.cookies.has(key)).toBe(true);
  }
  expect((await browser.request("/", { method: "POST" })).status).toBe(200);
  const first = results;
  expect((await browser.request("/")).status).toBe(200);
  return { first, second: results };
}

describe.each(behaviours.map((behaviour, index) => [behaviour.name, behaviour, index] as const))(
  "%s",
  (_, behaviour, index) => {
    test("behaves like the plain class, in the request and after a restore", async () => {
      const Plain = behaviour.make();
      const plain = new Plain();
      const act = outcome(() => behaviour.act?.(plain, Plain));
      const observed = outcome(() => behaviour.observe(plain, Plain));

      const fresh = await runPersisted(behaviour, `conformance-fresh-${index}`, false);
      expect(fresh.first?.act).toEqual(act);
      expect(fresh.first?.observed).toEqual(behaviour.limitation?.persisted ?? observed);

      const { first, second } = await runPersisted(behaviour, `conformance-${index}`, true);
      expect(first?.act).toEqual(act);
      expect(first?.observed).toEqual(behaviour.limitation?.persisted ?? observed);
      expect(second?.restored).toBe(true);
      expect(second?.observed).toEqual(behaviour.limitation?.restored ?? observed);
    });
  },
);

describe("docs/limitations.md", () => {
  const section = readFileSync(new URL("../docs/limitations.md", import.meta.url), "utf8");

  test.each(
    behaviours
      .filter((behaviour) => behaviour.limitation)
      .map((behaviour) => [behaviour.name, behaviour.limitation?.readme ?? ""]),
  )("names the limitation of %s", (_, words) => {
    expect(section).toContain(words);
  });
});
