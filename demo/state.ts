import { type Persisted, persist } from "../src/index.js";

/** One counter action, as the activity table and the sparkline show it. */
export interface Activity {
  at: Date;
  action: "increment" | "decrement";
  /** The count right after the action. */
  count: number;
}

/** Enough for the sparkline; the table shows the most recent ones only. */
export const ACTIVITY_KEPT = 30;

/** The counter: one per browser, kept across reloads, browser restarts and server restarts. */
@persist("app-state", {
  version: 2,
  // Version 1 kept only the dates of increments (`history`); each was one step up.
  migrate: ({ count, history }) => {
    if (typeof count !== "number" || !Array.isArray(history)) throw new Error("not a counter");
    const dates = history.slice(-ACTIVITY_KEPT) as Date[];
    return {
      count,
      activity: dates.map((at, i) => ({
        at,
        action: "increment",
        count: count - (dates.length - 1 - i),
      })),
    };
  },
})
export class AppState {
  count = 0;
  activity: Activity[] = [];

  increment() {
    this.count++;
    this.record("increment");
  }

  decrement() {
    this.count--;
    this.record("decrement");
  }

  private record(action: Activity["action"]) {
    this.activity.push({ at: new Date(), action, count: this.count });
    // The state is rewritten on every change, so it must stay small however long it is used.
    if (this.activity.length > ACTIVITY_KEPT) this.activity.splice(0, 1);
  }
}
export interface AppState extends Persisted {}
