import { readFileSync } from "node:fs";
import type { Loss } from "./losses.js";
import type { Result } from "./runner.js";

/** One way to recognise a cause; every field given must match. */
export interface Matcher {
  mode?: "request" | "restore";
  /** A regular expression over the routed outcome (`TypeError: message`). */
  outcome?: string;
  /** A regular expression over the test's path. */
  path?: string;
  /** The restore mode found the values lost this on the way (see losses.ts). */
  lost?: Loss;
}

export interface Cause {
  id: string;
  description: string;
  /** Words that README.md's `## Limitations` section must contain. */
  readme: string;
  match: Matcher[];
}

export const CAUSES_FILE = new URL("causes.json", import.meta.url);

export function loadCauses(): Cause[] {
  return (JSON.parse(readFileSync(CAUSES_FILE, "utf8")) as { causes: Cause[] }).causes;
}

/**
 * The first cause one of whose matchers fits, in the file's order (the more specific first).
 * A restore-mode difference that fails as the request mode does has the request mode's cause.
 */
export function classify(
  causes: readonly Cause[],
  path: string,
  result: Result,
  mode: "request" | "restore",
): string {
  if (mode === "restore" && result.restore === result.request) {
    return classify(causes, path, result, "request");
  }
  const outcome = result[mode];
  for (const cause of causes) {
    for (const matcher of cause.match) {
      if (matcher.mode !== undefined && matcher.mode !== mode) continue;
      if (matcher.outcome !== undefined && !new RegExp(matcher.outcome).test(outcome)) continue;
      if (matcher.path !== undefined && !new RegExp(matcher.path).test(path)) continue;
      if (
        matcher.lost !== undefined &&
        (mode !== "restore" || !result.lost.includes(matcher.lost))
      ) {
        continue;
      }
      return cause.id;
    }
  }
  return "unclassified";
}
