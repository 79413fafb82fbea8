// Stage reuse: each stage records a hash of everything it read (input bytes,
// flags, tool versions); a rebuild with the same hash and its outputs present
// skips the stage.

import { createHash } from "node:crypto";
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export class StageCache {
  private state: Record<string, string>;
  constructor(private readonly file: string) {
    try {
      this.state = JSON.parse(readFileSync(file, "utf8"));
    } catch {
      this.state = {};
    }
  }
  fresh(stage: string, key: string, outputs: string[]): boolean {
    return this.state[stage] === key && outputs.every((o) => existsSync(o));
  }
  record(stage: string, key: string): void {
    this.state[stage] = key;
    writeFileSync(this.file, JSON.stringify(this.state, null, 1));
  }
}

export function hashOf(...parts: (string | Uint8Array)[]): string {
  const h = createHash("sha256");
  for (const p of parts) {
    h.update(p);
    h.update("\0");
  }
  return h.digest("hex").slice(0, 32);
}

/** Hash of every file under `dirs` whose name passes `accept`, paths included. */
export function hashTree(dirs: string[], accept: (name: string) => boolean): string {
  const files: string[] = [];
  const walk = (d: string) => {
    if (!existsSync(d)) return;
    for (const name of readdirSync(d).sort()) {
      if (name === "node_modules" || name.startsWith(".")) continue;
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (accept(name)) files.push(p);
    }
  };
  dirs.forEach(walk);
  return hashOf(...files.flatMap((f) => [f, readFileSync(f)]));
}
