// Ad-hoc: W1/W2 of hono-persist MemoryStore, this build against BASELINE, alternating.
import { join, resolve } from "node:path";
import { pinRunner } from "./cpus.js";
import { cpuMicros, load, mapLimited, newSession, startServer } from "./http.js";

const baseline = resolve(process.env.BASELINE as string);
const rounds = Number(process.env.ROUNDS ?? 4);
pinRunner(true);
for (let round = 0; round < rounds; round++) {
  for (const [name, env] of [
    ["current", { STORE: "memory" }],
    ["baseline", { STORE: "memory", DIST: join(baseline, "index.js") }],
  ] as const) {
    const server = await startServer("hono-persist.ts", env as Record<string, string>);
    const one = await newSession(server.url);
    await load(server.url, [one], 10, 1);
    let cpu = cpuMicros(server.child.pid as number);
    const w1 = await load(server.url, [one], 10, 3);
    const w1cpu = (cpuMicros(server.child.pid as number) - cpu) / w1.ok;
    const browsers = await mapLimited(Array.from({ length: 1000 }), () => newSession(server.url));
    cpu = cpuMicros(server.child.pid as number);
    const w2 = await load(server.url, browsers, 10, 3);
    const w2cpu = (cpuMicros(server.child.pid as number) - cpu) / w2.ok;
    console.log(
      round,
      name,
      "w1",
      Math.round(w1.rps),
      Math.round(w1cpu),
      "µs",
      "w2",
      Math.round(w2.rps),
      Math.round(w2cpu),
      "µs",
    );
    server.child.kill();
  }
}
process.exit(0);
