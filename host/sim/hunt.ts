// Failure hunting: a scenario run over many seeds (every point of its sweep,
// or the points chosen), each run checked against invariants: the built-in
// ones (no kernel trapped or failed, none still running at the deadline
// unless it is a daemon, linear memory within maxMemory) and the scenario's
// own (every byte delivered once and in order, say). A failing run is named
// by its point and seed, and since a run is a pure function of both, one
// command replays it with a pcap of every link and the kernels' trace.

import { mkdirSync } from "node:fs";
import { relative, resolve } from "node:path";
import { runJobs, type Job } from "./pool.ts";
import { buildKernels, runOne, type RunOutcome } from "./run-one.ts";
import { loadScenario, points, ScenarioError, type Point } from "./scenario.ts";

export interface HuntOptions {
  /** How many seeds, from `from` on. Default 1000. */
  seeds?: number;
  /** The first seed. Default 1. */
  from?: number;
  /** Only the points whose parameters have these values (all points by default). */
  where?: Point;
  workers?: number;
  kernels?: Record<string, string>;
  /** Stop after this many failing runs. Default 1. */
  stopAfter?: number;
  onProgress?: (done: number, total: number, outcome?: RunOutcome) => void;
  log?: (line: string) => void;
}

export interface HuntResult {
  /** Runs checked. */
  checked: number;
  total: number;
  failures: RunOutcome[];
}

export async function huntFailures(file: string, opts: HuntOptions = {}): Promise<HuntResult> {
  const overrides = opts.kernels ?? {};
  const loaded = await loadScenario(file, overrides);
  const kernels = await buildKernels(loaded, opts.log);
  const pts = selectPoints(points(loaded.scenario), opts.where ?? {});
  const n = opts.seeds ?? 1000;
  const from = opts.from ?? 1;
  const jobs: Job[] = [];
  for (let s = from; s < from + n; s++) for (const point of pts) jobs.push({ id: jobs.length, point, seed: s });
  const failures: RunOutcome[] = [];
  let checked = 0;
  const stopAfter = opts.stopAfter ?? 1;
  opts.onProgress?.(0, jobs.length);
  await runJobs(loaded, kernels, overrides, jobs, {
    workers: opts.workers,
    onOutcome: (_job, outcome) => {
      checked++;
      if (outcome.violations.length > 0) failures.push(outcome);
      opts.onProgress?.(checked, jobs.length, outcome);
      return failures.length >= stopAfter;
    },
  });
  // workers finish out of order: report the lowest failing seeds first
  failures.sort((a, b) => a.seed - b.seed);
  return { checked, total: jobs.length, failures };
}

export interface ReplayOptions {
  where?: Point;
  kernels?: Record<string, string>;
  /** Folder for one pcap per link. */
  pcapDir: string;
  /** The kernels' trace, as JSON lines. */
  trace: string;
  log?: (line: string) => void;
}

/** Runs one point at one seed again, capturing every link and the trace. */
export async function replayRun(file: string, seed: number, opts: ReplayOptions): Promise<RunOutcome> {
  const loaded = await loadScenario(file, opts.kernels ?? {});
  const kernels = await buildKernels(loaded, opts.log);
  const pts = selectPoints(points(loaded.scenario), opts.where ?? {});
  if (pts.length !== 1) throw new ScenarioError(`a replay needs one point, but ${pts.length} match: choose with --set ${Object.keys(loaded.scenario.params ?? {}).map((k) => `${k}=...`).join(" --set ")}`);
  mkdirSync(opts.pcapDir, { recursive: true });
  return runOne(loaded, kernels, pts[0], seed, { pcapDir: opts.pcapDir, trace: opts.trace });
}

/** The command that replays a failing run (what failure hunting prints). */
export function replayCommand(file: string, outcome: RunOutcome, kernels: Record<string, string> = {}): string {
  const rel = (p: string) => relative(process.cwd(), resolve(p)) || ".";
  const parts = ["uniwasm", "hunt", rel(file), "--replay", String(outcome.seed)];
  for (const [k, v] of Object.entries(outcome.point)) parts.push("--set", `${k}=${v}`);
  for (const [k, d] of Object.entries(kernels)) parts.push("--kernel", `${k}=${rel(d)}`);
  parts.push("--pcap", `replay-${outcome.seed}`, "--trace", `replay-${outcome.seed}.jsonl`);
  return parts.join(" ");
}

function selectPoints(all: Point[], where: Point): Point[] {
  for (const k of Object.keys(where)) {
    if (!all.some((p) => k in p)) throw new ScenarioError(`--set ${k}: the scenario has no parameter ${k}`);
  }
  // values from the command line are strings: compare as text
  const chosen = all.filter((p) => Object.entries(where).every(([k, v]) => String(p[k]) === String(v)));
  if (chosen.length === 0) throw new ScenarioError(`no point of the sweep has ${Object.entries(where).map(([k, v]) => `${k}=${v}`).join(" ")}`);
  return chosen;
}
