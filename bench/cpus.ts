// W1 and W2 run the load generator (the runner) on CPU 0 and every server on the other CPUs.
// Left to the scheduler, a server process placed beside the load generator stayed there for
// its life: measured in one run, plain Hono with an AsyncLocalStorage middleware answered 118%
// of plain Hono's rate, an offset no number of rounds averages out.
import { spawnSync } from "node:child_process";
import { cpus } from "node:os";

const count = cpus().length;

/** Whether the sides are pinned: two CPUs or more, and `taskset` (util-linux) at hand. */
export const pinned = count >= 2 && spawnSync("taskset", ["-V"]).status === 0;

/** The command and arguments that run `command` on the servers' CPUs. */
export function onServerCpus(command: string, args: string[]): [string, string[]] {
  return pinned ? ["taskset", ["-c", `1-${count - 1}`, command, ...args]] : [command, args];
}

/** Moves every thread of this process to CPU 0 (`true`) or back to all CPUs. */
export function pinRunner(toFirstCpu: boolean): void {
  if (!pinned) return;
  const list = toFirstCpu ? "0" : `0-${count - 1}`;
  const result = spawnSync("taskset", ["-a", "-p", "-c", list, String(process.pid)]);
  if (result.status !== 0) throw new Error(`taskset failed: ${result.stderr}`);
}
