// Simulation speed: how many simulated seconds, and how much simulated TCP
// goodput, one wall-clock second buys, for a two-node bulk transfer and as
// the world grows to 8 and 32 nodes (pairs of tests/kernels/tcp-peer, each
// client uploading to its server, every node on one switch through its own
// 20 Mbit/s, 1 ms link). The peer is the two-node world in the same session:
// the scaling columns are ratios to it. Medians of --runs (default 5) rounds,
// each running every size once, with the range, after one warm-up run. In one thread, as each of the experiment
// runner's workers runs.
//
//   ./uniwasm bench sim [--runs=N] [--bytes=N]
import { join } from "node:path";
import { buildSimKernel, World, type SimKernel } from "../host/sim/index.ts";
import { ROOT } from "../tools/paths.ts";
import { fmt, median, table } from "./stats.ts";
import { flag } from "./args.ts";


interface Sample {
  virtualS: number;
  wallS: number;
  /** Application bytes delivered, all pairs. */
  bytes: number;
}

async function once(kernel: SimKernel, nodes: number, bytes: number): Promise<Sample> {
  const world = new World({ seed: 1 });
  const sw = world.switch("sw");
  for (let p = 0; p < nodes / 2; p++) {
    const server = `10.0.${p >> 7}.${2 * (p & 127) + 2}`;
    const client = `10.0.${p >> 7}.${2 * (p & 127) + 1}`;
    const s = world.node(`s${p}`, { kernel, memory: "32M", cmdline: `ip=${server}/16 role=server expect=1` });
    const c = world.node(`c${p}`, { kernel, memory: "32M", cmdline: `ip=${client}/16 role=client peer=${server} bytes=${bytes} modes=up linger_ms=10` });
    for (const n of [s, c]) world.link(n, sw, { delayMs: 1, bandwidth: 20e6, queue: 64 });
  }
  const r = await world.run({ until: 300 });
  let delivered = 0;
  for (const [name, n] of Object.entries(r.nodes)) {
    if (n.exitCode !== 0) throw new Error(`bench sim: node ${name} ended with ${n.exitCode}: ${n.output.slice(-500)}`);
    if (name.startsWith("c")) delivered += n.counters.cli_bytes_checked ?? 0;
  }
  return { virtualS: r.seconds, wallS: r.wallMs / 1000, bytes: delivered };
}

export async function simBench(flags: string[]): Promise<void> {
  const runs = flag(flags, "runs", 5);
  const bytes = flag(flags, "bytes", 2_000_000);
  const kernel = await buildSimKernel(join(ROOT, "tests/kernels/tcp-peer"), { outDir: join(ROOT, "build", "bench", "sim-tcp-peer") });
  await once(kernel, 2, bytes); // warm-up: the first run pays for compiling the kernel's wasm
  const sizes = [2, 8, 32];
  // rounds alternate the sizes, so load on the machine hits all of them alike
  const samples = new Map<number, Sample[]>(sizes.map((n) => [n, []]));
  for (let i = 0; i < runs; i++) for (const n of sizes) samples.get(n)!.push(await once(kernel, n, bytes));
  const rows: (string | number)[][] = [];
  let base: { simPerWall: number; mbitPerWall: number } | undefined;
  for (const nodes of sizes) {
    const ss = samples.get(nodes)!;
    const simPerWall = ss.map((s) => s.virtualS / s.wallS);
    const mbitPerWall = ss.map((s) => (s.bytes * 8) / 1e6 / s.wallS);
    const m = { simPerWall: median(simPerWall), mbitPerWall: median(mbitPerWall) };
    base ??= m;
    const range = (xs: number[]) => `${fmt(Math.min(...xs))}-${fmt(Math.max(...xs))}`;
    rows.push([
      nodes,
      fmt(ss[0].virtualS, 2),
      `${fmt(m.simPerWall, 2)} (${range(simPerWall)})`,
      `${fmt(m.mbitPerWall)} (${range(mbitPerWall)})`,
      fmt(m.simPerWall / base.simPerWall, 2),
      fmt(m.mbitPerWall / base.mbitPerWall, 2),
    ]);
  }
  process.stdout.write(`\nsimulation speed: pairs of tcp-peer, each uploading ${bytes / 1e6} MB over 20 Mbit/s, 1 ms links to one switch; median of ${runs} (range)\n\n`);
  process.stdout.write(table(["nodes", "virtual s", "virtual s per wall s", "simulated goodput, Mbit per wall s", "virtual s/wall s vs 2 nodes", "goodput/wall s vs 2 nodes"], rows) + "\n");
}
