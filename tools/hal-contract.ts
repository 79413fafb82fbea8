// The HAL's import names, read from kernel/hal.ts itself so the contract has
// one source: the builder checks apps against it and tests check every
// platform implements exactly it.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT } from "./paths.ts";

export function halImportNames(): string[] {
  const src = readFileSync(join(ROOT, "kernel/hal.ts"), "utf8");
  return [...src.matchAll(/@external\("hal", "(\w+)"\)/g)].map((m) => m[1]);
}
