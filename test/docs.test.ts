// The docs against the code: every option table in docs/ lists exactly the options of its
// TypeScript interface, with the `@default` its JSDoc gives, and that JSDoc default is the one
// the code applies. Every relative link in the Markdown resolves, #anchors included.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, test } from "vitest";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const read = (path: string) => readFileSync(join(ROOT, path), "utf8");

/** Each options interface, the page and heading of its table, and the file that applies it. */
const TABLES = [
  {
    options: "PersistSessionOptions",
    doc: "docs/options.md",
    heading: "`persistSession(options)`",
    applied: "src/internal/options.ts",
  },
  {
    options: "PersistOptions",
    doc: "docs/options.md",
    heading: "`@persist(key, options)`",
    applied: "src/persist.ts",
  },
  {
    options: "FileStoreOptions",
    doc: "docs/stores.md",
    heading: "`FileStore`",
    applied: "src/stores/file.ts",
  },
  {
    options: "MemoryStoreOptions",
    doc: "docs/stores.md",
    heading: "`MemoryStore`",
    applied: "src/stores/memory.ts",
  },
  {
    options: "RedisStoreOptions",
    doc: "docs/stores.md",
    heading: "`RedisStore`",
    applied: "src/stores/redis.ts",
  },
  {
    options: "EndSessionsOptions",
    doc: "docs/users.md",
    heading: "`persisted.endSessions(user, options)`",
    // No defaults to apply: each option is off unless given.
    applied: undefined,
  },
  {
    options: "PostgresStoreOptions",
    doc: "docs/stores.md",
    heading: "`PostgresStore`",
    applied: "src/stores/postgres.ts",
  },
];
// Options whose default is the option's absence, not a value the code names: `lock` is off
// when `options.lock` is falsy.
const NO_LITERAL_IN_CODE = new Set(["PersistSessionOptions.lock"]);

interface Member {
  name: string;
  optional: boolean;
  type: string;
  default: string | undefined;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory()
      ? sourceFiles(join(dir, entry.name))
      : entry.name.endsWith(".ts")
        ? [join(dir, entry.name)]
        : [],
  );
}

/** `export interface <name>Options { … }` of src/, each member with its JSDoc `@default`. */
function optionInterfaces(): Map<string, Member[]> {
  const found = new Map<string, Member[]>();
  for (const file of sourceFiles("src")) {
    const lines = read(file).split("\n");
    for (let i = 0; i < lines.length; i++) {
      const name = /^export interface (\w+Options) \{$/.exec(lines[i] ?? "")?.[1];
      if (name === undefined) continue;
      const members: Member[] = [];
      let jsdoc = "";
      for (i++; lines[i] !== "}"; i++) {
        const line = lines[i] ?? "";
        if (/^ {2}\/\*\*/.test(line)) jsdoc = "";
        if (/^ {2}(\/\*\*| \*)/.test(line)) jsdoc += `${line}\n`;
        const member = /^ {2}(\w+)(\?)?: (.*?);?$/.exec(line);
        if (member?.[1] === undefined) continue;
        members.push({
          name: member[1],
          optional: member[2] === "?",
          type: member[3] ?? "",
          default: /@default (.*?)(?: \*\/)?$/m.exec(jsdoc)?.[1]?.trim(),
        });
        jsdoc = "";
      }
      found.set(name, members);
    }
  }
  return found;
}

/** The options a table must list: nested options interfaces (`cookie`) as `cookie.<name>`. */
function expand(interfaces: Map<string, Member[]>, name: string): Member[] {
  return (interfaces.get(name) ?? []).flatMap((member) =>
    interfaces.has(member.type)
      ? expand(interfaces, member.type).map((inner) => ({
          ...inner,
          name: `${member.name}.${inner.name}`,
        }))
      : [member],
  );
}

/** The `| option | default | meaning |` table under a heading: option name → default cell. */
function optionTable(doc: string, heading: string): Map<string, string> {
  const lines = read(doc).split("\n");
  const start = lines.findIndex(
    (line) => /^#+ /.test(line) && line.replace(/^#+ /, "") === heading,
  );
  expect(start, `${doc} has a heading ${heading}`).toBeGreaterThan(-1);
  const rows = new Map<string, string>();
  let inTable = false;
  for (const line of lines.slice(start + 1)) {
    if (/^#+ /.test(line)) break;
    const cells = line.startsWith("|")
      ? line
          .split("|")
          .slice(1, -1)
          .map((c) => c.trim())
      : [];
    if (cells[0] === "option" && cells[1] === "default") inTable = true;
    else if (inTable && cells.length === 0) break;
    else if (inTable && !/^-+$/.test(cells[0] ?? "")) {
      // `migrate(old, fromVersion)` documents the option `migrate`.
      rows.set((cells[0] ?? "").replace(/`/g, "").replace(/\(.*\)$/, ""), cells[1] ?? "");
    }
  }
  expect(rows.size, `${doc} has an option table under ${heading}`).toBeGreaterThan(0);
  return rows;
}

/** A default as written, before its gloss: `2_592_000` (30 days) → 2592000. */
function head(text: string): string {
  return text
    .replace(/`/g, "")
    .replace(/ \(.*$/, "")
    .replace(/(\d)[_,](?=\d{3}(?!\d))/g, "$1")
    .trim();
}

/** The value a default names, if it is a literal: a number, string, boolean, `[]` or `console`. */
function literal(text: string): string | undefined {
  const value = head(text);
  if (/^(-?\d+(\.\d+)?|"[^"]*"|true|false|\[\]|console)$/.test(value)) return value;
  return /^("[^"]*")/.exec(value)?.[1]; // `".hono-persist" in the working directory`
}

/**
 * What the code gives `<name>` when absent, where it is a literal: a destructuring default
 * (`idleTimeout = 30 * 24 * 3600`, not `this.#x = 0`) or after `??`.
 */
function defaultsInCode(source: string, name: string): string[] {
  const found: string[] = [];
  for (const match of source.matchAll(
    new RegExp(`(?:(?<![.#\\w])${name} *=(?!=)|\\b${name} *\\?\\?) *([^,;)}\\n]+)`, "g"),
  )) {
    const value = (match[1] ?? "").trim();
    if (/^\d[\d_]*( \* \d[\d_]*)*$/.test(value)) {
      found.push(String(value.split(" * ").reduce((p, n) => p * Number(n.replace(/_/g, "")), 1)));
    } else if (/^("[^"]*"|true|false|\[\]|console)$/.test(value)) found.push(value);
  }
  return found;
}

describe("option tables in docs/", () => {
  const interfaces = optionInterfaces();

  test("every exported options interface has a table", () => {
    const nested = new Set(
      [...interfaces.values()].flatMap((members) => members.map((member) => member.type)),
    );
    const tabled = new Set(TABLES.map((table) => table.options));
    const missing = [...interfaces.keys()].filter((name) => !tabled.has(name) && !nested.has(name));
    expect(missing).toEqual([]);
  });

  test.each(TABLES)("$doc $heading lists $options with its defaults", (table) => {
    const members = expand(interfaces, table.options);
    const rows = optionTable(table.doc, table.heading);
    expect([...rows.keys()].sort()).toEqual(members.map((member) => member.name).sort());

    const drift: string[] = [];
    for (const member of members) {
      const code =
        member.default === undefined
          ? member.optional
            ? "unset"
            : "required"
          : head(member.default);
      const documented = head(rows.get(member.name) ?? "");
      if (documented !== code) {
        drift.push(`${member.name}: ${table.doc} says ${documented}, the JSDoc says ${code}`);
      }
    }
    expect(drift).toEqual([]);
  });

  test.each(
    TABLES.filter((table): table is (typeof TABLES)[number] & { applied: string } =>
      Boolean(table.applied),
    ),
  )("each JSDoc @default of $options is what $applied applies", (table) => {
    const source = read(table.applied);
    const drift: string[] = [];
    let checked = 0;
    for (const member of expand(interfaces, table.options)) {
      const value = member.default === undefined ? undefined : literal(member.default);
      if (value === undefined || NO_LITERAL_IN_CODE.has(`${table.options}.${member.name}`))
        continue;
      const name = member.name.split(".").at(-1) ?? "";
      const applied = defaultsInCode(source, name);
      checked++;
      if (applied.length === 0 || applied.some((found) => found !== value)) {
        drift.push(
          `${member.name}: the JSDoc says ${value}, ${table.applied} applies ${applied.join(", ") || "nothing"}`,
        );
      }
    }
    expect(checked).toBeGreaterThan(0);
    expect(drift).toEqual([]);
  });
});

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens, repeats numbered. */
function anchors(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const found = new Set<string>();
  for (const line of withoutCodeBlocks(markdown).split("\n")) {
    const text = /^#{1,6} (.*)$/.exec(line)?.[1];
    if (text === undefined) continue;
    const slug = text
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\p{M}\p{Pc} -]/gu, "")
      .replace(/ /g, "-");
    const count = seen.get(slug) ?? 0;
    seen.set(slug, count + 1);
    found.add(count === 0 ? slug : `${slug}-${count}`);
  }
  return found;
}

function withoutCodeBlocks(markdown: string): string {
  return markdown.replace(/^```[\s\S]*?^```$/gm, "");
}

describe("links in the Markdown", () => {
  const pages = [
    "README.md",
    "SECURITY.md",
    ...readdirSync(join(ROOT, "docs"))
      .filter((name) => name.endsWith(".md"))
      .map((name) => `docs/${name}`),
  ];

  test.each(pages)("every relative link of %s resolves", (page) => {
    const text = withoutCodeBlocks(read(page)).replace(/`[^`\n]*`/g, "``");
    const broken: string[] = [];
    for (const match of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      const link = match[1] ?? "";
      if (/^[a-z][a-z+.-]*:/i.test(link)) continue; // https:, mailto:
      const [path = "", anchor] = link.split("#");
      const target = path === "" ? page : relative(ROOT, join(ROOT, dirname(page), path));
      if (!existsSync(join(ROOT, target))) broken.push(`${link}: no file ${target}`);
      else if (anchor !== undefined && !anchors(read(target)).has(anchor)) {
        broken.push(`${link}: no heading #${anchor} in ${target}`);
      }
    }
    expect(broken).toEqual([]);
  });
});
