import { spawn } from "node:child_process";
import { once } from "node:events";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { buildSync } from "esbuild";
import { afterAll, beforeAll, expect, test } from "vitest";
import { FileStore } from "../../src/index.js";
import { IDS, padOf } from "../fixtures/crash-writer.js";
import { tempDir } from "../helpers.js";
import { figure } from "./figures.js";

const KILLS = 200;
let dir: string;
let removeDir: () => void;
let writer: string;

beforeAll(() => {
  ({ dir, remove: removeDir } = tempDir());
  // Bundled to plain JS so that each of the 200 processes starts in tens of ms, not via tsx.
  writer = join(dir, "writer.mjs");
  buildSync({
    entryPoints: ["test/fixtures/crash-writer.ts"],
    bundle: true,
    platform: "node",
    format: "esm",
    outfile: writer,
    logLevel: "error",
    // cookie-signature is CommonJS and requires Node built-ins.
    banner: {
      js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);",
    },
  });
});
afterAll(() => removeDir());

/** Starts a writer, lets it write for a random 0–15 ms after its first write, then SIGKILLs it. */
async function killWhileWriting(stateDir: string): Promise<void> {
  const child = spawn(process.execPath, [writer, stateDir], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const exited = once(child, "exit").then(() => {
    throw new Error("the writer exited before it wrote");
  });
  const [chunk] = (await Promise.race([once(child.stdout, "data"), exited])) as [Buffer];
  exited.catch(() => undefined);
  expect(chunk.toString()).toBe("writing\n");
  await new Promise((resolve) => setTimeout(resolve, Math.random() * 15));
  child.kill("SIGKILL");
  await once(child, "exit");
}

test(`${KILLS} SIGKILLs in the middle of writes leave only whole states, and the next start removes the temporary files`, async () => {
  const stateDir = join(dir, "state");
  let checked = 0;
  const torn: string[] = [];
  for (let round = 0; round < KILLS / 2; round++) {
    // Two writers at once over the same files, so kills also land between competing renames.
    await Promise.all([killWhileWriting(stateDir), killWhileWriting(stateDir)]);
    for (const id of IDS) {
      let text: string;
      try {
        text = readFileSync(join(stateDir, id), "utf8");
      } catch {
        continue; // Not written yet.
      }
      checked++;
      try {
        const value = JSON.parse(text) as { n: number; pad: string };
        if (value.pad.length !== padOf(value.n))
          torn.push(`${id}: n=${value.n}, pad ${value.pad.length}`);
      } catch (error) {
        torn.push(`${id}: ${String(error)}`);
      }
    }
  }
  const temps = readdirSync(stateDir).filter((name) => name.endsWith(".tmp"));
  // The next start of a store sweeps: temporary files of dead writers go at once.
  const removed = await new FileStore({ dir: stateDir, sweepInterval: 0 }).sweep();
  const left = readdirSync(stateDir).filter((name) => name.endsWith(".tmp"));
  figure("crash", {
    kills: KILLS,
    filesChecked: checked,
    torn: torn.length,
    tempFilesLeftByKills: temps.length,
    tempFilesAfterSweep: left.length,
  });
  expect(torn).toEqual([]);
  expect(checked).toBeGreaterThan(KILLS);
  expect(removed).toBe(temps.length);
  expect(left).toEqual([]);
  expect(readdirSync(stateDir).sort()).toEqual([...IDS].sort());
}, 120_000);
