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
const DEFAULT_THEME: Theme = "light";

/**
 * Display preferences, under a key of their own: the signed-in user's, the same on every device
 * (one state file, no cookie); before sign-in the browser's, with a cookie of its own.
 */
@persist("prefs", {
  scope: "user",
  // At sign-in, what the visitor chose before joins the user's: pins add up, and the theme and
  // filter count only where the user kept the defaults. Idempotent: a second run changes nothing.
  merge(user: Prefs, anonymous: Prefs) {
    for (const item of anonymous.pinned) user.pinned.add(item);
    if (user.theme === DEFAULT_THEME) user.theme = anonymous.theme;
    if (user.filter === "") user.filter = anonymous.filter;
  },
})
export class Prefs {
  theme: Theme = DEFAULT_THEME;
  filter = "";
  pinned = new Set<string>();

  /** The catalog items matching the filter, in catalog order. */
  get visible(): string[] {
    const needle = this.filter.toLowerCase();
    return ITEMS.filter((item) => item.includes(needle));
  }
}
export interface Prefs extends Persisted {}
