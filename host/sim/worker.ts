// A worker thread of the experiment runner (pool.ts): loads the scenario and
// the kernels once, then runs the (point, seed) jobs it is sent, one at a
// time, and posts back each outcome.

import { parentPort, workerData } from "node:worker_threads";
import { kernelsFromPaths, runOne } from "./run-one.ts";
import { loadScenario } from "./scenario.ts";
import type { Job, WorkerSetup } from "./pool.ts";

const setup = workerData as WorkerSetup;
const loaded = await loadScenario(setup.scenarioFile, setup.kernelOverrides, setup.module);
const kernels = kernelsFromPaths(setup.kernelPaths);

parentPort!.on("message", async (job: Job) => {
  try {
    const outcome = await runOne(loaded, kernels, job.point, job.seed);
    parentPort!.postMessage({ id: job.id, outcome });
  } catch (e) {
    parentPort!.postMessage({ id: job.id, error: (e as Error)?.stack ?? String(e) });
  }
});
parentPort!.postMessage({ ready: true });
