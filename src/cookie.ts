import { createHmac } from "node:crypto";
import { sign, unsign } from "cookie-signature";
import { validate, version } from "uuid";

// `<uuid>.<base64 HMAC-SHA256 without padding>` is 36 + 1 + 43 characters; anything much
// longer is not ours and is refused before any HMAC is computed.
const MAX_COOKIE_LENGTH = 128;

/** True for a canonical (lower-case) RFC 9562 version-4 UUID, the only ids hono-persist makes. */
export function isSessionId(id: string): boolean {
  return validate(id) && version(id) === 4 && id === id.toLowerCase();
}

// The HMAC covers `<key>.<id>`, so a cookie of one key does not verify under another name.
// cookie-signature signs and compares it (timing-safe, base64 without padding, as before):
// the cookie keeps the shape `<id>.<signature>`, and the key is put back in front to verify.
// `<key>.` before an id of fixed length cannot be read two ways, nor match an id alone.

/** The cookie value of state `id` of `key`: `<id>.<HMAC-SHA256 of "<key>.<id>">`, signed with `secret`. */
export function signSessionId(key: string, id: string, secret: string): string {
  return sign(`${key}.${id}`, secret).slice(key.length + 1);
}

/** A cookie value that verified: its id, and whether it should be signed again. */
export interface VerifiedCookie {
  id: string;
  rotated: boolean;
}

/**
 * The session id in a cookie value of `key`, or `undefined` when the value is not a valid v4
 * id signed for `key` with one of `secrets`. `rotated` says it verified with a secret other
 * than the first, or in the legacy form, so the caller should sign it again.
 */
export function verifySessionCookie(
  key: string,
  value: string,
  secrets: readonly string[],
): VerifiedCookie | undefined {
  if (value.length > MAX_COOKIE_LENGTH) return undefined;
  const id = value.slice(0, value.lastIndexOf("."));
  if (!isSessionId(id)) return undefined;
  const keyed = `${key}.${id}`;
  for (const [index, secret] of secrets.entries()) {
    if (unsign(`${key}.${value}`, secret) === keyed) return { id, rotated: index > 0 };
    // Legacy: hono-persist 0.1 signed the id alone, so a cookie of another key verifies here
    // too (load.ts then finds the other key's state and loads nothing). Accepted so that no
    // browser loses its state at the upgrade, and re-signed at once; removed in the next major.
    if (unsign(value, secret) === id) return { id, rotated: true };
  }
  return undefined;
}

/**
 * A UUIDv4 derived from `secret` and `name`: the first 16 bytes of HMAC-SHA256(secret,
 * `"hono-persist " + name`) with the version and variant bits of a v4. A user's state is
 * stored under such an id, so that every device finds it without a cookie, while the store
 * never sees the app's user id and nobody without the secret can tell whose state it is.
 */
export function derivedId(secret: string, name: string): string {
  const bytes = createHmac("sha256", secret).update(`hono-persist ${name}`).digest();
  bytes[6] = ((bytes[6] as number) & 0x0f) | 0x40;
  bytes[8] = ((bytes[8] as number) & 0x3f) | 0x80;
  const hex = bytes.toString("hex", 0, 16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
