// One run of a scenario: one point, one seed. The unit the experiment runner
// farms out to its workers, that failure hunting checks, and that a replay
// repeats with captures on.

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { EXIT_ABORT, EXIT_CPU, EXIT_RUNTIME, EXIT_TRAP } from "../exit-codes.ts";
import { buildSimKernel, type SimKernel } from "./build.ts";
import { hashOf } from "../../tools/cache.ts";
import { buildDeclared, measureDeclared, type LoadedScenario, type Point, type RunContext } from "./scenario.ts";
import { World, type SimNode } from "./world.ts";

export interface RunOutcome {
  point: Point;
  seed: number;
  metrics: Record<string, number>;
  /** What went wrong (failure hunting's invariants); empty when nothing did. */
  violations: string[];
  /** Virtual seconds the run took. */
  seconds: number;
  wallMs: number;
}

export interface CaptureOptions {
  /** Write every link's capture here, as <link>.pcap. */
  pcapDir?: string;
  /** Write the kernels' event trace here (JSON lines). */
  trace?: string;
}

/** Builds (or reuses) every kernel the scenario names. */
export async function buildKernels(loaded: LoadedScenario, log?: (line: string) => void): Promise<Record<string, SimKernel>> {
  const out: Record<string, SimKernel> = {};
  for (const [name, dir] of Object.entries(loaded.kernelDirs)) {
    // one build folder per app folder, so a variant of an app does not evict the original from the cache
    out[name] = await buildSimKernel(dir, { outDir: join("build", "sim", `${name}-${hashOf(dir).slice(0, 8)}`), log });
  }
  return out;
}

/** The kernels as workers get them: read back from the paths the main thread built. */
export function kernelsFromPaths(paths: Record<string, string>): Record<string, SimKernel> {
  const out: Record<string, SimKernel> = {};
  for (const [name, path] of Object.entries(paths)) out[name] = { name, path, wasm: readFileSync(path), cached: true };
  return out;
}

const EXIT_NAMES: Record<number, string> = { [EXIT_ABORT]: "abort", [EXIT_TRAP]: "wasm trap", [EXIT_CPU]: "CPU exception", [EXIT_RUNTIME]: "the platform could not continue it", 75: "out of memory" };

export async function runOne(loaded: LoadedScenario, kernels: Record<string, SimKernel>, point: Point, seed: number, capture: CaptureOptions = {}): Promise<RunOutcome> {
  const s = loaded.scenario;
  const world = new World({ seed, clockReadNs: s.clockReadNs });
  const ctx: RunContext = { world, kernels, point, seed };
  let daemons: SimNode[];
  if (s.build) daemons = ((await s.build(ctx)) || undefined)?.daemons ?? [];
  else daemons = buildDeclared(s, ctx);
  if (capture.pcapDir) for (const l of world.links) l.capture(join(capture.pcapDir, `${l.name}.pcap`));
  if (capture.trace) world.trace(capture.trace);
  const until = s.until ?? 60;
  let report;
  try {
    report = await world.run({ until });
  } finally {
    world.close();
  }
  const violations: string[] = [];
  for (const n of world.nodes) {
    const code = n.result?.exitCode;
    if (code === undefined) {
      if (!daemons.includes(n)) violations.push(`node ${n.name} is still running at ${until} s: stuck past the deadline`);
    } else if (code !== 0) {
      const why = EXIT_NAMES[code] ? ` (${EXIT_NAMES[code]})` : "";
      violations.push(`node ${n.name} exited with code ${code}${why}: ${lastLines(n.output, 3)}`);
    }
    const mem = n.booted && n.result?.exitCode !== EXIT_RUNTIME ? memoryOf(n) : 0;
    if (s.maxMemory !== undefined && mem > s.maxMemory) violations.push(`node ${n.name} holds ${mem} bytes of linear memory, more than maxMemory ${s.maxMemory}`);
  }
  const metrics = s.measure ? s.measure(ctx, report) : measureDeclared(s, report);
  if (s.invariants) violations.push(...s.invariants(ctx, report));
  return { point, seed, metrics, violations, seconds: report.seconds, wallMs: report.wallMs };
}

function memoryOf(n: SimNode): number {
  try {
    return n.machine.ram.length;
  } catch {
    return 0; // never instantiated
  }
}

/**
 * The end of a kernel's output that says why it ended: from the platform's
 * last report line ("uniwasm: wasm trap: ...", which the call chain follows)
 * when there is one, else the last lines.
 */
function lastLines(text: string, n: number): string {
  const lines = text.trimEnd().split("\n");
  const report = lines.findLastIndex((l) => l.startsWith("uniwasm: "));
  return (report >= 0 ? lines.slice(report, report + n) : lines.slice(-n)).join(" | ");
}
