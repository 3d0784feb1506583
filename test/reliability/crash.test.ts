import { spawn } from "node:child_process";
import { once } from "node:events";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { buildSync } from "esbuild";
import { afterAll, beforeAll, expect, test } from "vitest";
import { FileStore } from "../../src/index.js";
import { currentRecord } from "../../src/stores/file-records.js";
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
async function killWhileWriting(stateDir: string, sizes: string): Promise<void> {
  const child = spawn(process.execPath, [writer, stateDir, sizes], {
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

// Large states are written whole and renamed in; small ones mostly appended to their file.
test.each([
  ["large", KILLS],
  ["small", KILLS / 2],
])(
  `SIGKILLs in the middle of writes of %s states (%i) leave only whole states, and the next start removes the temporary files`,
  async (sizes, kills) => {
    const stateDir = join(dir, sizes);
    let checked = 0;
    let appended = 0;
    let cutShort = 0;
    const torn: string[] = [];
    for (let round = 0; round < kills / 2; round++) {
      // Two writers at once over the same files, so kills also land between competing renames.
      await Promise.all([killWhileWriting(stateDir, sizes), killWhileWriting(stateDir, sizes)]);
      for (const id of IDS) {
        let text: string;
        try {
          text = readFileSync(join(stateDir, id), "utf8");
        } catch {
          continue; // Not written yet.
        }
        checked++;
        if (text.indexOf("\n") < text.length - 1) appended++;
        if (!text.endsWith("\n")) cutShort++;
        try {
          const value = JSON.parse(currentRecord(text) as string) as { n: number; pad: string };
          if (value.pad.length !== padOf(value.n, sizes === "small"))
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
    figure(`crash-${sizes}`, {
      kills,
      filesChecked: checked,
      filesWithAppends: appended,
      appendsCutShort: cutShort,
      torn: torn.length,
      tempFilesLeftByKills: temps.length,
      tempFilesAfterSweep: left.length,
    });
    expect(torn).toEqual([]);
    expect(checked).toBeGreaterThan(kills);
    // The small states did go through appends (each file checked holds several records).
    if (sizes === "small") expect(appended).toBeGreaterThan(kills / 2);
    expect(removed).toBe(temps.length);
    expect(left).toEqual([]);
    expect(readdirSync(stateDir).sort()).toEqual([...IDS].sort());
  },
  // 200 processes started a pair at a time: 42 s on a shared 2-core machine, 61 s with two `yes`
  // processes added, so the limit is three times that.
  180_000,
);
