// Run by Node >= 22 (Miniflare 4 and Wrangler 4 need it) for test/workers.test.ts, which runs
// on whatever Node vitest has. One JSON command a line on stdin, one JSON answer a line on
// stdout:
//   {"id":1,"op":"config","path":".../wrangler.toml"}  → the config's Miniflare worker options
//   {"id":2,"op":"start","name":"a","options":{…}}      → the URL of each worker, once ready
//   {"id":3,"op":"stop","name":"a"}                      → {}
// Every Miniflare still running is disposed when stdin closes.
import { createInterface } from "node:readline";
import { Miniflare, type MiniflareOptions } from "miniflare";

const running = new Map<string, Miniflare>();

async function answer(command: {
  op: string;
  name?: string;
  path?: string;
  options?: MiniflareOptions & { workers: { name: string }[] };
}): Promise<unknown> {
  if (command.op === "config") {
    const { unstable_getMiniflareWorkerOptions } = await import("wrangler");
    return unstable_getMiniflareWorkerOptions(command.path as string).workerOptions;
  }
  const name = command.name as string;
  if (command.op === "stop") {
    await running.get(name)?.dispose();
    running.delete(name);
    return {};
  }
  const options = command.options as MiniflareOptions & { workers: { name: string }[] };
  const mf = new Miniflare(options);
  try {
    await mf.ready;
  } catch (error) {
    await mf.dispose().catch(() => {});
    throw error;
  }
  running.set(name, mf);
  const urls: Record<string, string> = {};
  for (const worker of options.workers) {
    urls[worker.name] = String(await mf.unsafeGetDirectURL(worker.name));
  }
  return urls;
}

const lines = createInterface({ input: process.stdin });
lines.on("line", (line) => {
  const command = JSON.parse(line);
  answer(command).then(
    (result) => console.log(JSON.stringify({ id: command.id, result })),
    (error: unknown) =>
      console.log(JSON.stringify({ id: command.id, error: String((error as Error)?.message) })),
  );
});
lines.on("close", async () => {
  await Promise.allSettled([...running.values()].map((mf) => mf.dispose()));
  process.exit(0);
});
console.log(JSON.stringify({ id: 0, result: "listening" }));
