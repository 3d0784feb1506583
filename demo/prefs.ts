import { type Persisted, persist } from "../src/index.js";

export type Theme = "light" | "dark";
export const THEMES: readonly Theme[] = ["light", "dark"];

/** What can be filtered and pinned: a fixed catalog, so form input never becomes state unchecked. */
export const ITEMS: readonly string[] = [
  "api-gateway",
  "auth",
  "billing",
  "cache",
  "checkout",
  "email",
  "inventory",
  "payments",
  "reports",
  "search",
  "storage",
  "webhooks",
];

export const FILTER_MAX_LENGTH = 60;

/**
 * Display preferences, under a key of their own: a second cookie and a second state file, cleared
 * independently of the counter.
 */
@persist("prefs")
export class Prefs {
  theme: Theme = "light";
  filter = "";
  pinned = new Set<string>();

  /** The catalog items matching the filter, in catalog order. */
  get visible(): string[] {
    const needle = this.filter.toLowerCase();
    return ITEMS.filter((item) => item.includes(needle));
  }
}
export interface Prefs extends Persisted {}
