// Node 20+, from the repository root, after `npm run build` (app.ts imports the built package):
//   SESSION_SECRET=<32+ random characters> npx tsx demo/runtimes/node.ts
// (tsx lowers the decorator; Node cannot run it as written)
import { serve } from "@hono/node-server";
import { app } from "./app.ts";

serve({ fetch: app.fetch, hostname: "127.0.0.1", port: Number(process.env.PORT ?? 3000) }, (info) =>
  console.log(`listening on http://127.0.0.1:${info.port}/`),
);
