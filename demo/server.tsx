import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { serve } from "@hono/node-server";
import { FileStore, MemoryStore, type Store } from "../src/index.js";
import { PostgresStore } from "../src/stores/postgres.js";
import { RedisStore } from "../src/stores/redis.js";
import { createApp } from "./app.js";

const dataDir = resolve(process.env.DATA_DIR ?? join(import.meta.dirname, ".data"));
mkdirSync(dataDir, { recursive: true, mode: 0o700 });

function developmentSecret(): string {
  const file = join(dataDir, "secret");
  try {
    return readFileSync(file, "utf8").trim();
  } catch {
    const secret = randomBytes(32).toString("base64url");
    writeFileSync(file, secret, { mode: 0o600 });
    return secret;
  }
}

let secret = process.env.SESSION_SECRET;
if (!secret) {
  secret = developmentSecret();
  console.warn(
    `SESSION_SECRET is not set: using a development secret kept in ${join(dataDir, "secret")}. Set SESSION_SECRET (32+ characters) in production.`,
  );
}

const kind = process.env.STORE ?? "file";
const stores: Record<string, () => Store> = {
  file: () => new FileStore({ dir: join(dataDir, "sessions") }),
  memory: () => new MemoryStore(),
  redis: () => new RedisStore({ url: process.env.REDIS_URL ?? "redis://127.0.0.1:6379" }),
  postgres: () =>
    new PostgresStore({
      connectionString: process.env.DATABASE_URL ?? "postgres://127.0.0.1:5432/postgres",
    }),
};
const make = stores[kind];
if (!make) {
  console.error(
    `STORE must be one of ${Object.keys(stores).join(", ")}, not ${JSON.stringify(kind)}`,
  );
  process.exit(1);
}
const store = make();
const port = Number(process.env.PORT ?? 3000);

const server = serve(
  { fetch: createApp({ secret, store }).fetch, port, hostname: "127.0.0.1" },
  (info) => {
    console.log(`hono-persist demo on http://127.0.0.1:${info.port}/ (${kind} store)`);
  },
);

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
