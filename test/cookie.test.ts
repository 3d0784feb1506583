import { sign } from "cookie-signature";
import { NIL, v1, v4, v6, v7 } from "uuid";
import { describe, expect, test } from "vitest";
import { isSessionId, signSessionId, verifySessionCookie } from "../src/cookie.js";

const SECRET = "s".repeat(32);
const OLD = "o".repeat(32);

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
  test("round-trips what signSessionId makes, as cookie-signature's `<id>.<hmac>`", () => {
    const id = v4();
    const value = signSessionId(id, SECRET);
    expect(value).toBe(sign(id, SECRET));
    expect(verifySessionCookie(value, [SECRET])).toEqual({ id, rotated: false });
  });

  test("any listed secret verifies; a non-first one asks for re-signing", () => {
    const id = v4();
    expect(verifySessionCookie(sign(id, OLD), [SECRET, OLD])).toEqual({ id, rotated: true });
    expect(verifySessionCookie(sign(id, OLD), [SECRET])).toBeUndefined();
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
    expect(verifySessionCookie(forge(v4()), [SECRET])).toBeUndefined();
  });
});
