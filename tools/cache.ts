// Stage reuse: each stage records a hash of everything it read (input bytes,
// flags, tool versions); a rebuild with the same hash and its outputs present
// skips the stage.

import { AsyncLocalStorage } from "node:async_hooks";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";

/** The build folders the current async call chain holds (so a build within a build of the same folder goes on). */
const heldLocks = new AsyncLocalStorage<Set<string>>();
/** In this process, the last build of each folder (a second one waits for it). */
const localQueue = new Map<string, Promise<unknown>>();

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Runs `fn` holding `dir`'s build lock: builds of one folder, from this
 * process or another (two test files building the same app, a CLI beside a
 * test run), take turns instead of writing the same files at once. The lock
 * is a `.lock` folder (mkdir is atomic) with the holder's pid; one whose
 * holder died is taken over. Re-entrant along one call chain (buildImage
 * holds its folder while buildWasm writes into the same one).
 */
export async function withBuildLock<T>(dir: string, fn: () => Promise<T>): Promise<T> {
  const key = resolve(dir);
  const held = heldLocks.getStore();
  if (held?.has(key)) return fn();
  const before = localQueue.get(key) ?? Promise.resolve();
  let release!: () => void;
  const mine = new Promise<void>((r) => (release = r));
  const queued = before.then(() => mine);
  localQueue.set(key, queued);
  await before.catch(() => {});
  const lock = join(key, ".lock");
  let acquired = false;
  try {
    mkdirSync(key, { recursive: true });
    while (!acquired) {
      try {
        mkdirSync(lock);
        writeFileSync(join(lock, "pid"), String(process.pid));
        acquired = true;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
        let pid = NaN;
        try {
          pid = Number(readFileSync(join(lock, "pid"), "utf8"));
        } catch {}
        const since = statSync(lock, { throwIfNoEntry: false });
        if (!since) continue; // released meanwhile
        // No pid yet: the holder is between its mkdir and its write, unless that was long ago.
        // (And a lock held for half an hour is taken as left behind, its pid reused.)
        const age = Date.now() - since.mtimeMs;
        const stale = (Number.isInteger(pid) && pid > 0 ? !processAlive(pid) : age > 10_000) || age > 30 * 60_000;
        if (stale) rmSync(lock, { recursive: true, force: true });
        else await new Promise((r) => setTimeout(r, 100));
      }
    }
    const set = new Set(held ?? []);
    set.add(key);
    return await heldLocks.run(set, fn);
  } finally {
    if (acquired) rmSync(lock, { recursive: true, force: true });
    release();
    if (localQueue.get(key) === queued) localQueue.delete(key);
  }
}

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
