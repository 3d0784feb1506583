import { statSync } from "node:fs";
import { join } from "node:path";
import { Hono } from "hono";
import { html } from "hono/html";
import { FileStore, persistInfo, persistSession, type Store } from "../src/index.js";
import { AppState } from "./state.js";

export interface DemoOptions {
  secret: string;
  store: Store;
}

const style = `
  body { font: 16px/1.5 system-ui, sans-serif; max-width: 40rem; margin: 3rem auto; padding: 0 1rem; color: #1f2933; }
  h1 { font-size: 1.4rem; margin-bottom: 0.25rem; }
  .count { font-size: 4rem; font-weight: 700; margin: 1rem 0; font-variant-numeric: tabular-nums; }
  form { display: inline; }
  button { font: inherit; padding: 0.5rem 1rem; margin-right: 0.5rem; border-radius: 6px; border: 1px solid #9aa5b1; background: #fff; cursor: pointer; }
  button.primary { background: #2563eb; border-color: #2563eb; color: #fff; }
  dl { display: grid; grid-template-columns: max-content 1fr; gap: 0.25rem 1rem; font-size: 0.9rem; background: #f5f7fa; padding: 1rem; border-radius: 6px; }
  dt { color: #616e7c; }
  dd { margin: 0; font-family: ui-monospace, monospace; word-break: break-all; }
`;

/** The counter dashboard, server-rendered, with plain HTML forms (no client JavaScript). */
export function createApp({ secret, store }: DemoOptions): Hono {
  const app = new Hono();
  app.use(persistSession({ secret, store }));

  app.get("/", (c) => {
    const state = new AppState();
    const info = persistInfo(state);
    const file =
      store instanceof FileStore && info.stored ? fileFacts(join(store.dir, info.id)) : undefined;
    const last = state.history.at(-1);
    return c.html(
      html`<!doctype html>${(
        <html lang="en">
          <head>
            <meta charset="utf-8" />
            <meta name="viewport" content="width=device-width, initial-scale=1" />
            <title>hono-persist demo</title>
            <style>{style}</style>
          </head>
          <body>
            <h1>hono-persist counter</h1>
            <p>Reload, close the browser, restart the server: the count stays, one per browser.</p>
            <div class="count" id="count">
              {state.count}
            </div>
            <form method="post" action="/increment">
              <button class="primary" type="submit">
                Increment
              </button>
            </form>
            <form method="post" action="/clear">
              <button type="submit">Clear cookie and state file</button>
            </form>
            <h2>Debug</h2>
            <dl id="debug">
              <dt>Key</dt>
              <dd>{info.key}</dd>
              <dt>Cookie</dt>
              <dd>{info.cookieName}</dd>
              <dt>UUID (file name)</dt>
              <dd id="uuid">
                {info.stored ? info.id : "none yet: a state is stored at its first change"}
              </dd>
              <dt>State</dt>
              <dd id="status">
                {info.stored
                  ? info.restored
                    ? "restored from the store"
                    : "stored in this request"
                  : "fresh"}
              </dd>
              <dt>Last increment</dt>
              <dd>{last ? last.toISOString() : "never"}</dd>
              {file && (
                <>
                  <dt>File</dt>
                  <dd>
                    {file.size} bytes, expires {file.expires}
                  </dd>
                </>
              )}
            </dl>
          </body>
        </html>
      )}`,
    );
  });

  app.post("/increment", (c) => {
    new AppState().increment();
    return c.redirect("/", 303);
  });

  app.post("/clear", async (c) => {
    await new AppState().clearCookieState();
    return c.redirect("/", 303);
  });

  return app;
}

function fileFacts(file: string): { size: number; expires: string } | undefined {
  try {
    const stat = statSync(file);
    // FileStore keeps each file's expiry deadline as its modification time.
    return { size: stat.size, expires: stat.mtime.toISOString() };
  } catch {
    return undefined;
  }
}
