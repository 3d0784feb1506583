import { Hono } from "hono";
import { describe, expect, test } from "vitest";
import { MemoryStore, persistSession, type Store } from "../src/index.js";
import { gate } from "./gates.js";
import { Browser, SECRET } from "./helpers.js";

/** A nested class registered with `classes`. */
export interface ItemClass {
  new (): { name: string };
}
/** `class AppState` as first written. */
export interface FirstState {
  count: number;
  items: { name: string }[];
  add(name: string): void;
}
/** `class AppState` after an edit: a field with an initializer, and a method, added. */
export interface EditedState extends FirstState {
  theme: string;
  summary(): string;
}
export interface Module<State> {
  AppState: new () => State;
  Item: ItemClass;
}

/**
 * What each flavour's test file decorates: each call runs the class's module again, as a dev
 * server does after an edit, making new class objects.
 */
export interface Versions {
  /** `@persist(key, { classes: [Item] }) class AppState` with `count`, `items`, `add()`. */
  first(key: string): Module<FirstState>;
  /** The same, edited: `theme = "dark"` and `summary()` added, `Item` given `shout()`. */
  edited(key: string): Module<EditedState>;
  /** `@persist(key) class Other {}`. */
  other(key: string): unknown;
}

const POST = { method: "POST" } as const;

function appOver(store: Store): Hono {
  const app = new Hono();
  app.use(persistSession({ secret: SECRET, store }));
  app.onError((error, c) => c.text(`error: ${error.message}`, 500));
  return app;
}

function sameBrowser(from: Browser, app: Hono): Browser {
  const browser = new Browser(app);
  for (const [name, value] of from.cookies) browser.cookies.set(name, value);
  return browser;
}

/** Status and body: a failure shows its message, not a JSON parse error. */
async function reply(response: Promise<Response>): Promise<[number, unknown]> {
  const answer = await response;
  const text = await answer.text();
  return [answer.status, answer.status === 200 ? JSON.parse(text) : text];
}

function describeState({ AppState, Item }: Module<EditedState>) {
  const state = new AppState();
  return {
    edited: state instanceof AppState,
    count: state.count,
    theme: state.theme,
    summary: state.summary(),
    items: state.items.map((item) => item instanceof Item && item.name),
  };
}

/** The re-decoration rule, for one decorator flavour. */
export function redecorateSuite(flavour: string, versions: Versions): void {
  describe(`@persist as a ${flavour} decorator, run again (a dev server reloading the module)`, () => {
    test("a class of the same name takes the key over: the stored state is restored into it", async () => {
      const store = new MemoryStore();
      const first = versions.first(`${flavour}-takeover`);
      // One app whose routes go to the module's latest version (the middleware's memory of
      // Cookie headers and its cached instances outlive the edit), and one made after the edit
      // over the same store (a dev server that re-runs the app's module too).
      let current = (): unknown => {
        const state = new first.AppState();
        state.add("apple");
        return state.count;
      };
      const app = appOver(store);
      app.all("/", (c) => c.json(current()));
      const browser = new Browser(app);
      expect(await reply(browser.request("/", POST))).toEqual([200, 1]);
      // With its cookie: the middleware remembers this Cookie header, and the class found in it.
      expect(await reply(browser.request("/", POST))).toEqual([200, 2]);

      const edited = versions.edited(`${flavour}-takeover`);
      current = () => describeState(edited);
      const rerun = appOver(store);
      rerun.get("/", (c) => c.json(describeState(edited)));
      const expected = {
        edited: true,
        count: 2,
        theme: "dark",
        summary: "2 items, the first APPLE",
        items: ["apple", "apple"],
      };
      for (const client of [browser, sameBrowser(browser, rerun), browser]) {
        expect(await reply(client.request("/"))).toEqual([200, expected]);
      }
    });

    test("another class claiming the key is still refused after a takeover", () => {
      versions.first(`${flavour}-refused`);
      versions.edited(`${flavour}-refused`);
      expect(() => versions.other(`${flavour}-refused`)).toThrow(
        new TypeError(
          `[hono-persist] @persist key "${flavour}-refused" is already used by class \`AppState\``,
        ),
      );
    });

    test("a request holding the old class's instance during the takeover saves it", async () => {
      const store = new MemoryStore();
      const first = versions.first(`${flavour}-held`);
      const hold = gate();
      const app = appOver(store);
      app.post("/", (c) => {
        const state = new first.AppState();
        state.add("apple");
        return c.json(state.count);
      });
      app.post("/held", async (c) => {
        const state = new first.AppState();
        hold.reached();
        await hold.opened;
        state.add("pear");
        return c.json(state.count);
      });
      let edited: Module<EditedState> | undefined;
      app.get("/", (c) => c.json(edited && describeState(edited)));
      const browser = new Browser(app);
      expect(await reply(browser.request("/", POST))).toEqual([200, 1]);
      const held = browser.request("/held", POST);
      await hold.arrived;
      edited = versions.edited(`${flavour}-held`);
      hold.open();
      expect(await reply(held)).toEqual([200, 2]);
      expect(await reply(browser.request("/"))).toEqual([
        200,
        {
          edited: true,
          count: 2,
          theme: "dark",
          summary: "2 items, the first APPLE",
          items: ["apple", "pear"],
        },
      ]);
    });

    test("a change made to the old class's instance after its request is not lost in a takeover", async () => {
      const store = new MemoryStore();
      const first = versions.first(`${flavour}-late`);
      let kept: FirstState | undefined;
      let edited: Module<EditedState> | undefined;
      const app = appOver(store);
      app.post("/", (c) => {
        kept = new first.AppState();
        kept.add("apple");
        return c.json(kept.count);
      });
      // Reads only what both versions have.
      app.get("/count", (c) => c.json(edited && new edited.AppState().count));
      app.get("/", (c) => c.json(edited && describeState(edited)));
      const browser = new Browser(app);
      expect(await reply(browser.request("/", POST))).toEqual([200, 1]);
      // Outside any request (a timer, a promise settling late): written in the background, on
      // the next turn of the event loop, unless a request takes the state first.
      kept?.add("late");
      edited = versions.edited(`${flavour}-late`);
      expect(await reply(browser.request("/count"))).toEqual([200, 2]);
      expect(await reply(browser.request("/"))).toEqual([
        200,
        {
          edited: true,
          count: 2,
          theme: "dark",
          summary: "2 items, the first APPLE",
          items: ["apple", "late"],
        },
      ]);
    });
  });
}
