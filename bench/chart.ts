/**
 * Draws W1 and W2 of a results file as horizontal bars: docs/bench-node<major>.svg.
 * `npm run bench` calls it after writing its results; alone: `npx tsx bench/chart.ts [major]`
 * (default 24) redraws the chart from the committed bench/results-node<major>.json.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { pathToFileURL } from "node:url";

interface Load {
  rps: number;
  ratio: number;
  lost: number;
  answered?: number;
}
interface Row {
  side: string;
  w1: Load;
  w2: Load | null;
}
interface Results {
  machine: string;
  rows: Row[];
}

// The sides a user chooses between; the rows that take plain Hono apart are in the tables.
const CHARTED = [
  /^plain Hono \(ceiling\)$/,
  /^hono-persist /,
  /^hono-sessions /,
  /^express-session /,
];

// Drawn on a white card of its own, so it reads the same in GitHub's light and dark themes.
const INK = "#1f2328";
const MUTED = "#59636e";
const COLOURS = { plain: "#8c959f", ours: "#0969da", peer: "#bc4c00" };

const WIDTH = 780;
const LABEL = 260; // the side's name, right-aligned before the bar
const BAR = 300; // the longest bar
const ROW = 24;
const PANEL_HEAD = 30;

export function renderChart(results: Results): string {
  const rows = results.rows.filter((row) => CHARTED.some((pattern) => pattern.test(row.side)));
  const panels: [string, (row: Row) => Load | null][] = [
    ["W1: one browser, 10 connections, every request changes its state", (row) => row.w1],
    ["W2: 1,000 browsers, every request changes its own state", (row) => row.w2],
  ];
  const parts: string[] = [];
  let y = 34;
  parts.push(
    text(16, y - 12, `Requests per second, more is better (${results.machine})`, {
      weight: "600",
    }),
  );
  for (const [title, load] of panels) {
    y += PANEL_HEAD;
    parts.push(text(16, y - 10, title, { weight: "600" }));
    const max = Math.max(...rows.map((row) => load(row)?.rps ?? 0));
    for (const row of rows) {
      const figures = load(row);
      if (figures === null) continue;
      const width = Math.max(1, (figures.rps / max) * BAR);
      const colour = row.side.startsWith("plain")
        ? COLOURS.plain
        : row.side.startsWith("hono-persist")
          ? COLOURS.ours
          : COLOURS.peer;
      const lost =
        figures.lost > 0 && figures.answered
          ? `, ${Math.round((figures.lost / figures.answered) * 100)}% of updates lost`
          : "";
      parts.push(
        text(LABEL, y + 12, row.side, { anchor: "end" }),
        `<rect x="${LABEL + 8}" y="${y + 2}" width="${width.toFixed(1)}" height="${ROW - 8}" rx="2" fill="${colour}"/>`,
        text(
          LABEL + 14 + width,
          y + 12,
          `${figures.rps.toLocaleString("en")} (${Math.round(figures.ratio * 100)}% of plain Hono)${lost}`,
          { fill: MUTED },
        ),
      );
      y += ROW;
    }
  }
  y += 12;
  parts.push(
    text(
      16,
      y,
      "Written by npm run bench from its results file; method and full tables: docs/performance.md",
      {
        fill: MUTED,
        size: 11,
      },
    ),
  );
  const height = y + 14;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="-apple-system, BlinkMacSystemFont, 'Segoe UI', Helvetica, Arial, sans-serif" font-size="12">`,
    `<title>${xml(`W1 and W2 requests per second of hono-persist and its peers, ${results.machine}`)}</title>`,
    `<rect x="0.5" y="0.5" width="${WIDTH - 1}" height="${height - 1}" rx="6" fill="#ffffff" stroke="#d1d9e0"/>`,
    ...parts,
    "</svg>",
    "",
  ].join("\n");
}

function text(
  x: number,
  y: number,
  content: string,
  style: { anchor?: "end"; weight?: string; fill?: string; size?: number } = {},
): string {
  const attributes = [
    `x="${x.toFixed(1)}"`,
    `y="${y}"`,
    `fill="${style.fill ?? INK}"`,
    style.anchor && `text-anchor="${style.anchor}"`,
    style.weight && `font-weight="${style.weight}"`,
    style.size && `font-size="${style.size}"`,
  ].filter(Boolean);
  return `<text ${attributes.join(" ")}>${xml(content)}</text>`;
}

function xml(content: string): string {
  return content.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/** Reads bench/results-node<major>.json and writes docs/bench-node<major>.svg; returns its path. */
export function writeChart(major: string): string {
  const results = JSON.parse(readFileSync(`bench/results-node${major}.json`, "utf8")) as Results;
  const path = `docs/bench-node${major}.svg`;
  writeFileSync(path, renderChart(results));
  return path;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  console.log(writeChart(process.argv[2] ?? "24"));
}
