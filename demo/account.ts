import { type Persisted, persist } from "../src/index.js";

/** The demo's user: sign-in needs no password, it only shows state that follows a user. */
export const DEMO_USER = "demo";

/**
 * The sign-in, kept per browser: option `user` of `persistSession()` reads it, so the user's
 * state follows whoever this says, and ending the browser's session signs it out.
 */
@persist("account")
export class Account {
  user: string | undefined = undefined;
}
export interface Account extends Persisted {}
