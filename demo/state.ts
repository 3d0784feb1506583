import { type Persisted, persist } from "../src/index.js";

/** The counter: one per browser, kept across reloads, browser restarts and server restarts. */
@persist("app-state")
export class AppState {
  count = 0;
  history: Date[] = [];

  increment() {
    this.count++;
    this.history.push(new Date());
  }
}
export interface AppState extends Persisted {}
