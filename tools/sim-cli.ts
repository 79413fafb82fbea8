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
import { World as KernelWorld } from "../host/world.ts";
import { WorldRunner } from "../host/sim/runner.ts";
import { parseHostForward, UserNetwork } from "../host/sim/user-net.ts";
import { UserError } from "./errors.ts";
import { EXIT_SIGNAL, hostfwdProblem } from "./qemu.ts";
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

/**
 * Ctrl-C (or SIGTERM) in the middle of a sweep: says how far it got and what
 * becomes of the finished runs, then exits 130 (143). Returns the progress
 * callback that keeps the count, drawing `bar` as well.
 */
function stoppable(bar: (done: number, total: number, o?: RunOutcome) => void, after: (failing: RunOutcome[]) => string): (done: number, total: number, o?: RunOutcome) => void {
  let done = 0;
  let total = 0;
  const failing: RunOutcome[] = [];
  const stop = (sig: NodeJS.Signals) => {
    process.stderr.write(`\nuniwasm: stopped by ${sig} after ${done} of ${total} runs; ${after(failing)}\n`);
    process.exit(EXIT_SIGNAL[sig as "SIGINT" | "SIGTERM"]);
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  return (d, t, o) => {
    done = d;
    total = t;
    if (o?.violations.length) failing.push(o);
    bar(d, t, o);
  };
}

export async function cmdExperiment(p: Parsed): Promise<number> {
  const file = p.positional[0];
  const onProgress = stoppable(progressBar("experiment"), () => "the finished ones are kept in runs.jsonl, and the same command resumes from there");
  const r = await scenarioErrors(() =>
    runExperiment(file, { outDir: one(p, "--out"), workers: workersOf(p), kernels: pairs(p, "--kernel"), onProgress, log: buildLog }),
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
      onProgress: stoppable(progressBar("hunt"), (failing) =>
        failing.length ? `failing so far: ${failing.map((f) => `seed ${f.seed} at ${pointText(f.point)}`).join(", ")}` : "none of them broke an invariant"),
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

/** --hostfwd's value: QEMU's syntax (tools/qemu.ts), TCP only. */
export function hostfwdCheck(v: string): string | undefined {
  return hostfwdProblem(v) ?? (v.startsWith("tcp:") ? undefined : "only tcp is forwarded into the simulated network");
}

export interface NodeSettings {
  memory: number;
  cmdline?: string;
  seed?: bigint;
}

/**
 * `uniwasm node` on the simulated network (or with --until): the kernel's
 * simulation build in a World, a slirp-like gateway, host ports forwarded in
 * under the real clock, and the capture written however the run ends.
 */
export async function runNodeSim(p: Parsed, simWasm: Uint8Array, s: NodeSettings): Promise<number> {
  const rules = (p.flags.get("--hostfwd") ?? []).map((r) => {
    try {
      return parseHostForward(r);
    } catch (e) {
      throw new UserError((e as Error).message);
    }
  });
  const clockFlag = one(p, "--clock");
  if (rules.length && clockFlag === "virtual") throw new UserError("--hostfwd runs the simulation on the real clock (host connections arrive in real time): leave out --clock virtual");
  const clock = rules.length ? "real" : ((clockFlag ?? "virtual") as "virtual" | "real");
  const until = one(p, "--until");
  const world = new KernelWorld();
  const machine = world.machine({ memory: s.memory, cmdline: s.cmdline, seed: s.seed });
  const pcap = one(p, "--pcap");
  const net = one(p, "--net") === "sim" ? new UserNetwork(world, machine, { pcap }) : undefined;
  const runner = new WorldRunner(world, clock);
  if (net) net.onHostActivity = () => runner.poke();
  const savePcap = () => {
    const path = net?.savePcap();
    if (path) process.stderr.write(`uniwasm: network traffic written to ${path}\n`);
  };
  // the capture survives whatever ends the run: a signal, an error, an exit
  let saved = false;
  const saveOnce = () => {
    if (!saved) savePcap();
    saved = true;
  };
  process.once("exit", saveOnce);
  let signal: NodeJS.Signals | undefined;
  const onSignal = (sig: NodeJS.Signals) => {
    signal = sig;
    runner.stop();
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  try {
    for (const r of rules) {
      await net!.forward(r).catch((e: Error) => {
        throw new UserError(e.message);
      });
      process.stderr.write(`uniwasm: forwarding host ${r.hostAddr}:${r.hostPort} to the guest's ${r.guestAddr}:${r.guestPort}\n`);
    }
    await world.boot(machine, simWasm);
    const why = await runner.run(until === undefined ? undefined : BigInt(Math.round(Number(until) * 1e9)));
    net?.close();
    saveOnce();
    if (why === "stopped") {
      process.stderr.write(`uniwasm: stopped by ${signal} at ${fmtSeconds(world.clock.peek())} virtual s\n`);
      return EXIT_SIGNAL[signal as "SIGINT" | "SIGTERM"];
    }
    if (why === "until") {
      process.stderr.write(`uniwasm: stopped at the virtual time limit (--until ${until}): the kernel was still running\n`);
      return 124;
    }
    const code = machine.result!.exitCode;
    process.stderr.write(`uniwasm: kernel exited with code ${code}\n`);
    return code;
  } finally {
    net?.close();
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}

function fmtSeconds(ns: bigint): string {
  return (Number(ns) / 1e9).toFixed(3);
}
