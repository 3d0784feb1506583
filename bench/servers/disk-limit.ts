// The disk's limit for durable state: the raw atomic replace (write a temporary file, rename
// it over the old one) of a payload, in a loop for SECONDS over FILES files in DIR. Prints
// writes per second (files named like state files, existing before the clock starts). No serialization, no HTTP: what any durable file store is bounded by.
import { closeSync, openSync, renameSync, writeSync } from "node:fs";
import { join } from "node:path";

const dir = process.env.DIR as string;
const seconds = Number(process.env.SECONDS ?? 3);
const files = Number(process.env.FILES ?? 1);
const payload = "x".repeat(Number(process.env.BYTES ?? 200));

const names = Array.from({ length: files }, () => join(dir, crypto.randomUUID()));
const write = (file: string) => {
  const temp = `${file}.tmp`;
  const fd = openSync(temp, "w", 0o600);
  writeSync(fd, payload);
  closeSync(fd);
  renameSync(temp, file);
};
// Steady state, as for a store in use: every write replaces an existing file.
for (const file of names) write(file);

let writes = 0;
const end = performance.now() + seconds * 1000;
while (performance.now() < end) {
  write(names[writes % files] as string);
  writes++;
}
console.log(JSON.stringify({ writesPerSecond: writes / seconds }));
