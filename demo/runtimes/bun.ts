// Bun, from the repository root, after `npm run build` (app.ts imports the built package):
//   SESSION_SECRET=<32+ random characters> bun demo/runtimes/bun.ts
import { app } from "./app.ts";

const server = Bun.serve({
  fetch: app.fetch,
  hostname: "127.0.0.1",
  port: Number(process.env.PORT ?? 3000),
});
console.log(`listening on http://127.0.0.1:${server.port}/`);
