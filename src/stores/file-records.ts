/**
 * How FileStore lays out a state file: one record per line, the last complete line current.
 *
 * A file is first written whole and renamed into place (old or new, never torn); a small state
 * written again to the file this process knows is appended to it instead, a single `write`, far
 * cheaper than creating and renaming a file (bench/ W1). A process killed in the middle of an
 * append leaves a partial last line without its newline: readers skip it and get the record
 * before, so a reader still sees the old state or the new one.
 *
 * hono-persist's records are JSON, which never holds a raw newline, and are stored as they are.
 * Any other string given to the store (it takes any string) that holds a newline or a lone
 * surrogate, or begins with `"`, is stored as a JSON string literal, read back by its `"`.
 */

const QUOTE = 34;

/** `data` as one line, without its newline. */
export function recordLine(data: string): string {
  // A lone surrogate would come back from UTF-8 as U+FFFD: JSON escapes it.
  return data.charCodeAt(0) === QUOTE || data.includes("\n") || !wellFormed(data)
    ? JSON.stringify(data)
    : data;
}

// ES2024, in Node since 20 (the lib this package compiles against is older).
const wellFormed = (text: string) => (text as string & { isWellFormed(): boolean }).isWellFormed();

/**
 * The current record of a file's text, or `undefined` when its last complete line cannot be
 * read back. A text without any newline is one whole record (a file written by another tool).
 */
export function currentRecord(text: string): string | undefined {
  const last = text.lastIndexOf("\n");
  if (last === -1) return text;
  // Whatever follows the last newline is an append cut short: the line before it is current.
  const line = text.slice(text.lastIndexOf("\n", last - 1) + 1, last);
  if (line.charCodeAt(0) !== QUOTE) return line;
  try {
    const data: unknown = JSON.parse(line);
    return typeof data === "string" ? data : undefined;
  } catch {
    return undefined;
  }
}
