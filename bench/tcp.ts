// TCP goodput in simulation (apps/tcp-sim: two stacks in one kernel over the
// in-memory link, virtual clock) under 0%, 1% and 5% random loss, per
// congestion controller. Deterministic: the same seed gives the same figure.
// Run: npx vite-node bench/tcp.ts
// (QEMU/TAP throughput against Linux is not measured yet: see docs/tcp.md.)
import { join } from "node:path";
import { buildAppWasm, runWasm } from "../tests/helpers/kernel.ts";
import { ROOT } from "../tools/paths.ts";

const LINK = "bytes=10000000 rate=100000000 delay_us=10000 queue=250000 sndbuf=2097152 rcvbuf=2097152";
const wasm = await buildAppWasm(join(ROOT, "apps/tcp-sim"));
console.log(`link: 100 Mbit/s, 20 ms RTT, 250 KB queue, 10 MB per run, seeds 1-3 (median)\n`);
console.log("| cc | loss | goodput (Mbit/s) | retransmitted segments | RTOs |");
console.log("|---|---:|---:|---:|---:|");
for (const cc of ["newreno", "cubic"]) {
  for (const loss of [0, 10000, 50000]) {
    const runs: { g: number; rx: number; rto: number }[] = [];
    for (const seed of [1, 2, 3]) {
      const r = await runWasm(wasm, { cmdline: `${LINK} cc=${cc} loss=${loss} seed=${seed}`, memory: 1 << 30 });
      const kv: Record<string, number> = {};
      let side = "";
      for (const l of r.output.split("\n")) {
        if (l.startsWith("-- ")) side = l.slice(3);
        const m = /^([\w.]+)=(\d+)$/.exec(l);
        if (m && (side === "" || side === "A")) kv[m[1]] = Number(m[2]);
      }
      if (kv.bad !== 0 || kv.bytes !== 10_000_000) throw new Error(`run failed: ${r.output.slice(-2000)}`);
      runs.push({ g: kv.goodput_kbps / 1000, rx: kv["tcp.retransSegments"] ?? 0, rto: kv["tcp.rtoExpirations"] ?? 0 });
    }
    runs.sort((a, b) => a.g - b.g);
    const m = runs[1];
    console.log(`| ${cc} | ${loss / 10000}% | ${m.g.toFixed(1)} | ${m.rx} | ${m.rto} |`);
  }
}
