// Stage reuse: each stage records a hash of everything it read (input bytes,
// flags, tool versions); a rebuild with the same hash and its outputs present
// skips the stage.

import { createHash } from "node:crypto";
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";

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

/**
 * Hash of an app's sources: every .ts file under `dirs` (the app, the kernel,
 * the drivers), and every file the app's files reach by relative imports
 * outside those folders (a test kernel sharing another app's module, say), so
 * a change to any of them is a different build.
 */
export function hashSources(appDir: string, dirs: string[]): string {
  const inside = (f: string) => dirs.some((d) => f.startsWith(d + "/"));
  const seen = new Set<string>();
  const outside: string[] = [];
  const queue: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      if (name === "node_modules" || name.startsWith(".")) continue;
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (name.endsWith(".ts")) queue.push(p);
    }
  };
  if (existsSync(appDir)) walk(appDir);
  while (queue.length) {
    const file = queue.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    if (!inside(file)) outside.push(file);
    for (const m of readFileSync(file, "utf8").matchAll(/(?:from|import)\s*\(?\s*"(\.{1,2}\/[^"]+)"/g)) {
      const base = resolve(dirname(file), m[1]);
      const target = [base, `${base}.ts`, join(base, "index.ts")].find((c) => c.endsWith(".ts") && existsSync(c) && statSync(c).isFile());
      if (target && !seen.has(target)) queue.push(target);
    }
  }
  return hashOf(hashTree(dirs, (n) => n.endsWith(".ts")), ...outside.sort().flatMap((f) => [f, readFileSync(f)]));
}
