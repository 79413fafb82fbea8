// Scheduler benchmark: per-operation costs of spawn+run of an empty task and
// of timer insert, cancel and expire (100,000 pending), measured by one kernel
// (bench/sched-kernel) that times itself with clock_ns and prints the median
// of 7 rounds. The same wasm runs in Node (real clock, V8) and, when QEMU is
// installed, as the AOT-compiled x86_64 image; sleep-lateness on QEMU is
// reported alongside. Prints a table; figures go in docs/scheduler.md.
//
//   node tools/cli.js bench sched [--no-qemu] [--kvm]

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Machine } from "../host/machine.ts";
import { loadApp } from "../tools/app.ts";
import { StageCache } from "../tools/cache.ts";
import { buildImage } from "../tools/image.ts";
import { ROOT } from "../tools/paths.ts";
import { boot } from "../tools/qemu.ts";
import { findTool, TOOLS } from "../tools/toolchain.ts";
import { buildWasm } from "../tools/wasm-build.ts";

const quiet = { stage: () => {}, info: () => {} };
const OPS = ["spawn+run", "timer-insert", "timer-cancel", "timer-expire", "timer-expire+run"];

function parse(output: string): Map<string, number> {
  const m = new Map<string, number>();
  for (const [, op, ns] of output.matchAll(/^bench (\S+) ([\d.]+)$/gm)) m.set(op, Number(ns));
  if (!output.includes("bench done")) throw new Error(`the benchmark kernel did not finish:\n${output}`);
  return m;
}

async function node(): Promise<Map<string, number>> {
  const app = loadApp(join(ROOT, "bench/sched-kernel"));
  const out = join(ROOT, "build", "bench", "sched-kernel");
  const w = await buildWasm(app, out, new StageCache(join(out, ".stages.json")), quiet);
  const m = new Machine({ memory: 128 << 20, clock: "real", console: () => {} });
  const r = await m.run(readFileSync(w.wasm));
  if (r.exitCode !== 0) throw new Error(`exit ${r.exitCode}:\n${r.output}`);
  return parse(r.output);
}

async function qemu(app: string, extra: string[]): Promise<string> {
  const a = loadApp(join(ROOT, app));
  const img = await buildImage(a, { arch: "x86_64", outDir: join(ROOT, "build", "bench", a.name) }, quiet);
  const r = await boot({ arch: "x86_64", image: img.image, memory: "128M", timeout: 300, onOutput: () => {}, extraArgs: extra });
  if (r.exitCode !== 0) throw new Error(`${app} on QEMU: exit ${r.exitCode} ${r.reason ?? ""}\n${r.output}`);
  return r.output.replace(/\r/g, "");
}

export async function schedBench(args: string[]): Promise<void> {
  const cols: [string, Map<string, number>][] = [];
  process.stderr.write("node (V8, real clock)...\n");
  cols.push(["node ns/op", await node()]);
  let lateness = "";
  if (!args.includes("--no-qemu") && findTool(TOOLS.qemuX86) && findTool(TOOLS.clang)) {
    const accels: [string, string[]][] = [["qemu-tcg ns/op", ["-accel", "tcg"]]];
    if (args.includes("--kvm")) accels.push(["qemu-kvm ns/op", ["-accel", "kvm"]]);
    for (const [label, extra] of accels) {
      process.stderr.write(`${label}...\n`);
      cols.push([label, parse(await qemu("bench/sched-kernel", extra))]);
      const out = await qemu("tests/kernels/sleep-lateness", extra);
      lateness += `${label.split(" ")[0]}: ${/median .*/.exec(out)?.[0] ?? "?"}\n`;
    }
  }

  const w = Math.max(...OPS.map((o) => o.length)) + 2;
  let table = "op".padEnd(w) + cols.map(([c]) => c.padStart(16)).join("") + "\n";
  for (const op of OPS) table += op.padEnd(w) + cols.map(([, m]) => (m.get(op)?.toFixed(1) ?? "-").padStart(16)).join("") + "\n";
  process.stdout.write(table);
  if (lateness) process.stdout.write("\nsleep-lateness (200 sleeps of 1-5 ms)\n" + lateness);
}
