// hono-sessions with its memory store.
import { serve } from "@hono/node-server";
import { Hono } from "hono";
import { MemoryStore, type Session, sessionMiddleware } from "hono-sessions";
import { listening, page, SECRET } from "./page.js";

const app = new Hono<{
  Variables: { session: Session<{ count: number }>; session_key_rotation: boolean };
}>();
app.use(
  "*",
  sessionMiddleware({
    store: new MemoryStore(),
    encryptionKey: SECRET,
    expireAfterSeconds: 3600,
    cookieOptions: { sameSite: "Lax", path: "/", httpOnly: true },
  }),
);
app.get("/hit", (c) => {
  const session = c.get("session");
  const count = (session.get("count") ?? 0) + 1;
  session.set("count", count);
  return c.html(page(count));
});
app.get("/count", (c) => c.text(String(c.get("session").get("count") ?? 0)));
serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" }, (info) => listening(info.port));
