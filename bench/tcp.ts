// TCP benchmark, two parts.
//
// QEMU: bulk throughput between the host's Linux TCP and apps/httpd on QEMU
// over a TAP device in a network namespace (root and /dev/net/tun; skipped
// with the reason otherwise). Host -> guest is tests/helpers/tcpcheck.py
// `up` into the guest's discard port (the guest CRCs every byte and answers
// count and CRC); guest -> host is `down` from its chargen port (the guest
// generates the bytes, the host checks every one). The peer is Linux itself:
// the same client against tcpcheck.py's discard/chargen server on the
// namespace's loopback, in the same session. Median of --runs (default 5).
//
// Simulation: goodput of tests/kernels/tcp-sim (two stacks in one kernel over the
// in-memory link, virtual clock) under 0%, 1% and 5% random loss, per
// congestion controller; deterministic (seeds 1-3, median).
//
//   node tools/cli.js bench tcp [--runs=N] [--bytes=N] [--kvm] [--no-qemu] [--no-sim] [--app=<dir>]
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { join, resolve } from "node:path";
import { loadApp } from "../tools/app.ts";
import { buildImage } from "../tools/image.ts";
import { ROOT } from "../tools/paths.ts";
import { boot } from "../tools/qemu.ts";
import { findTool, TOOLS } from "../tools/toolchain.ts";
import { buildAppWasm, runWasm } from "../tests/helpers/kernel.ts";
import { TapNet, tapUnavailable } from "../tests/helpers/tap.ts";
import { fmt, median, table } from "./stats.ts";
import { flag, value } from "./args.ts";

const run = promisify(execFile);
const CHECK = join(ROOT, "tests/helpers/tcpcheck.py");


/** One tcpcheck.py transfer inside the namespace; Mbit/s from its own timing (connect to last byte). */
async function transfer(ns: string, mode: "up" | "down", addr: string, port: number, bytes: number): Promise<number> {
  const r = await run("ip", ["netns", "exec", ns, "python3", CHECK, mode, addr, String(port), String(bytes)], { encoding: "utf8", timeout: 300_000 });
  const m = new RegExp(`${mode}_ok=1 ${mode}_s=([\\d.]+)`).exec(r.stdout);
  if (!m) throw new Error(`${mode} to ${addr}:${port} failed: ${r.stdout} ${r.stderr}`);
  return (bytes * 8) / Number(m[1]) / 1e6;
}

async function qemuPart(flags: string[]): Promise<void> {
  const runs = flag(flags, "runs", 5);
  const bytes = flag(flags, "bytes", 20_000_000);
  const kvm = flags.includes("--kvm");
  const why = !findTool(TOOLS.qemuX86) ? "no qemu-system-x86_64" : tapUnavailable();
  if (why) {
    console.log(`QEMU/TAP throughput: skipped (${why})\n`);
    return;
  }
  const quiet = { stage: () => {}, info: () => {} };
  // --app=<dir>: another build of httpd's services to measure (a before/after comparison)
  const appDir = value(flags, "app") ?? "apps/httpd";
  const app = loadApp(resolve(ROOT, appDir));
  const img = (await buildImage(app, { arch: "x86_64", outDir: join(ROOT, "build", "bench", app.name) }, quiet)).image;
  const net = new TapNet("tcpb", "10.79.0.1/24");
  try {
    const guest = { up: [] as number[], down: [] as number[] };
    let done: Promise<void> | undefined;
    let seen = "";
    let failure: unknown;
    const r = await boot({
      arch: "x86_64", image: img, memory: "256M", net: "tap", tap: net.tap, netns: net.ns, timeout: 600,
      cmdline: "ip=10.79.0.2/24 gw=10.79.0.1 quit=1 run=590 buf=1048576", extraArgs: kvm ? ["-accel", "kvm"] : [],
      onOutput: (s) => {
        seen += s;
        if (done || !seen.includes("httpd: ready")) return;
        done = (async () => {
          try {
            for (let i = 0; i < runs; i++) {
              guest.up.push(await transfer(net.ns, "up", "10.79.0.2", 9, bytes));
              guest.down.push(await transfer(net.ns, "down", "10.79.0.2", 19, bytes));
            }
          } catch (e) {
            failure = e;
          }
          await run("ip", ["netns", "exec", net.ns, "python3", "-c", 'import urllib.request; urllib.request.urlopen("http://10.79.0.2/quit", timeout=10).read()'], { timeout: 20_000 }).catch(() => {});
        })();
      },
    });
    await done;
    if (failure) throw failure;
    if (r.exitCode !== 0) throw new Error(`guest exited ${r.exitCode}: ${r.output.slice(-2000)}`);

    // The Linux peer: the same client against a Linux server on the namespace's loopback.
    const linux = { up: [] as number[], down: [] as number[] };
    const srv = (kind: string, port: number) => run("ip", ["netns", "exec", net.ns, "python3", CHECK, "server", "127.0.0.1", String(port), "300", String(runs), kind], { timeout: 320_000 });
    const up = srv("discard", 7009);
    const down = srv("chargen", 7019);
    await new Promise((res) => setTimeout(res, 500));
    for (let i = 0; i < runs; i++) {
      linux.up.push(await transfer(net.ns, "up", "127.0.0.1", 7009, bytes));
      linux.down.push(await transfer(net.ns, "down", "127.0.0.1", 7019, bytes));
    }
    await Promise.all([up, down]);

    console.log(`QEMU ${kvm ? "KVM" : "TCG"}, virtio-net over TAP in a namespace; ${bytes / 1e6} MB per transfer, every byte checked, median of ${runs}; 1 MB socket buffers on the guest\n`);
    const row = (dir: string, g: number[], l: number[]) => [dir, fmt(median(g)), fmt(Math.min(...g)) + "-" + fmt(Math.max(...g)), fmt(median(l)), fmt(median(g) / median(l), 3)];
    console.log(table(["direction", "uniwasm guest (Mbit/s)", "range", "Linux loopback peer (Mbit/s)", "guest/peer"], [
      row("host -> guest (discard, guest CRCs)", guest.up, linux.up),
      row("guest -> host (chargen, host checks)", guest.down, linux.down),
    ]));
    console.log("");
  } finally {
    net.close();
  }
}

async function simPart(): Promise<void> {
  const LINK = "bytes=10000000 rate=100000000 delay_us=10000 queue=250000 sndbuf=2097152 rcvbuf=2097152";
  const wasm = await buildAppWasm(join(ROOT, "tests/kernels/tcp-sim"));
  console.log(`simulation (tests/kernels/tcp-sim): 100 Mbit/s, 20 ms RTT, 250 KB queue, 10 MB per run, seeds 1-3 (median), virtual clock\n`);
  const rows: (string | number)[][] = [];
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
      rows.push([cc, `${loss / 10000}%`, fmt(m.g), m.rx, m.rto]);
    }
  }
  console.log(table(["cc", "loss", "goodput (Mbit/s)", "retransmitted segments", "RTOs"], rows));
  console.log("");
}

export async function tcpBench(flags: string[]): Promise<void> {
  if (!flags.includes("--no-qemu")) await qemuPart(flags);
  if (!flags.includes("--no-sim")) await simPart();
}
