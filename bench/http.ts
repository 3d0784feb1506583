// Load over loopback from this process against servers in child processes (W1, W2).
import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { createInterface } from "node:readline";
import autocannon from "autocannon";
import { onServerCpus } from "./cpus.js";

export interface Server {
  url: string;
  child: ChildProcess;
}

/** Starts `file` (under bench/servers) with tsx and resolves once it prints its URL. */
export async function startServer(file: string, env: Record<string, string>): Promise<Server> {
  const [command, args] = onServerCpus(process.execPath, [
    "--import",
    "tsx",
    `bench/servers/${file}`,
  ]);
  const child = spawn(command, args, {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "inherit"],
  });
  for await (const line of createInterface({ input: child.stdout as NodeJS.ReadableStream })) {
    const url = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(line)?.[1];
    if (url) return { url, child };
  }
  throw new Error(`${file} exited before it listened`);
}

/** Resident memory of a process, in MiB (Linux). */
export function rssMiB(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, "utf8").match(/VmRSS:\s+(\d+) kB/);
  return Math.round(Number(line?.[1] ?? 0) / 1024);
}

/**
 * CPU time a process has used, in µs (Linux: user + system, all its threads, in clock ticks
 * of 10 ms: over a 3 s measurement, within 1%).
 */
export function cpuMicros(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? [];
  return (Number(fields[11]) + Number(fields[12])) * 10_000;
}

/**
 * `fetch`, once more if the server closed the kept-alive connection as it was reused: a server
 * closes an idle connection after its keep-alive timeout, which can be just as the runner
 * sends on it (plain Hono's is reused between every other side's turn).
 */
export async function get(url: string, init?: RequestInit): Promise<Response> {
  try {
    return await fetch(url, init);
  } catch (error) {
    const code = ((error as Error).cause as { code?: string } | undefined)?.code;
    if (code !== "UND_ERR_SOCKET") throw error;
    return fetch(url, init);
  }
}

/** A new browser: its first hit creates the state; the cookies it got. */
export async function newSession(url: string): Promise<string> {
  const response = await get(`${url}/hit`);
  await response.text();
  return response.headers
    .getSetCookie()
    .map((line) => line.split(";")[0])
    .join("; ");
}

async function countOf(url: string, cookie: string): Promise<number> {
  return Number(await (await get(`${url}/count`, { headers: { cookie } })).text());
}

export interface LoadResult {
  rps: number;
  p99: number;
  ok: number;
  /** Increments answered 2xx that the state does not hold. */
  lost: number;
  errors: number;
}

/**
 * `seconds` of `GET /hit` with `connections` connections, cycling over `cookies` (one
 * browser each); then the counts of every browser are read back to count lost updates.
 */
export async function load(
  url: string,
  cookies: string[],
  connections: number,
  seconds: number,
): Promise<LoadResult> {
  const before = await mapLimited(cookies, (cookie) => countOf(url, cookie));
  const result = await hammer(url, cookies, connections, seconds);
  const after = await mapLimited(cookies, (cookie) => countOf(url, cookie));
  const applied = after.reduce((sum, count, i) => sum + count - (before[i] ?? 0), 0);
  return {
    ...result,
    // Requests still in flight when the clock stopped are applied but not counted as answered.
    lost: Math.max(0, result.ok - applied),
  };
}

/** The load alone, without the read-backs of `load` (which a server's CPU figure would count). */
export async function hammer(
  url: string,
  cookies: string[],
  connections: number,
  seconds: number,
): Promise<Omit<LoadResult, "lost">> {
  let next = 0;
  const result = await autocannon({
    url: `${url}/hit`,
    connections,
    duration: seconds,
    // One browser: a fixed header. autocannon's per-request hook costs the load generator so
    // much CPU that plain Hono was held at ~48k req/s by it (~57k without): the ceiling would
    // be the client's, and every ratio to it too high.
    ...(cookies.length === 1
      ? { headers: { cookie: cookies[0] as string } }
      : {
          requests: [
            {
              setupRequest: (request) => ({
                ...request,
                headers: { ...request.headers, cookie: cookies[next++ % cookies.length] as string },
              }),
            },
          ],
        }),
  });
  return {
    rps: result.requests.average,
    p99: result.latency.p99,
    ok: result["2xx"],
    errors: result.errors + result.non2xx,
  };
}

/** `fn` over `items`, at most 50 at a time. */
export async function mapLimited<T, R>(items: T[], fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(50, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        results[i] = await fn(items[i] as T);
      }
    }),
  );
  return results;
}
