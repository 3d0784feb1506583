// express-session, the common Node choice: with session-file-store in DIR, or with
// connect-pg-simple (its `session` table, created if missing) when PG_URL is set.
import connectPgSimple from "connect-pg-simple";
import express from "express";
import session from "express-session";
import sessionFileStore from "session-file-store";
import { listening, page, SECRET } from "./page.js";

function store(): session.Store {
  if (process.env.PG_URL) {
    const PgStore = connectPgSimple(session);
    return new PgStore({ conString: process.env.PG_URL, createTableIfMissing: true });
  }
  const FileStore = sessionFileStore(session);
  return new FileStore({ path: process.env.DIR as string, logFn: () => {} });
}

const app = express();
app.use(session({ store: store(), secret: SECRET, resave: false, saveUninitialized: false }));
app.get("/hit", (req, res) => {
  const data = req.session as unknown as { count?: number };
  data.count = (data.count ?? 0) + 1;
  res.type("html").send(page(data.count));
});
app.get("/count", (req, res) => {
  res.send(String((req.session as unknown as { count?: number }).count ?? 0));
});
const server = app.listen(0, "127.0.0.1", () => {
  const address = server.address();
  if (address && typeof address === "object") listening(address.port);
});
