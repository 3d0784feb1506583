import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import type { CrossSite } from "../types.js";

/**
 * Refuses, with Hono's 403, a request from another site that may change state, unless
 * `policy` allows it. Such a request arrives without a `Lax` or `Strict` cookie, as SameSite
 * intends: served, it would start a fresh state whose cookie replaces the visitor's.
 */
export function refuseCrossSite(policy: CrossSite, c: Context): void {
  if (policy === "allow" || !isCrossSite(c)) return;
  // `=== true`: a promise (an async predicate) would otherwise count as a yes.
  if (policy !== "refuse" && policy(c) === true) return;
  throw new HTTPException(403, { message: "Forbidden: cross-site request" });
}

/**
 * A request other than GET, HEAD or OPTIONS whose `Sec-Fetch-Site` is neither `same-origin`
 * nor `none` (a sibling subdomain, `same-site`, is another app). Browsers too old to send it
 * are judged by `Origin`: a host other than the request's. Clients that send neither (curl,
 * webhooks, other servers) are not a browser's forged form.
 */
export function isCrossSite(c: Context): boolean {
  const method = c.req.method;
  if (method === "GET" || method === "HEAD" || method === "OPTIONS") return false;
  const site = c.req.header("Sec-Fetch-Site");
  if (site !== undefined) return site !== "same-origin" && site !== "none";
  const origin = c.req.header("Origin");
  if (origin === undefined) return false;
  // The host and port only: behind a proxy that ends TLS the app sees `http:` while the
  // browser's `Origin` says `https:`. `null` (a sandboxed or privacy-sensitive context) and
  // anything unparsable count as another site.
  return hostOf(origin) !== hostOf(c.req.url);
}

function hostOf(url: string): string | undefined {
  try {
    return new URL(url).host;
  } catch {
    return undefined;
  }
}
