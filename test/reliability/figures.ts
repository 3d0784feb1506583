import { appendFileSync, mkdirSync } from "node:fs";

/**
 * Records a measured figure for docs/reliability.md: printed, and appended to
 * test-output/figures.jsonl so that one run's figures can be published together.
 */
export function figure(name: string, values: Record<string, unknown>): void {
  const line = JSON.stringify({ name, ...values });
  console.log(`[figure] ${line}`);
  mkdirSync("test-output", { recursive: true });
  appendFileSync("test-output/figures.jsonl", `${line}\n`);
}
