// The experiment runner: every point of a scenario's parameter sweep, over
// several seeds, on worker threads; a CSV of the points (mean, sd, min, max
// of each metric over the seeds), a CSV of every run, and an SVG chart with
// error bars per chart spec. Finished runs are appended to runs.jsonl as they
// come in, keyed by the scenario's bytes (a TypeScript scenario's bundle:
// with the modules it imports), the kernels' bytes, the point and the seed,
// so an interrupted sweep resumes where it stopped and a changed scenario,
// helper module or kernel is run afresh.

import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import { hashOf } from "../../tools/cache.ts";
import { renderChart, type ChartSeries } from "./chart.ts";
import { runJobs, type Job } from "./pool.ts";
import { buildKernels, type RunOutcome } from "./run-one.ts";
import { loadScenario, points, seedsOf, type LoadedScenario, type Point } from "./scenario.ts";
import type { SimKernel } from "./build.ts";

export interface ExperimentOptions {
  /** Where results go. Default: results/<scenario name> under the current directory. */
  outDir?: string;
  /** Worker threads (default: one per core; 1 runs in this thread). */
  workers?: number;
  /** Kernel name -> another app folder, instead of the scenario's. */
  kernels?: Record<string, string>;
  /** Progress as runs finish (the CLI draws a bar with it). */
  onProgress?: (done: number, total: number, outcome?: RunOutcome) => void;
  /** Build messages. */
  log?: (line: string) => void;
}

export interface MetricSummary {
  mean: number;
  sd: number;
  min: number;
  max: number;
  n: number;
}

export interface PointSummary {
  point: Point;
  metrics: Record<string, MetricSummary>;
  /** Runs of this point that broke an invariant. */
  failures: number;
}

export interface ExperimentResult {
  outDir: string;
  points: PointSummary[];
  runs: RunOutcome[];
  /** Runs taken from the cache of an earlier (maybe interrupted) sweep. */
  reused: number;
  /** Files written. */
  files: string[];
}

interface CachedRun {
  key: string;
  outcome: RunOutcome;
}

export async function runExperiment(file: string, opts: ExperimentOptions = {}): Promise<ExperimentResult> {
  const overrides = opts.kernels ?? {};
  const loaded = await loadScenario(file, overrides);
  const name = loaded.scenario.name ?? basename(file).replace(/\.\w+$/, "");
  const outDir = resolve(opts.outDir ?? join("results", name));
  mkdirSync(outDir, { recursive: true });
  const kernels = await buildKernels(loaded, opts.log);
  const keyOf = runKeyer(loaded, kernels);

  const pts = points(loaded.scenario);
  const seeds = seedsOf(loaded.scenario);
  const jobs: Job[] = [];
  for (const point of pts) for (const seed of seeds) jobs.push({ id: jobs.length, point, seed });

  const cacheFile = join(outDir, "runs.jsonl");
  const cached = readCache(cacheFile);
  const done = new Map<number, RunOutcome>();
  for (const j of jobs) {
    const hit = cached.get(keyOf(j.point, j.seed));
    if (hit) done.set(j.id, hit);
  }
  const reused = done.size;
  const pending = jobs.filter((j) => !done.has(j.id));
  opts.onProgress?.(done.size, jobs.length);
  await runJobs(loaded, kernels, overrides, pending, {
    workers: opts.workers,
    onOutcome: (job, outcome) => {
      done.set(job.id, outcome);
      appendFileSync(cacheFile, JSON.stringify({ key: keyOf(job.point, job.seed), outcome } satisfies CachedRun) + "\n");
      opts.onProgress?.(done.size, jobs.length, outcome);
    },
  });

  const runs = jobs.map((j) => done.get(j.id)!);
  const summaries = pts.map((point) => summarize(point, runs.filter((r) => samePoint(r.point, point))));
  const files = writeOutputs(loaded, outDir, summaries, runs);
  return { outDir, points: summaries, runs, reused, files };
}

/** A run's cache key: what it is a pure function of. */
export function runKeyer(loaded: LoadedScenario, kernels: Record<string, SimKernel>): (point: Point, seed: number) => string {
  // a bundle holds what the scenario imports too (a .js/.mjs scenario is imported as it is: its own bytes only)
  const scenario = loaded.module && loaded.module !== loaded.file ? readFileSync(loaded.module) : loaded.source;
  const base = hashOf(scenario, ...Object.entries(kernels).flatMap(([k, v]) => [k, v.wasm]));
  return (point, seed) => hashOf(base, JSON.stringify(point), String(seed));
}

function readCache(file: string): Map<string, RunOutcome> {
  const m = new Map<string, RunOutcome>();
  if (!existsSync(file)) return m;
  for (const line of readFileSync(file, "utf8").split("\n")) {
    if (!line.trim()) continue;
    try {
      const r = JSON.parse(line) as CachedRun;
      m.set(r.key, r.outcome);
    } catch {
      // a line cut short by an interruption: that run is simply run again
    }
  }
  return m;
}

function samePoint(a: Point, b: Point): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

export function summarize(point: Point, runs: RunOutcome[]): PointSummary {
  const names = [...new Set(runs.flatMap((r) => Object.keys(r.metrics)))];
  const metrics: Record<string, MetricSummary> = {};
  for (const m of names) {
    const v = runs.map((r) => r.metrics[m]).filter((x) => typeof x === "number" && Number.isFinite(x));
    const n = v.length;
    const mean = n ? v.reduce((a, b) => a + b, 0) / n : NaN;
    let sd = n > 1 ? Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1)) : 0;
    if (sd < Math.abs(mean) * 1e-9) sd = 0; // equal values: rounding, not spread
    metrics[m] = { mean, sd, min: n ? Math.min(...v) : NaN, max: n ? Math.max(...v) : NaN, n };
  }
  return { point, metrics, failures: runs.filter((r) => r.violations.length > 0).length };
}

function writeOutputs(loaded: LoadedScenario, outDir: string, points: PointSummary[], runs: RunOutcome[]): string[] {
  const params = Object.keys(loaded.scenario.params ?? {});
  const metrics = [...new Set(runs.flatMap((r) => Object.keys(r.metrics)))];
  const files: string[] = [];
  const write = (name: string, text: string) => {
    const p = join(outDir, name);
    writeFileSync(p, text);
    files.push(p);
  };
  const pointRows = [[...params, "runs", "failures", ...metrics.flatMap((m) => [`${m}_mean`, `${m}_sd`, `${m}_min`, `${m}_max`])].join(",")];
  for (const p of points) {
    const n = Math.max(0, ...metrics.map((m) => p.metrics[m]?.n ?? 0));
    pointRows.push([...params.map((k) => csv(p.point[k])), n, p.failures, ...metrics.flatMap((m) => {
      const s = p.metrics[m];
      return s ? [num(s.mean), num(s.sd), num(s.min), num(s.max)] : ["", "", "", ""];
    })].join(","));
  }
  write("points.csv", pointRows.join("\n") + "\n");
  const runRows = [[...params, "seed", "virtual_s", "wall_ms", "violations", ...metrics].join(",")];
  for (const r of runs) runRows.push([...params.map((k) => csv(r.point[k])), r.seed, num(r.seconds), num(r.wallMs), csv(r.violations.join("; ")), ...metrics.map((m) => num(r.metrics[m]))].join(","));
  write("runs.csv", runRows.join("\n") + "\n");

  for (const c of loaded.scenario.charts ?? []) {
    const facets = c.facet ? [...new Set(points.map((p) => p.point[c.facet!]))] : [undefined];
    for (const f of facets) {
      const inFacet = points.filter((p) => f === undefined || p.point[c.facet!] === f);
      const seriesKeys = c.series ? [...new Set(inFacet.map((p) => p.point[c.series!]))] : [undefined];
      const series: ChartSeries[] = seriesKeys.map((sk) => ({
        label: sk === undefined ? c.y : `${c.series}=${sk}`,
        points: inFacet.filter((p) => sk === undefined || p.point[c.series!] === sk).map((p) => ({ x: Number(p.point[c.x]), mean: p.metrics[c.y]?.mean ?? NaN, sd: p.metrics[c.y]?.sd ?? NaN })),
      }));
      const title = (c.title ?? `${c.y} by ${c.x}`) + (f === undefined ? "" : `, ${c.facet}=${f}`);
      const fname = `${c.y}-by-${c.x}${f === undefined ? "" : `-${c.facet}-${String(f).replace(/[^\w.-]/g, "_")}`}.svg`;
      write(fname, renderChart({ title, xLabel: c.x, yLabel: c.y, logX: c.logX, series }));
    }
  }
  return files;
}

function csv(v: unknown): string {
  const s = String(v ?? "");
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

function num(v: number | undefined): string {
  return v === undefined || !Number.isFinite(v) ? "" : String(Number(v.toPrecision(6)));
}
