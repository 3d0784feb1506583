import { sign, unsign } from "cookie-signature";
import { validate, version } from "uuid";

// `<uuid>.<base64 HMAC-SHA256 without padding>` is 36 + 1 + 43 characters; anything much
// longer is not ours and is refused before any HMAC is computed.
const MAX_COOKIE_LENGTH = 128;

/** True for a canonical (lower-case) RFC 9562 version-4 UUID, the only ids hono-persist makes. */
export function isSessionId(id: string): boolean {
  return validate(id) && version(id) === 4 && id === id.toLowerCase();
}

/** The cookie value for `id`: `<id>.<signature>`, signed with `secret`. */
export function signSessionId(id: string, secret: string): string {
  return sign(id, secret);
}

/** A cookie value that verified: its id, and whether a secret other than the first signed it. */
export interface VerifiedCookie {
  id: string;
  rotated: boolean;
}

/**
 * The session id in a cookie value, or `undefined` when the value is not a valid v4 id signed
 * with one of `secrets`. `rotated` says it verified with a secret other than the first, so the
 * caller should sign it again.
 */
export function verifySessionCookie(
  value: string,
  secrets: readonly string[],
): VerifiedCookie | undefined {
  if (value.length > MAX_COOKIE_LENGTH) return undefined;
  const id = value.slice(0, value.lastIndexOf("."));
  if (!isSessionId(id)) return undefined;
  for (const [index, secret] of secrets.entries()) {
    if (unsign(value, secret) === id) return { id, rotated: index > 0 };
  }
  return undefined;
}
