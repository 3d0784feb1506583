import { type VerifiedCookie, verifySessionCookie } from "../cookie.js";
import { cacheKeyOf } from "./live.js";
import { type ClassInfo, registrations, registry } from "./registry.js";
import type { Config, FoundCookie } from "./scope.js";

// Only headers whose every cookie of ours came once and verified are remembered (forged ones
// cannot fill the map), up to this many of up to this length: at most ~4 MB.
const MAX_HEADERS = 4096;
const MAX_HEADER_LENGTH = 1024;
// Valid signatures only are remembered: forged cookies cannot fill the map.
const MAX_VERIFIED = 10_000;
// A browser sends a name once, or a few times (cookies of other paths or domains); values past
// this many are not checked, so that a long header of forged ones costs few HMACs.
const MAX_VALUES = 8;

/**
 * The cookies of ours in a `Cookie` header; of a name sent several times, the first value that
 * verifies. A browser sends the same header again and again: a header seen before is answered
 * from memory, without parsing it or checking signatures (parsing alone cost ~6 µs of the ~30 a
 * request takes on the 2-core bench machine).
 */
export function cookiesOf(config: Config, header: string): readonly FoundCookie[] | undefined {
  const known = config.headers.get(header);
  // Classes decorated since then (or again) may have a cookie in it too.
  if (known && known.registered === registrations) return known.found;
  const values = valuesOf(header, config.cookie.hostPrefix ? "__Host-" : "");
  if (!values) return undefined;
  const found: FoundCookie[] = [];
  let remember = header.length <= MAX_HEADER_LENGTH;
  for (const [info, list] of values) {
    let verified: VerifiedCookie | undefined;
    for (const value of list) {
      verified = verify(config, info.key, value);
      if (verified) break;
    }
    const alone = list.length === 1;
    if (!verified || !alone) remember = false;
    if (verified) found.push({ info, verified, cacheKey: cacheKeyOf(info, verified.id), alone });
    // Several values, none ours: left alone, as if none had come (see `alone` in preload).
    else if (alone) found.push({ info, verified, cacheKey: undefined, alone });
  }
  if (found.length === 0) return undefined;
  if (remember) {
    if (config.headers.size >= MAX_HEADERS) config.headers.clear();
    config.headers.set(header, { registered: registrations, found });
  }
  return found;
}

/**
 * Every value of each cookie of ours in a `Cookie` header, in the order sent (Hono's `parse`
 * keeps one value of a name, and a forged one sent first would hide ours).
 */
function valuesOf(header: string, prefix: string): Map<ClassInfo, string[]> | undefined {
  let values: Map<ClassInfo, string[]> | undefined;
  for (const pair of header.split(";")) {
    const equals = pair.indexOf("=");
    if (equals === -1) continue;
    const name = pair.slice(0, equals).trim();
    const info = name.startsWith(prefix) ? registry.get(name.slice(prefix.length)) : undefined;
    if (!info) continue;
    values ??= new Map();
    const list = values.get(info);
    const value = decoded(pair.slice(equals + 1).trim());
    if (!list) values.set(info, [value]);
    else if (list.length < MAX_VALUES) list.push(value);
  }
  return values;
}

/** A cookie value as `setCookie` encoded it; a malformed escape is left as it is (and refused). */
function decoded(value: string): string {
  if (!value.includes("%")) return value;
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

function verify(config: Config, key: string, value: string): VerifiedCookie | undefined {
  // A signature is of a key and an id: a value verified for one key is not for another.
  const memo = `${key}=${value}`;
  const known = config.verified.get(memo);
  if (known) return known;
  const verified = verifySessionCookie(key, value, config.secrets);
  if (verified) {
    if (config.verified.size >= MAX_VERIFIED) config.verified.clear();
    config.verified.set(memo, verified);
  }
  return verified;
}
