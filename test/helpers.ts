import { mkdtempSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Hono } from "hono";
import { currentRecord } from "../src/stores/file-records.js";

export const SECRET = "test-secret-that-is-at-least-32-characters-long";

/** The record a FileStore file holds now (its last complete line). */
export function readState(file: string): string | undefined {
  return currentRecord(readFileSync(file, "utf8"));
}

/** A fresh directory, removed by the returned function. */
export function tempDir(): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), "hono-persist-"));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** One browser: keeps the cookies a server sets and sends them back, as a browser does. */
export class Browser {
  readonly cookies = new Map<string, string>();
  readonly #fetch: (path: string, init: RequestInit) => Promise<Response>;

  constructor(target: Pick<Hono, "request"> | string) {
    this.#fetch =
      typeof target === "string"
        ? (path, init) => fetch(new URL(path, target), { ...init, redirect: "manual" })
        : async (path, init) => target.request(path, init);
  }

  async request(path: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    if (this.cookies.size > 0) {
      headers.set(
        "Cookie",
        [...this.cookies].map(([name, value]) => `${name}=${value}`).join("; "),
      );
    }
    const response = await this.#fetch(path, { ...init, headers });
    for (const line of response.headers.getSetCookie()) {
      const [pair = ""] = line.split(";");
      const index = pair.indexOf("=");
      const name = pair.slice(0, index);
      if (/;\s*Max-Age=0/i.test(line)) this.cookies.delete(name);
      else this.cookies.set(name, pair.slice(index + 1));
    }
    return response;
  }

  async text(path: string, init: RequestInit = {}): Promise<string> {
    return (await this.request(path, init)).text();
  }

  /** The decoded value of a cookie: `<uuid>.<signature>`. */
  cookie(name: string): string | undefined {
    const value = this.cookies.get(name);
    return value === undefined ? undefined : decodeURIComponent(value);
  }
}

/**
 * Replaces a state file's content in place, keeping its modification time: FileStore reads the
 * mtime as the expiry deadline, so a plain write would make the file look expired.
 */
export function overwrite(file: string, content: string): void {
  const { atime, mtime } = statSync(file);
  writeFileSync(file, content);
  utimesSync(file, atime, mtime);
}
