// Deno 2, from the repository root, after `npm run build` (app.ts imports the built package):
//   SESSION_SECRET=<32+ random characters> deno run --allow-net=127.0.0.1 --allow-env \
//   --allow-sys=hostname,uid,gid --allow-run --allow-read=.sessions --allow-write=.sessions \
//   demo/runtimes/deno.ts
// (--allow-run lets FileStore see that a crashed process's lock is free; it warns without it)
import { app } from "./app.ts";

Deno.serve(
  {
    hostname: "127.0.0.1",
    port: Number(Deno.env.get("PORT") ?? 3000),
    onListen: ({ port }) => console.log(`listening on http://127.0.0.1:${port}/`),
  },
  app.fetch,
);
