// `uniwasm bench lowmem`: apps/httpd under wrk -c50 (`Connection: close`,
// 612-byte answers, as bench peers' least-memory search) at small -m against
// the same image at 256M, over a TAP device in a network namespace. Rounds
// alternate the sizes (the order reversed every other round) so that machine
// noise hits all alike; reported as medians with their range, the ratio to
// 256M, wrk's errors, and what the guest said at exit (GET /quit): its memory
// map, the packet pool's high water and how often it was empty, the heap and
// its collections.
//
//   ./uniwasm bench lowmem [--mems=4,8] [--runs=3] [--duration=20]
import { execFile } from "node:child_process";
import { loadavg } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { loadApp } from "../tools/app.ts";
import { buildImage } from "../tools/image.ts";
import { ROOT } from "../tools/paths.ts";
import { qemuArgs } from "../tools/qemu.ts";
import { requireTool } from "../tools/toolchain.ts";
import { TapNet, tapUnavailable } from "../tests/helpers/tap.ts";
import { Running, firstOk, wrk, HOST, GUEST, type WrkResult } from "./peers.ts";
import { flag, value } from "./args.ts";
import { fmt, median, table } from "./stats.ts";

const run = promisify(execFile);
const REFERENCE = 256;

interface LowRun {
  w?: WrkResult;
  /** The guest's exit lines: memory map, packet buffers, heap. */
  map?: string;
  packets?: string;
  heap?: string;
  failure?: string;
}

async function one(qemu: string, net: TapNet, image: string, mem: number, seconds: number): Promise<LowRun> {
  const vm = new Running(qemu, net, qemuArgs({ arch: "x86_64", image, memory: `${mem}M`, net: "tap", tap: net.tap, cmdline: `ip=${GUEST}/24 gw=${HOST} quit=1` }));
  const r: LowRun = {};
  try {
    if ((await firstOk(vm, net, 120)) === undefined) {
      r.failure = `no HTTP 200 within 120 s: ${vm.output.slice(-400)}`;
      return r;
    }
    r.w = await wrk(net, 50, seconds, true).catch((e: Error) => {
      r.failure = e.message;
      return undefined;
    });
    await run("ip", ["netns", "exec", net.ns, "curl", "-s", "-m", "5", `http://${GUEST}/quit`]).catch(() => {});
    for (let i = 0; i < 100 && !vm.exited; i++) await new Promise((res) => setTimeout(res, 100));
    const line = (re: RegExp) => re.exec(vm.output)?.[0];
    r.map = line(/^memory: .*$/m);
    r.packets = line(/^httpd: packet buffers .*$/m);
    r.heap = line(/^httpd: heap .*$/m);
    if (/out of memory/.test(vm.output)) r.failure = line(/^uniwasm: out of memory.*$/m);
  } finally {
    await vm.stop();
  }
  return r;
}

export async function lowmemBench(flags: string[]): Promise<void> {
  const why = tapUnavailable();
  if (why) {
    console.log(`bench lowmem: skipped (${why})`);
    return;
  }
  const load = loadavg()[0].toFixed(2);
  const mems = [...(value(flags, "mems")?.split(",").map(Number) ?? [4, 8]), REFERENCE];
  const runs = flag(flags, "runs", 3);
  const seconds = flag(flags, "duration", 20);
  const qemu = requireTool("qemuX86");
  const httpd = await buildImage(loadApp(join(ROOT, "apps/httpd")), { arch: "x86_64", outDir: join(ROOT, "build", "bench", "httpd") }, { stage: () => {}, info: () => {} });
  const net = new TapNet("lowmem", `${HOST}/24`);
  net.exec(["ip", "neigh", "replace", GUEST, "lladdr", "52:54:00:12:34:56", "dev", net.tap, "nud", "permanent"]);
  const results = new Map<number, LowRun[]>(mems.map((m) => [m, []]));
  try {
    for (let i = 0; i < runs; i++) {
      for (const m of i % 2 ? [...mems].reverse() : mems) {
        const r = await one(qemu, net, httpd.image, m, seconds);
        process.stderr.write(`round ${i + 1}/${runs} -m ${m}M: ${r.w ? `${fmt(r.w.rps, 0)} req/s, ${r.w.errors} errors` : r.failure}\n`);
        results.get(m)!.push(r);
      }
    }
  } finally {
    net.close();
  }
  const ref = median(results.get(REFERENCE)!.filter((r) => r.w).map((r) => r.w!.rps));
  const rows = mems.map((m) => {
    const rs = results.get(m)!;
    const rps = rs.filter((r) => r.w).map((r) => r.w!.rps);
    const med = rps.length ? median(rps) : 0;
    return [
      `${m}M`, fmt(med, 0), rps.length > 1 ? `${fmt(Math.min(...rps), 0)}-${fmt(Math.max(...rps), 0)}` : "", fmt(med / ref, 2),
      rs.map((r) => (r.w ? r.w.errors : "failed")).join(", "), rs.filter((r) => r.w).map((r) => fmt(r.w!.p99, 1)).join(", "),
    ];
  });
  console.log(`bench lowmem: apps/httpd, wrk -c50 ${seconds} s Connection: close, ${runs} rounds alternating, load average at the start ${load}\n`);
  console.log(table(["-m", "req/s (median)", "range", `/ ${REFERENCE}M`, "wrk errors per run", "p99 ms per run"], rows));
  for (const m of mems) {
    const last = results.get(m)!.at(-1)!;
    console.log(`\n-m ${m}M, the last run's guest:\n  ${[last.map, last.packets, last.heap, last.failure].filter(Boolean).join("\n  ")}`);
  }
}
