import { sign } from "cookie-signature";
import { NIL, v1, v4, v6, v7 } from "uuid";
import { describe, expect, test } from "vitest";
import { isSessionId, signSessionId, verifySessionCookie } from "../src/cookie.js";

const SECRET = "cookie-test-secret-of-32-characters!";
const OLD = "an-older-cookie-test-secret-of-32-chars";

describe("isSessionId", () => {
  test("accepts canonical lower-case v4 only", () => {
    const id = v4();
    expect(isSessionId(id)).toBe(true);
    for (const other of [
      id.toUpperCase(),
      v1(),
      v6(),
      v7(),
      NIL,
      "ffffffff-ffff-ffff-ffff-ffffffffffff",
      `${id} `,
      `{${id}}`,
      id.replaceAll("-", ""),
      "",
    ]) {
      expect(isSessionId(other), other).toBe(false);
    }
    // The variant nibble must be 8, 9, a or b (RFC 9562).
    expect(isSessionId(`${id.slice(0, 19)}c${id.slice(20)}`)).toBe(false);
  });
});

describe("verifySessionCookie", () => {
  test("round-trips what signSessionId makes: `<id>.<hmac>`, the HMAC of `<key>.<id>` as cookie-signature makes it", () => {
    const id = v4();
    const value = signSessionId("app-state", id, SECRET);
    expect(`app-state.${value}`).toBe(sign(`app-state.${id}`, SECRET));
    expect(value).toMatch(/^[0-9a-f-]{36}\.[A-Za-z0-9+/]{43}$/);
    expect(verifySessionCookie("app-state", value, [SECRET])).toEqual({ id, rotated: false });
  });

  test("a value signed for one key does not verify under another", () => {
    const id = v4();
    const value = signSessionId("prefs", id, SECRET);
    expect(verifySessionCookie("prefs", value, [SECRET])).toEqual({ id, rotated: false });
    for (const key of ["app-state", "pref", "prefs.", "", "Prefs"]) {
      expect(verifySessionCookie(key, value, [SECRET]), key).toBeUndefined();
    }
  });

  test("the legacy form (the id alone signed) verifies under any key, and asks for re-signing", () => {
    const id = v4();
    for (const key of ["app-state", "prefs"]) {
      expect(verifySessionCookie(key, sign(id, SECRET), [SECRET])).toEqual({ id, rotated: true });
    }
    expect(verifySessionCookie("prefs", sign(id, OLD), [SECRET, OLD])).toEqual({
      id,
      rotated: true,
    });
  });

  test("any listed secret verifies; a non-first one asks for re-signing", () => {
    const id = v4();
    const old = signSessionId("app-state", id, OLD);
    expect(verifySessionCookie("app-state", old, [SECRET, OLD])).toEqual({ id, rotated: true });
    expect(verifySessionCookie("app-state", old, [SECRET])).toBeUndefined();
  });

  test.each([
    [
      "a flipped signature",
      (id: string) => sign(id, SECRET).replace(/.$/, (c) => (c === "x" ? "y" : "x")),
    ],
    ["a truncated signature", (id: string) => sign(id, SECRET).slice(0, -1)],
    ["no signature", (id: string) => id],
    ["a signed upper-case id", (id: string) => sign(id.toUpperCase(), SECRET)],
    ["a signed v7 id", () => sign(v7(), SECRET)],
    ["a signed nil id", () => sign(NIL, SECRET)],
    ["a signed traversal", () => sign("../../../etc/passwd", SECRET)],
    ["an over-long value", (id: string) => `${sign(id, SECRET)}${"=".repeat(200)}`],
    ["an empty value", () => ""],
    ["a lone dot", () => "."],
  ])("refuses %s", (_, forge) => {
    expect(verifySessionCookie("app-state", forge(v4()), [SECRET])).toBeUndefined();
  });
});
