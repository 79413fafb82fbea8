// Runs a scenario's (point, seed) jobs on worker threads, one kernel world
// per job, as many at a time as there are workers (default: one per core).
// A run is a pure function of its point and seed, so the order in which
// workers finish changes nothing but the order of the callbacks.

import { existsSync, mkdirSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import { ROOT } from "../../tools/paths.ts";
import { runOne, type RunOutcome } from "./run-one.ts";
import type { SimKernel } from "./build.ts";
import type { LoadedScenario, Point } from "./scenario.ts";

export interface Job {
  id: number;
  point: Point;
  seed: number;
}

export interface WorkerSetup {
  scenarioFile: string;
  module?: string;
  kernelOverrides: Record<string, string>;
  kernelPaths: Record<string, string>;
}

export interface PoolOptions {
  /** Worker threads; 0 or 1 runs the jobs in this thread. Default: one per core. */
  workers?: number;
  /** Called as each job finishes; return true to stop (the remaining jobs are dropped). */
  onOutcome: (job: Job, outcome: RunOutcome) => boolean | void;
}

export async function runJobs(loaded: LoadedScenario, kernels: Record<string, SimKernel>, kernelOverrides: Record<string, string>, jobs: Job[], opts: PoolOptions): Promise<void> {
  const n = Math.min(opts.workers ?? availableParallelism(), jobs.length);
  if (n <= 1) {
    for (const j of jobs) if (opts.onOutcome(j, await runOne(loaded, kernels, j.point, j.seed))) return;
    return;
  }
  const setup: WorkerSetup = {
    scenarioFile: loaded.file,
    module: loaded.module,
    kernelOverrides,
    kernelPaths: Object.fromEntries(Object.entries(kernels).map(([k, v]) => [k, v.path])),
  };
  const script = workerScript();
  const queue = jobs.slice();
  const workers: Worker[] = [];
  await new Promise<void>((resolve, reject) => {
    let running = 0;
    let stopped = false;
    const finish = (err?: Error) => {
      if (stopped) return;
      stopped = true;
      for (const w of workers) void w.terminate();
      if (err) reject(err);
      else resolve();
    };
    const feed = (w: Worker) => {
      const job = queue.shift();
      if (!job) {
        if (running === 0) finish();
        return;
      }
      running++;
      (w as any).job = job;
      w.postMessage(job);
    };
    for (let i = 0; i < n; i++) {
      const w = new Worker(`globalThis.UNIWASM_ROOT = ${JSON.stringify(ROOT)}; import(${JSON.stringify(script)});`, { eval: true, workerData: setup });
      workers.push(w);
      w.on("message", (m: { ready?: boolean; id?: number; outcome?: RunOutcome; error?: string }) => {
        if (m.ready) return feed(w);
        running--;
        const job = (w as any).job as Job;
        if (m.error !== undefined) return finish(new Error(`the run of seed ${job.seed} at ${JSON.stringify(job.point)} failed: ${m.error}`));
        if (opts.onOutcome(job, m.outcome!)) return finish();
        feed(w);
      });
      w.on("error", (e) => finish(e));
      w.on("exit", (code) => {
        if (!stopped && code !== 0) finish(new Error(`an experiment worker exited with code ${code}`));
      });
    }
  });
}

let bundled: string | undefined;

/** The worker's JavaScript: next to this file in an installed package (dist/sim-worker.js, tools/api/entries.ts), else bundled once from worker.ts. */
function workerScript(): string {
  const here = import.meta.url;
  const sibling = new URL("./sim-worker.js", here);
  if (here.endsWith(".js") && existsSync(fileURLToPath(sibling))) return sibling.href;
  if (!bundled) {
    const dir = join(ROOT, "node_modules", ".cache", "uniwasm", "sim-worker");
    mkdirSync(dir, { recursive: true });
    const outfile = join(dir, `worker-${process.pid}.mjs`);
    // esbuild is a dependency; loaded only here
    const { buildSync } = requireEsbuild();
    buildSync({ entryPoints: [join(ROOT, "host/sim/worker.ts")], bundle: true, platform: "node", format: "esm", target: "node20", packages: "external", outfile, logLevel: "error" });
    process.once("exit", () => rmSync(outfile, { force: true }));
    bundled = pathToFileURL(outfile).href;
  }
  return bundled;
}

function requireEsbuild(): typeof import("esbuild") {
  return createRequire(join(ROOT, "package.json"))("esbuild");
}
