/// <reference types="@cloudflare/workers-types" />
// DurableObjectStore behind HTTP, for the store contract and the lock tests run from Node.
import { env } from "cloudflare:workers";
import { PersistError } from "../../src/errors.js";
import { DurableObjectStore, type PersistDurableObject } from "../../src/stores/durable-object.js";

export { PersistDurableObject } from "../../src/stores/durable-object.js";

const namespace = (env as { PERSIST?: DurableObjectNamespace<PersistDurableObject> })
  .PERSIST as DurableObjectNamespace<PersistDurableObject>;
const store = new DurableObjectStore(namespace);

interface Command {
  op: "get" | "set" | "delete" | "locks" | "lease" | "index" | "indexed" | "unindex";
  id: string;
  data: string;
  ttl: number;
  user: string;
  ids?: string[];
}

/** How `lock()` went, step by step, in one request (workerd cancels a request left waiting on another). */
async function locks(id: string): Promise<string[]> {
  const steps: string[] = [];
  const unlockFirst = await store.lock(id, 1);
  steps.push("first holds it");
  await store.lock(id, 0.2).then(
    () => steps.push("a second got it too"),
    (error: PersistError) => steps.push(`${error.code}: ${error.message}`),
  );
  const second = store.lock(id, 5).then((unlock) => {
    steps.push("second holds it");
    return unlock;
  });
  steps.push("first releases it");
  await unlockFirst();
  await (await second)();
  steps.push("second released it");
  await unlockFirst().catch((error: PersistError) => steps.push(`${error.code}: ${error.message}`));
  return steps;
}

/** A holder that never releases: the lock is free once its lease (here 200 ms) ran out. */
async function lease(id: string): Promise<string[]> {
  const object = namespace.get(namespace.idFromName(id));
  const steps = [(await object.acquire(1, 200)) ? "held, never released" : "not taken"];
  steps.push((await object.acquire(0.05)) ? "taken at once" : "still held");
  steps.push((await object.acquire(1)) ? "taken once the lease ran out" : "never freed");
  return steps;
}

async function run({ op, id, data, ttl, user, ids }: Command): Promise<unknown> {
  if (op === "index") return store.index(user, id, data, ttl);
  if (op === "indexed") return store.indexed(user);
  if (op === "unindex") return store.unindex(user, ids);
  if (op === "get") return store.get(id, ttl);
  if (op === "set") return store.set(id, data, ttl);
  if (op === "delete") return store.delete(id);
  if (op === "locks") return locks(id);
  return lease(id);
}

export default {
  async fetch(request: Request): Promise<Response> {
    try {
      return Response.json({ value: await run(await request.json()) });
    } catch (error) {
      if (!(error instanceof PersistError)) throw error;
      return Response.json({ code: error.code, message: error.message }, { status: 500 });
    }
  },
};
