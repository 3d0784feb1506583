// Races with another process over one state file, made to happen at the one instant that
// matters: an action runs right after FileStore's own append (the real write, on a real file).
import { appendFileSync } from "node:fs";
import { join } from "node:path";
import { v4 } from "uuid";
import { afterEach, beforeEach, expect, test, vi } from "vitest";
import { FileStore } from "../src/stores/file.js";
import { tempDir } from "./helpers.js";

const after: { write?: (() => void) | undefined } = {};
vi.mock("node:fs", async (importOriginal) => {
  const fs = await importOriginal<typeof import("node:fs")>();
  const writeSync = ((...args: Parameters<typeof fs.writeSync>) => {
    const written = (fs.writeSync as (...a: unknown[]) => number)(...args);
    const action = after.write;
    after.write = undefined;
    action?.();
    return written;
  }) as typeof fs.writeSync;
  return { ...fs, default: { ...fs, writeSync }, writeSync };
});

let dir: string;
let remove: () => void;
beforeEach(() => {
  ({ dir, remove } = tempDir());
});
afterEach(() => remove());

test("another process appending right after this one's append: its record is read, not the one this store remembers", async () => {
  const store = new FileStore({ dir, sweepInterval: 0 });
  const id = v4();
  await store.set(id, "first", 3600);
  // The other process passed the same check of the file and appends with O_APPEND too.
  after.write = () => appendFileSync(join(dir, id), "theirs\n");
  await store.set(id, "mine", 3600);
  expect(await new FileStore({ dir, sweepInterval: 0 }).get(id, 3600)).toBe("theirs");
  expect(await store.get(id, 3600)).toBe("theirs");
});
