import { readFileSync } from "node:fs";
import { basename, isAbsolute, relative } from "node:path";
import { type Context, Hono } from "hono";
import { getCookie } from "hono/cookie";
import { csrf } from "hono/csrf";
import { html } from "hono/html";
import { FileStore, isSessionId, persistSession, type Store } from "../src/index.js";
import { Account, DEMO_USER } from "./account.js";
import { stateFacts } from "./debug.js";
import { cookieFlash, type FlashEnv } from "./flash.js";
import { FILTER_MAX_LENGTH, ITEMS, Prefs, THEMES, type Theme } from "./prefs.js";
import { AppState } from "./state.js";
import { Page } from "./views.js";

export interface DemoOptions {
  secret: string;
  store: Store;
}

const stylesheet = readFileSync(new URL("./style.css", import.meta.url), "utf8");

/** The dashboard: server-rendered, every action a plain HTML form (no client JavaScript). */
export function createApp({ secret, store }: DemoOptions): Hono<FlashEnv> {
  const app = new Hono<FlashEnv>();

  // Ahead of the session middleware, which then never runs for it: a stylesheet request
  // neither loads state nor extends its expiry.
  app.get("/style.css", (c) =>
    c.body(stylesheet, 200, {
      "Content-Type": "text/css; charset=utf-8",
      "Cache-Control": "no-cache",
    }),
  );

  // Hono's own check, ahead of everything: a form posted from another site is refused before
  // the flash cookie or any state is touched. (persistSession refuses it too, by default.)
  app.use(csrf());
  app.use(cookieFlash());
  // Whoever the browser's Account says is signed in: their Prefs follow them to every device,
  // and their browsers are indexed, to be listed and ended.
  const persisted = persistSession({
    secret,
    store,
    user: () => new Account().user,
    device: (c) => c.req.header("User-Agent"),
  });
  app.use(persisted);
  // Every store but DurableObjectStore keeps the sessions index; without it, no list.
  const listsSessions = typeof store.indexed === "function";

  app.get("/", async (c) => {
    const counter = new AppState();
    const prefs = new Prefs();
    const account = new Account();
    const { user } = account;
    const sessions =
      user !== undefined && listsSessions ? await persisted.sessions(user) : undefined;
    const cookies = getCookie(c);
    const flash = c.get("flash");
    const page = (
      <Page
        counter={counter}
        prefs={prefs}
        user={user}
        sessions={sessions}
        facts={[counter, prefs, account].map((state) => stateFacts(state, store, cookies, flash))}
        store={
          store instanceof FileStore ? `FileStore ${shown(store.dir)}` : store.constructor.name
        }
        now={new Date()}
      />
    );
    // The page is this browser's state: no shared cache may keep it, cookie or not.
    c.header("Cache-Control", "private, no-store");
    return c.html(html`<!doctype html>${page}`);
  });

  app.post("/signin", async (c) => {
    const account = new Account();
    // A new id for the state that carries the sign-in: a cookie planted before (session
    // fixation) signs nobody in.
    await account.regenerate();
    account.user = DEMO_USER;
    return c.redirect("/", 303);
  });

  app.post("/signout", async (c) => {
    await new Account().clearCookieState();
    return c.redirect("/", 303);
  });

  app.post("/sessions/end-others", async (c) => {
    const { user } = new Account();
    if (user !== undefined && listsSessions) {
      await persisted.endSessions(user, { except: "current" });
    }
    return c.redirect("/", 303);
  });

  app.post("/sessions/end", async (c) => {
    const { user } = new Account();
    const browser = await field(c, "browser");
    // Only one of this user's own browsers: anything else in the form is ignored.
    if (user !== undefined && listsSessions && isSessionId(browser)) {
      const known = await persisted.sessions(user);
      if (known.some((session) => session.browser === browser)) {
        await persisted.endSessions(user, { browsers: [browser] });
      }
    }
    return c.redirect("/", 303);
  });

  app.post("/increment", (c) => {
    new AppState().increment();
    return c.redirect("/", 303);
  });

  app.post("/decrement", (c) => {
    new AppState().decrement();
    return c.redirect("/", 303);
  });

  app.post("/clear", async (c) => {
    await new AppState().clearCookieState();
    return c.redirect("/", 303);
  });

  app.post("/prefs/theme", async (c) => {
    const theme = await field(c, "theme");
    if (!THEMES.includes(theme as Theme))
      return c.text(`theme must be ${THEMES.join(" or ")}`, 400);
    new Prefs().theme = theme as Theme;
    return backToPrefs(c);
  });

  app.post("/prefs/filter", async (c) => {
    new Prefs().filter = (await field(c, "filter")).trim().slice(0, FILTER_MAX_LENGTH);
    return backToPrefs(c);
  });

  app.post("/prefs/pin", async (c) => {
    const item = await field(c, "item");
    if (!ITEMS.includes(item)) return c.text("no such item", 400);
    new Prefs().pinned.add(item);
    return backToPrefs(c);
  });

  app.post("/prefs/unpin", async (c) => {
    const item = await field(c, "item");
    const prefs = new Prefs();
    // A fresh state is stored at its first change, even one that changes nothing.
    if (prefs.pinned.has(item)) prefs.pinned.delete(item);
    return backToPrefs(c);
  });

  app.post("/prefs/clear", async (c) => {
    await new Prefs().clearCookieState();
    return backToPrefs(c);
  });

  return app;
}

/** A text field of the posted form; empty when absent or a file. */
async function field(c: Context, name: string): Promise<string> {
  const value = (await c.req.parseBody())[name];
  return typeof value === "string" ? value : "";
}

// Back to the panel the form was in, not the top of the page.
function backToPrefs(c: Context): Response {
  return c.redirect("/#preferences", 303);
}

/** The store directory as the page shows it: relative to the working directory, never absolute. */
function shown(dir: string): string {
  const path = relative(process.cwd(), dir);
  return path.startsWith("..") || isAbsolute(path) ? `…/${basename(dir)}` : path;
}
