import type { MiddlewareHandler } from "hono";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";

const COOKIE = "demo-flash";
const COOKIE_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,64}$/;
const ACTION = /^POST \/[a-z/-]{1,40}$/;

/** What the response to the last form post did to cookies. */
export interface Flash {
  /** The request it answered, such as `POST /increment`. */
  action: string;
  /** Cookies it set (a new id, or one signed again). */
  issued: string[];
  /** Cookies it told the browser to drop. */
  expired: string[];
}

export interface FlashEnv {
  Variables: { flash: Flash | undefined };
}

/**
 * Carries, across the redirect that follows each form post, which cookies the post's response
 * set or expired. The page is rendered by the GET after the redirect, whose own response usually
 * sets none, so without this the debug panel could never show a cookie being issued.
 *
 * Install it before `persistSession()`, so that it sees the cookies that middleware writes.
 */
export function cookieFlash(): MiddlewareHandler<FlashEnv> {
  return async (c, next) => {
    const carried = getCookie(c, COOKIE);
    c.set("flash", carried === undefined ? undefined : parse(carried));
    await next();

    const redirected = c.res.status >= 300 && c.res.status < 400;
    if (c.req.method !== "POST" || !redirected) {
      if (carried !== undefined) deleteCookie(c, COOKIE, { path: "/" });
      return;
    }
    const flash: Flash = { action: `POST ${c.req.path}`, issued: [], expired: [] };
    for (const line of c.res.headers.getSetCookie()) {
      const name = line.slice(0, line.indexOf("="));
      if (name === COOKIE) continue;
      (/;\s*Max-Age=0(;|$)/i.test(line) ? flash.expired : flash.issued).push(name);
    }
    setCookie(c, COOKIE, JSON.stringify(flash), {
      path: "/",
      httpOnly: true,
      sameSite: "Lax",
      maxAge: 60,
    });
  };
}

/** The flash in a cookie, or `undefined` for anything malformed: it is only ever displayed. */
function parse(value: string): Flash | undefined {
  let data: unknown;
  try {
    data = JSON.parse(value);
  } catch {
    return undefined;
  }
  if (typeof data !== "object" || data === null) return undefined;
  const { action, issued, expired } = data as Record<string, unknown>;
  if (typeof action !== "string" || !ACTION.test(action)) return undefined;
  return isNames(issued) && isNames(expired) ? { action, issued, expired } : undefined;
}

function isNames(list: unknown): list is string[] {
  return (
    Array.isArray(list) &&
    list.length <= 8 &&
    list.every((name) => typeof name === "string" && COOKIE_NAME.test(name))
  );
}
