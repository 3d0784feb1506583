import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";

/** The frontmatter fields the harness reads. */
export interface Meta {
  flags: string[];
  features: string[];
  includes: string[];
  negative: boolean;
}

export interface TestFile {
  /** Relative to the test262 root: `test/built-ins/Array/prototype/map/…`. */
  path: string;
  source: string;
  meta: Meta;
}

export const VENDOR = new URL("vendor/", import.meta.url).pathname;

/** The `/*--- … ---*\/` block's lists, in either YAML form (`[a, b]` or `- a` lines). */
export function parseMeta(source: string): Meta {
  const yaml = /\/\*---([\s\S]*?)---\*\//.exec(source)?.[1] ?? "";
  const list = (key: string): string[] => {
    const inline = new RegExp(`^${key}:\\s*\\[([^\\]]*)\\]`, "m").exec(yaml);
    if (inline) return words(inline[1] ?? "");
    const block = new RegExp(`^${key}:[ \\t]*\\n((?:[ \\t]+-.*\\n?)+)`, "m").exec(yaml);
    return block
      ? (block[1] ?? "").split("\n").flatMap((line) => words(line.replace(/^\s*-/, "")))
      : [];
  };
  return {
    flags: list("flags"),
    features: list("features"),
    includes: list("includes"),
    negative: /^negative:/m.test(yaml),
  };
}

function words(text: string): string[] {
  return text
    .split(",")
    .map((word) => word.replace(/#.*/, "").trim())
    .filter(Boolean);
}

/** The vendored tests, in a stable order. */
export function vendoredTests(root = VENDOR): TestFile[] {
  const tests: TestFile[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) =>
      a.name < b.name ? -1 : 1,
    )) {
      const full = join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.name.endsWith(".js")) {
        const source = readFileSync(full, "utf8");
        tests.push({ path: relative(root, full), source, meta: parseMeta(source) });
      }
    }
  };
  walk(join(root, "test"));
  return tests;
}

/** The harness files a set of tests needs, in test262's order: assert.js and sta.js first. */
export function harnessFiles(tests: readonly TestFile[]): string[] {
  const includes = new Set(["assert.js", "sta.js"]);
  for (const test of tests) for (const include of test.meta.includes) includes.add(include);
  return [...includes];
}
