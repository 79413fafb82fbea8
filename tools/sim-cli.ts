// The simulation verbs of the command line: `experiment` (a parameter sweep
// over seeds, on worker threads, to CSV and SVG) and `hunt` (many seeds
// checked against invariants; a failure is printed with the command that
// replays it). The work is in host/sim/; this is flags, a progress bar and
// the printed summary.

import { relative } from "node:path";
import { runExperiment } from "../host/sim/experiment.ts";
import { huntFailures, replayCommand, replayRun } from "../host/sim/hunt.ts";
import type { RunOutcome } from "../host/sim/run-one.ts";
import { ScenarioError, type Point } from "../host/sim/scenario.ts";
import { UserError } from "./errors.ts";
import { one, type OptionSpec, type Parsed } from "./verbs.ts";

const intCheck = (v: string) => (/^\d+$/.test(v) ? undefined : "expected a non-negative integer");
const pairCheck = (v: string) => (/^[\w-]+=.+$/.test(v) ? undefined : "expected name=value");

export const SIM_OPT = {
  workers: { name: "--workers", value: "<n>", check: intCheck, help: "worker threads running the simulations", default: "one per core" },
  kernel: { name: "--kernel", value: "<name=dir>", repeat: true, check: pairCheck, help: "run the scenario's kernel <name> from another app folder (a variant under study)" },
  set: { name: "--set", value: "<param=value>", repeat: true, check: pairCheck, help: "only the points of the sweep where the parameter has this value" },
} satisfies Record<string, OptionSpec>;

function pairs(p: Parsed, flag: string): Record<string, string> {
  return Object.fromEntries((p.flags.get(flag) ?? []).map((v) => v.split(/=(.*)/s, 2) as [string, string]));
}

function workersOf(p: Parsed): number | undefined {
  const w = one(p, "--workers");
  return w === undefined ? undefined : Number(w);
}

/** A one-line progress bar on stderr (redrawn in place on a terminal, every 10% otherwise). */
function progressBar(label: string): (done: number, total: number, o?: RunOutcome) => void {
  const tty = process.stderr.isTTY;
  const t0 = Date.now();
  let lastDecile = -1;
  let failures = 0;
  return (done, total, o) => {
    if (o && o.violations.length) failures++;
    const frac = total ? done / total : 1;
    const width = 30;
    const bar = "#".repeat(Math.round(frac * width)).padEnd(width, ".");
    const elapsed = (Date.now() - t0) / 1000;
    const eta = done > 0 && done < total ? ` eta ${Math.ceil((elapsed / done) * (total - done))} s` : "";
    const line = `${label} [${bar}] ${done}/${total} runs${failures ? `, ${failures} failing` : ""}${eta}`;
    if (tty) process.stderr.write(`\r${line}\x1b[K${done === total ? "\n" : ""}`);
    else if (Math.floor(frac * 10) !== lastDecile || done === total) {
      lastDecile = Math.floor(frac * 10);
      process.stderr.write(line + "\n");
    }
  };
}

const buildLog = (line: string) => process.stderr.write(`  ${line}\n`);

function scenarioErrors<T>(f: () => Promise<T>): Promise<T> {
  return f().catch((e) => {
    if (e instanceof ScenarioError) throw new UserError(e.message);
    throw e;
  });
}

export async function cmdExperiment(p: Parsed): Promise<number> {
  const file = p.positional[0];
  const r = await scenarioErrors(() =>
    runExperiment(file, { outDir: one(p, "--out"), workers: workersOf(p), kernels: pairs(p, "--kernel"), onProgress: progressBar("experiment"), log: buildLog }),
  );
  const failing = r.points.reduce((n, x) => n + x.failures, 0);
  process.stderr.write(`uniwasm: ${r.runs.length} runs (${r.reused} reused from an earlier sweep) of ${r.points.length} points${failing ? `, ${failing} broke an invariant (see runs.csv)` : ""}\n`);
  for (const f of r.files) process.stderr.write(`uniwasm: wrote ${relative(process.cwd(), f)}\n`);
  return 0;
}

export async function cmdHunt(p: Parsed): Promise<number> {
  const file = p.positional[0];
  const kernels = pairs(p, "--kernel");
  const where: Point = pairs(p, "--set");
  const replay = one(p, "--replay");
  for (const f of ["--pcap", "--trace"]) if (replay === undefined && p.flags.has(f)) throw new UserError(`${f} goes with --replay <seed> (a hunt itself captures nothing: it prints the seed to replay)`);
  if (replay !== undefined) {
    const seed = Number(replay);
    const pcapDir = one(p, "--pcap") ?? `replay-${seed}`;
    const trace = one(p, "--trace") ?? `replay-${seed}.jsonl`;
    const o = await scenarioErrors(() => replayRun(file, seed, { where, kernels, pcapDir, trace, log: buildLog }));
    process.stderr.write(`uniwasm: seed ${seed} at ${pointText(o.point)}: ${o.violations.length ? "FAILS" : "passes"} (${o.seconds} virtual s)\n`);
    for (const v of o.violations) process.stderr.write(`  ${v}\n`);
    process.stderr.write(`uniwasm: captures in ${pcapDir}/ (one pcap per link), the kernels' trace in ${trace}\n`);
    return o.violations.length ? 1 : 0;
  }
  const r = await scenarioErrors(() =>
    huntFailures(file, {
      seeds: Number(one(p, "--seeds") ?? 1000),
      from: Number(one(p, "--from") ?? 1),
      where,
      workers: workersOf(p),
      kernels,
      stopAfter: Number(one(p, "--stop-after") ?? 1),
      onProgress: progressBar("hunt"),
      log: buildLog,
    }),
  );
  if (r.failures.length === 0) {
    process.stderr.write(`uniwasm: ${r.checked} runs, every invariant held\n`);
    return 0;
  }
  for (const f of r.failures) {
    process.stdout.write(`FAIL seed ${f.seed} at ${pointText(f.point)}\n`);
    for (const v of f.violations) process.stdout.write(`  ${v}\n`);
    process.stdout.write(`  replay with a pcap and the kernel trace:\n    ${replayCommand(file, f, kernels)}\n`);
  }
  process.stderr.write(`uniwasm: ${r.failures.length} failing of ${r.checked} runs checked\n`);
  return 1;
}

function pointText(p: Point): string {
  const s = Object.entries(p).map(([k, v]) => `${k}=${v}`).join(" ");
  return s || "the scenario's only point";
}
