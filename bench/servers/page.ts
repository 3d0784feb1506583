/** The small HTML page every side renders, so that they do the same work per request. */
export function page(count: number): string {
  return `<!doctype html><html><head><title>Counter</title></head><body><h1>Count</h1><p id="count">${count}</p><form method="post"><button>Increment</button></form></body></html>`;
}

/** Prints the URL the runner waits for. */
export function listening(port: number): void {
  console.log(`listening on http://127.0.0.1:${port}`);
}

export const SECRET = "benchmark-secret-that-is-at-least-32-characters";
