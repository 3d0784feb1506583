import type { Context } from "hono";
import { deleteCookie, setCookie } from "hono/cookie";
import type { CookieOptions } from "hono/utils/cookie";
import { signSessionId } from "../cookie.js";
import type { Config, Scope } from "./scope.js";

/**
 * Sets the cookies of the states `scope` issued and expires those it dropped, and keeps the
 * response out of shared caches when it carries one.
 */
export function writeCookies(scope: Scope): void {
  const { c, config, issue, expire } = scope;
  if (!issue && !expire) return;
  const issued = new Set<string>();
  for (const live of issue ?? []) {
    if (live.ended || live.saved === undefined) continue;
    const lifetime = Math.min(
      config.maxAge,
      Math.ceil((live.created + config.maxAge * 1000 - Date.now()) / 1000),
    );
    const { key } = live.info;
    setCookie(c, key, signSessionId(key, live.id, config.secrets[0] as string), {
      ...attributes(c, config),
      maxAge: Math.max(0, lifetime),
    });
    issued.add(key);
  }
  for (const key of expire ?? []) {
    if (!issued.has(key)) deleteCookie(c, key, attributes(c, config));
  }
  // A shared cache that stored this response would hand the state cookie to other visitors:
  // whatever the handler said about caching, not there.
  if (issued.size > 0 || expire) {
    const control = c.res.headers.get("Cache-Control");
    c.header("Cache-Control", control ? privately(control) : "private, no-store");
  }
}

// What lets a shared cache store a response: `public`, `s-maxage`, and a `private` that names
// fields (the rest of the response could be stored).
const SHARED = /^(public|s-maxage\s*=.*|private\s*=.*)$/i;

/** `Cache-Control` directives for a private response: the handler's others are kept. */
function privately(control: string): string {
  const kept = control
    .split(",")
    .map((directive) => directive.trim())
    .filter((directive) => directive !== "" && !SHARED.test(directive));
  if (!kept.some((directive) => directive.toLowerCase() === "private")) kept.unshift("private");
  return kept.join(", ");
}

function attributes(c: Context, config: Config): CookieOptions {
  const { path, sameSite, domain, hostPrefix } = config.cookie;
  const secure =
    config.cookie.secure ?? (hostPrefix || sameSite === "None" || c.req.url.startsWith("https:"));
  return {
    path,
    sameSite,
    httpOnly: true,
    secure,
    ...(domain !== undefined && { domain }),
    ...(hostPrefix && { prefix: "host" as const }),
  };
}
