import { readFileSync, writeFileSync } from "node:fs";
import { describe, expect, test } from "vitest";
import { classify, loadCauses } from "./test262/classify.js";
import { harnessFiles, vendoredTests } from "./test262/files.js";
import { ROUTED_MODES, Runner } from "./test262/runner.js";

// test262's tests for the built-ins a state holds, each run plain, routed through a persisted
// instance in a request, and after a restore; see test/test262/README.md.
// `UPDATE_TEST262=1 npx vitest run test/test262.test.ts` rewrites expected.json.

const EXPECTED = new URL("test262/expected.json", import.meta.url);
const update = process.env.UPDATE_TEST262 === "1";
const causes = loadCauses();

/** `<test path>|<mode>` → cause id, for every routed outcome that differs from the plain one. */
async function differences(): Promise<{
  found: Record<string, string>;
  outcomes: Map<string, string>;
}> {
  const tests = vendoredTests();
  const runner = await Runner.create(harnessFiles(tests));
  const found: Record<string, string> = {};
  const outcomes = new Map<string, string>();
  for (const file of tests) {
    const result = await runner.run(file);
    for (const mode of ROUTED_MODES) {
      if (result[mode] === result.plain) continue;
      const key = `${file.path}|${mode}`;
      found[key] = classify(causes, file.path, result, mode);
      outcomes.set(key, `${result[mode]}${result.lost.length ? ` (lost: ${result.lost})` : ""}`);
    }
  }
  return { found, outcomes };
}

function sorted(record: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(record).sort(([a], [b]) => (a < b ? -1 : 1)));
}

function counts(record: Record<string, string>): string {
  const byCause = new Map<string, Record<string, number>>();
  for (const [key, cause] of Object.entries(record)) {
    const mode = key.slice(key.lastIndexOf("|") + 1);
    const row = byCause.get(cause) ?? {};
    row[mode] = (row[mode] ?? 0) + 1;
    byCause.set(cause, row);
  }
  return [...byCause]
    .sort(
      ([, a], [, b]) => (b.request ?? 0) + (b.restore ?? 0) - (a.request ?? 0) - (a.restore ?? 0),
    )
    .map(([cause, row]) => `${cause}: request ${row.request ?? 0}, restore ${row.restore ?? 0}`)
    .join("\n");
}

describe("test262 through persisted instances", () => {
  test("differs from the plain run exactly where expected.json says, for the reason it says", async () => {
    const { found, outcomes } = await differences();
    if (update) {
      writeFileSync(EXPECTED, `${JSON.stringify(sorted(found), null, 2)}\n`);
      console.log(`test262: ${Object.keys(found).length} differences\n${counts(found)}`);
      return;
    }
    const expected = JSON.parse(readFileSync(EXPECTED, "utf8")) as Record<string, string>;
    const lines: string[] = [];
    for (const [key, cause] of Object.entries(found)) {
      if (!(key in expected)) lines.push(`new: ${key} (${cause}): ${outcomes.get(key)}`);
      else if (expected[key] !== cause) {
        lines.push(`cause changed: ${key}: ${expected[key]} -> ${cause}: ${outcomes.get(key)}`);
      }
    }
    for (const [key, cause] of Object.entries(expected)) {
      if (!(key in found)) lines.push(`gone: ${key} (was ${cause}): now behaves as the plain run`);
    }
    // A readable list rather than a diff of two large objects; see the header for the update.
    expect(lines.sort().join("\n")).toBe("");
  }, 180_000);

  test("every cause in expected.json is one of causes.json and is named in docs/limitations.md", () => {
    const expected = JSON.parse(readFileSync(EXPECTED, "utf8")) as Record<string, string>;
    const section = flat(readFileSync(new URL("../docs/limitations.md", import.meta.url), "utf8"));
    const inUse = [...new Set(Object.values(expected))].sort();
    const missing = inUse.filter((id) => {
      const cause = causes.find((candidate) => candidate.id === id);
      return cause === undefined || !section.includes(flat(cause.readme));
    });
    expect(missing).toEqual([]);
  });
});

/** Line breaks and indentation of the Markdown source do not matter. */
function flat(text: string): string {
  return text.replace(/\s+/g, " ");
}
