// `uniwasm bench peers`: uniwasm's apps/httpd against a Linux guest serving
// the same files with nginx, both on the same QEMU (the flags of
// tools/qemu.ts's qemuArgs, the same -m, virtio-net over a TAP device in a
// network namespace). The Linux guest is Debian's kernel with an initramfs of
// busybox, nginx and redis-server (bench/linux-guest/build.sh, cached).
// Rounds alternate between the guests so that machine noise hits both alike.
//
// Measured: QEMU start to the first HTTP 200; wrk requests/s and p50/p99
// latency at 1, 10 and 50 connections with `Connection: close` and with
// keep-alive; a 20 MB download (Mbit/s and time to first byte); the least
// -m at which each serves a wrk -c50 run without an error, and a minute of
// it at -m 8M; the tasks uniwasm's scheduler reports as longer than 5 ms
// under each load, in wall-clock time and (one more boot under
// `-icount shift=0`) in the guest's own instructions; image sizes.
// Writes a Markdown report with SVG charts to bench/results/.
//
//   ./uniwasm bench peers [--runs=N] [--duration=S] [--mem=M] [--no-memory] [--memory-duration=S]
//   ./uniwasm bench peers --bulk-only [--runs=N] [--mem=M]   only the 20 MB download, printed (no report)
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, statSync, writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { loadApp } from "../tools/app.ts";
import { buildImage } from "../tools/image.ts";
import { ROOT } from "../tools/paths.ts";
import { qemuArgs } from "../tools/qemu.ts";
import { requireTool } from "../tools/toolchain.ts";
import { TapNet, tapUnavailable } from "../tests/helpers/tap.ts";
import { barChart, type Bar } from "./chart.ts";
import { fmt, median, table } from "./stats.ts";
import { flag } from "./args.ts";

const run = promisify(execFile);
export const HOST = "10.81.0.1";
export const GUEST = "10.81.0.2";
export const SMALL = "/612"; // the size of nginx's welcome page
const BULK_BYTES = 20_000_000;
const BULK = `/${BULK_BYTES}`;
/** The longest task the goal allows under wrk -c50 (µs); uniwasm's scheduler reports longer ones. */
const LONG_TASK_US = 5000;
/**
 * The report threshold for the guest-work runs: under `-icount shift=0` the
 * guest's clock counts its own instructions (1 ns each), so a run's reported
 * length is the work the task did, not the host's scheduling of QEMU.
 */
const WORK_TASK_US = 1000;
const ICOUNT = ["-icount", "shift=0"];
/** The goal's loads, measured for guest work per task. */
const WORK_LOADS = [{ conns: 50, close: true }, { conns: 50, close: false }];
/** A minute of wrk -c50 at this memory is the goal's endurance run. */
const ENDURANCE_MEM = "8M";
const ENDURANCE_S = 60;

/** Tasks the scheduler reported as longer than LONG_TASK_US in `text`: how many, the longest (ms) and whose. */
export function longTasks(text: string): { count: number; longestMs: number; name: string } {
  let count = 0, longestMs = 0, name = "";
  for (const m of text.matchAll(/sched: long task '([^']*)' ran ([\d.]+) us/g)) {
    count++;
    if (Number(m[2]) / 1000 > longestMs) [longestMs, name] = [Number(m[2]) / 1000, m[1]];
  }
  return { count, longestMs, name };
}


/** One of the two guests: how to boot it with a given amount of RAM. */
interface Guest {
  name: string;
  /**
   * QEMU's arguments for this guest with `mem` of RAM on `tap`; `bulk`: also
   * serve the 20 MB file; `longTaskUs`: uniwasm's long-task report threshold.
   */
  args(mem: string, tap: string, bulk?: boolean, longTaskUs?: number): string[];
  /** Bytes of what QEMU loads (the image; or kernel + initramfs). */
  size: number;
  sizeNote: string;
}

/** The Linux guest's kernel and initramfs (bench/linux-guest/build.sh, cached). */
export async function linuxGuest(): Promise<[string, string]> {
  const built = await run(join(ROOT, "bench/linux-guest/build.sh"), [join(ROOT, "build", "linux-guest")], { encoding: "utf8", timeout: 600_000 });
  const [vmlinuz, initrd] = built.stdout.trim().split(" ");
  return [vmlinuz, initrd];
}

async function guests(): Promise<Guest[]> {
  const quiet = { stage: () => {}, info: () => {} };
  const httpd = await buildImage(loadApp(join(ROOT, "apps/httpd")), { arch: "x86_64", outDir: join(ROOT, "build", "bench", "httpd") }, quiet);
  const [vmlinuz, initrd] = await linuxGuest();
  const net = { arch: "x86_64" as const, net: "tap" as const, cmdlineBase: `ip=${GUEST}/24 gw=${HOST}` };
  return [
    {
      name: "uniwasm httpd",
      // The scheduler reports every task run over LONG_TASK_US (the goal's bound),
      // each on a line of its own (long_task_report_ms=0), so they can be counted.
      args: (mem, tap, _bulk, longTaskUs = LONG_TASK_US) => qemuArgs({ arch: net.arch, image: httpd.image, memory: mem, net: net.net, tap, cmdline: `${net.cmdlineBase} long_task_us=${longTaskUs} long_task_report_ms=0` }),
      size: httpd.sizes.image,
      sizeNote: "image",
    },
    {
      name: "Linux + nginx",
      // The 20 MB file lives in the guest's RAM (its root is an initramfs): only when the bulk download needs it.
      args: (mem, tap, bulk = true) => [
        ...qemuArgs({ arch: net.arch, image: vmlinuz, memory: mem, net: net.net, tap, cmdline: `console=ttyS0 quiet ${net.cmdlineBase}${bulk ? ` bulk=${BULK_BYTES}` : ""}` }),
        "-initrd", initrd,
      ],
      size: statSync(vmlinuz).size + statSync(initrd).size,
      sizeNote: "kernel + initramfs",
    },
  ];
}

/** A running guest: QEMU inside the namespace, its console collected. */
export class Running {
  readonly proc: ChildProcess;
  output = "";
  exited = false;
  readonly startedAt = Date.now();
  constructor(qemu: string, net: TapNet, args: string[]) {
    this.proc = spawn("ip", ["netns", "exec", net.ns, qemu, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    this.proc.stdout!.setEncoding("utf8");
    this.proc.stdout!.on("data", (d: string) => (this.output += d));
    this.proc.stderr!.on("data", (d: Buffer) => (this.output += d.toString()));
    this.proc.on("close", () => (this.exited = true));
  }
  async stop(): Promise<void> {
    if (this.exited) return;
    const closed = new Promise((res) => this.proc.once("close", res));
    this.proc.kill("SIGTERM");
    await Promise.race([closed, new Promise((res) => setTimeout(res, 5000))]);
    if (!this.exited) this.proc.kill("SIGKILL");
  }
}

/** Seconds from QEMU's start to the guest's first HTTP 200 (bench/first-ok.py), or undefined at the deadline. */
export async function firstOk(g: Running, net: TapNet, deadlineS: number): Promise<number | undefined> {
  const r = await run("ip", ["netns", "exec", net.ns, "python3", join(ROOT, "bench/first-ok.py"), GUEST, "80", SMALL, String(deadlineS)], { encoding: "utf8", timeout: (deadlineS + 10) * 1000 }).catch(() => undefined);
  return r ? Number(r.stdout.trim()) - g.startedAt / 1000 : undefined;
}

export interface WrkResult {
  rps: number;
  p50: number; // ms
  p99: number; // ms
  requests: number;
  errors: number; // socket errors + non-2xx
}

const unitMs = (v: string, u: string) => Number(v) * (u === "us" ? 1e-3 : u === "s" ? 1000 : u === "m" ? 60000 : 1);

export async function wrk(net: TapNet, conns: number, seconds: number, close: boolean, path = SMALL): Promise<WrkResult> {
  const args = ["netns", "exec", net.ns, "wrk", "--latency", "-t", "1", "-c", String(conns), "-d", `${seconds}s`, "--timeout", "5s"];
  if (close) args.push("-H", "Connection: close");
  args.push(`http://${GUEST}${path}`);
  const r = await run("ip", args, { encoding: "utf8", timeout: (seconds + 30) * 1000 }).catch((e: { stdout?: string; stderr?: string; message: string }) => {
    throw new Error(`wrk -c${conns}${close ? " (close)" : ""} failed: ${(e.stderr || e.stdout || e.message).trim().slice(0, 500)}`);
  });
  const o = r.stdout;
  const lat = (p: string) => {
    const m = new RegExp(`^\\s+${p}%\\s+([\\d.]+)(us|ms|s|m)\\s*$`, "m").exec(o);
    return m ? unitMs(m[1], m[2]) : NaN;
  };
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(o);
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(o);
  return {
    rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(o)?.[1] ?? 0),
    p50: lat("50"),
    p99: lat("99"),
    requests: Number(/(\d+) requests in/.exec(o)?.[1] ?? 0),
    errors: (sock ? sock.slice(1).reduce((a, b) => a + Number(b), 0) : 0) + (non2xx ? Number(non2xx[1]) : 0),
  };
}

async function bulk(net: TapNet): Promise<{ mbps: number; ttfb: number }> {
  const r = await run("ip", ["netns", "exec", net.ns, "curl", "-s", "-o", "/dev/null", "-m", "120", "-w", "%{http_code} %{size_download} %{speed_download} %{time_starttransfer}", `http://${GUEST}${BULK}`], { encoding: "utf8", timeout: 130_000 });
  const [code, size, speed, ttfb] = r.stdout.trim().split(" ");
  if (code !== "200" || Number(size) !== BULK_BYTES) throw new Error(`bulk download: HTTP ${code}, ${size} bytes`);
  return { mbps: (Number(speed) * 8) / 1e6, ttfb: Number(ttfb) * 1000 };
}

const LOADS = [
  { conns: 1, close: true }, { conns: 10, close: true }, { conns: 50, close: true },
  { conns: 1, close: false }, { conns: 10, close: false }, { conns: 50, close: false },
];
const loadName = (l: { conns: number; close: boolean }) => `${l.close ? "close" : "keep-alive"} c${l.conns}`;

interface Round {
  first?: number;
  wrk: WrkResult[];
  /** Per load of LOADS: the long tasks the guest reported during it. */
  long: ReturnType<typeof longTasks>[];
  bulk?: { mbps: number; ttfb: number };
  failure?: string;
}

/**
 * Runs wrk with each of `ls` against the booted `vm`, adding each load's
 * figures and the long tasks the guest reported during it to `r`; false (and
 * `r.failure`, with the guest's console) when wrk could not run one.
 */
async function loads(vm: Running, net: TapNet, ls: typeof LOADS, seconds: number, r: { wrk: WrkResult[]; long: ReturnType<typeof longTasks>[]; failure?: string }): Promise<boolean> {
  for (const l of ls) {
    const from = vm.output.length;
    const w = await wrk(net, l.conns, seconds, l.close).catch((e: Error) => {
      r.failure = `${e.message}; the guest's console then: ${vm.output.slice(-800)}`;
      return undefined;
    });
    if (!w) return false;
    r.wrk.push(w);
    r.long.push(longTasks(vm.output.slice(from)));
  }
  return true;
}

async function round(qemu: string, net: TapNet, g: Guest, mem: string, seconds: number): Promise<Round> {
  const r: Round = { wrk: [], long: [] };
  const vm = new Running(qemu, net, g.args(mem, net.tap));
  try {
    r.first = await firstOk(vm, net, 120);
    if (r.first === undefined) {
      r.failure = `no HTTP 200 within 120 s: ${vm.output.slice(-500)}`;
      return r;
    }
    if (!(await loads(vm, net, LOADS, seconds, r))) return r;
    r.bulk = await bulk(net).catch((e) => {
      r.failure = String(e.message);
      return undefined;
    });
  } finally {
    await vm.stop();
  }
  return r;
}

/** Whether the guest boots with `mem` and serves a wrk -c50 run without a single error; the run's figures. */
async function serveRun(qemu: string, net: TapNet, g: Guest, mem: string, seconds: number): Promise<{ ok: boolean; w?: WrkResult; long?: ReturnType<typeof longTasks> }> {
  const vm = new Running(qemu, net, g.args(mem, net.tap, false));
  try {
    if ((await firstOk(vm, net, 120)) === undefined) return { ok: false };
    const from = vm.output.length;
    const w = await wrk(net, 50, seconds, true).catch(() => undefined); // wrk could not start: not served
    if (!w) return { ok: false, long: longTasks(vm.output.slice(from)) };
    return { ok: w.errors === 0 && w.requests > 0 && !vm.exited, w, long: longTasks(vm.output.slice(from)) };
  } finally {
    await vm.stop();
  }
}

/** Per load of WORK_LOADS under `-icount shift=0`: requests/s and the tasks over WORK_TASK_US of guest instructions. */
interface WorkRun {
  wrk: WrkResult[];
  long: ReturnType<typeof longTasks>[];
  failure?: string;
}

/**
 * The guest's own work per task: one boot with QEMU counting time in the
 * guest's instructions, WORK_LOADS one after another. The wall-clock rounds
 * cannot tell a task that worked long from one whose vCPU thread waited for
 * QEMU's I/O thread or for a host core; this run can.
 */
async function guestWork(qemu: string, net: TapNet, g: Guest, mem: string, seconds: number): Promise<WorkRun> {
  const r: WorkRun = { wrk: [], long: [] };
  const vm = new Running(qemu, net, [...g.args(mem, net.tap, false, WORK_TASK_US), ...ICOUNT]);
  try {
    if ((await firstOk(vm, net, 120)) === undefined) {
      r.failure = `no HTTP 200 within 120 s under -icount: ${vm.output.slice(-500)}`;
      return r;
    }
    await loads(vm, net, WORK_LOADS, seconds, r);
  } finally {
    await vm.stop();
  }
  return r;
}

/** True when the guest boots with `mem` and serves a wrk -c50 run without a single error. */
async function servesWith(qemu: string, net: TapNet, g: Guest, mem: string, seconds: number): Promise<boolean> {
  return (await serveRun(qemu, net, g, mem, seconds)).ok;
}

const MEM_STEPS = [2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256];

/** The least of MEM_STEPS (MiB) that serves, by bisection (serving is taken as monotonic in memory). */
async function leastMemory(qemu: string, net: TapNet, g: Guest, seconds: number, log: (s: string) => void): Promise<number | undefined> {
  let lo = -1; // index known to fail (or none)
  let hi = MEM_STEPS.length - 1;
  if (!(await servesWith(qemu, net, g, `${MEM_STEPS[hi]}M`, seconds))) return undefined;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    const ok = await servesWith(qemu, net, g, `${MEM_STEPS[mid]}M`, seconds);
    log(`  ${g.name}: -m ${MEM_STEPS[mid]}M ${ok ? "serves" : "fails"}`);
    if (ok) hi = mid;
    else lo = mid;
  }
  return MEM_STEPS[hi];
}

const spread = (xs: number[], d = 1) => (xs.length > 1 ? `${fmt(Math.min(...xs), d)}-${fmt(Math.max(...xs), d)}` : "");

export async function peersBench(flags: string[]): Promise<void> {
  const loadAtStart = loadavg()[0].toFixed(2);
  const runs = flag(flags, "runs", 3);
  const seconds = flag(flags, "duration", 10);
  const mem = `${flag(flags, "mem", 256)}M`;
  const why = tapUnavailable();
  if (why) {
    console.log(`bench peers: skipped (${why})`);
    return;
  }
  const qemu = requireTool("qemuX86");
  for (const tool of ["wrk", "curl"]) {
    await run("which", [tool]).catch(() => {
      throw new Error(`bench peers needs ${tool} (apt-get install ${tool})`);
    });
  }
  const gs = await guests();
  const net = new TapNet("peers", `${HOST}/24`);
  // Both guests get QEMU's default MAC; a permanent neighbour entry keeps ARP
  // out of the time to the first answer (a failed resolution while a guest
  // boots would cost the host's 1 s retry, not the guest's start).
  net.exec(["ip", "neigh", "replace", GUEST, "lladdr", "52:54:00:12:34:56", "dev", net.tap, "nud", "permanent"]);
  const results = new Map<string, Round[]>(gs.map((g) => [g.name, []]));
  const least = new Map<string, number | undefined>();
  let endurance: Awaited<ReturnType<typeof serveRun>> | undefined;
  let work: WorkRun | undefined;
  const log = (s: string) => process.stderr.write(s + "\n");
  if (flags.includes("--bulk-only")) {
    try {
      await bulkOnly(qemu, net, gs, mem, runs, log);
    } finally {
      net.close();
    }
    return;
  }
  try {
    for (let i = 0; i < runs; i++) {
      for (const g of i % 2 ? [...gs].reverse() : gs) {
        log(`round ${i + 1}/${runs}: ${g.name}`);
        const r = await round(qemu, net, g, mem, seconds);
        if (r.failure) log(`  ${g.name}: ${r.failure}`);
        results.get(g.name)!.push(r);
      }
    }
    log(`${gs[0].name}: guest work per task under -icount`);
    work = await guestWork(qemu, net, gs[0], mem, seconds);
    if (work.failure) log(`  ${work.failure}`);
    if (!flags.includes("--no-memory")) {
      const ms = flag(flags, "memory-duration", 20);
      for (const g of gs) least.set(g.name, await leastMemory(qemu, net, g, ms, log));
      log(`${gs[0].name}: ${ENDURANCE_S} s of wrk -c50 at -m ${ENDURANCE_MEM}`);
      endurance = await serveRun(qemu, net, gs[0], ENDURANCE_MEM, ENDURANCE_S);
    }
  } finally {
    net.close();
  }
  writeReport(gs, results, least, endurance, work, { runs, seconds, mem, memSeconds: flag(flags, "memory-duration", 20), memSearched: !flags.includes("--no-memory"), loadAtStart });
}

/** Only the 20 MB download, `runs` boots of each guest alternating; prints medians, ranges and the ratio. */
async function bulkOnly(qemu: string, net: TapNet, gs: Guest[], mem: string, runs: number, log: (s: string) => void): Promise<void> {
  const got = new Map<string, { mbps: number; ttfb: number }[]>(gs.map((g) => [g.name, []]));
  for (let i = 0; i < runs; i++) {
    for (const g of i % 2 ? [...gs].reverse() : gs) {
      const vm = new Running(qemu, net, g.args(mem, net.tap));
      try {
        if ((await firstOk(vm, net, 120)) === undefined) throw new Error(`${g.name}: no HTTP 200 within 120 s: ${vm.output.slice(-500)}`);
        const b = await bulk(net);
        log(`round ${i + 1}/${runs}: ${g.name}: ${fmt(b.mbps)} Mbit/s, first byte after ${fmt(b.ttfb, 1)} ms`);
        got.get(g.name)!.push(b);
      } finally {
        await vm.stop();
      }
    }
  }
  const [u, l] = gs.map((g) => got.get(g.name)!);
  const rows = gs.map((g) => {
    const r = got.get(g.name)!;
    const mb = r.map((x) => x.mbps);
    return [g.name, fmt(median(mb)), spread(mb), fmt(median(r.map((x) => x.ttfb)), 1)];
  });
  console.log(table(["20 MB GET", "Mbit/s (median)", "range", "first byte ms (median)"], rows));
  console.log(`ratio uniwasm / Linux: ${fmt(median(u.map((x) => x.mbps)) / median(l.map((x) => x.mbps)), 2)}x (${runs} boots each, -m ${mem})`);
}

function writeReport(gs: Guest[], results: Map<string, Round[]>, least: Map<string, number | undefined>, endurance: Awaited<ReturnType<typeof serveRun>> | undefined, work: WorkRun | undefined, o: { runs: number; seconds: number; mem: string; memSeconds: number; memSearched: boolean; loadAtStart: string }): void {
  const [u, l] = gs.map((g) => results.get(g.name)!);
  const med = (rs: Round[], f: (r: Round) => number | undefined) => median(rs.map(f).filter((x): x is number => x !== undefined && !Number.isNaN(x)));
  const all = (rs: Round[], f: (r: Round) => number | undefined) => rs.map(f).filter((x): x is number => x !== undefined && !Number.isNaN(x));
  const lines: string[] = [];
  const date = new Date().toISOString().slice(0, 16).replace("T", " ");
  lines.push(`# uniwasm vs a Linux guest on the same QEMU`, "");
  lines.push(`${date} UTC, \`./uniwasm bench peers --runs=${o.runs} --duration=${o.seconds}\`: QEMU TCG, -m ${o.mem}, virtio-net over TAP in a network namespace, wrk with one thread on the host side; ${o.runs} rounds alternating the guests; medians, with the range over rounds. The machine's load average when the run began: ${o.loadAtStart}. On a 2-core machine shared with other work the absolute figures move; read the ratios.`, "");
  lines.push(`Guests: **${gs[0].name}** (apps/httpd, \`GET /<n>\` answers n generated bytes) and **${gs[1].name}** (Debian's kernel, busybox init, nginx with one worker serving the same sizes from RAM).`, "");

  const firstU = med(u, (r) => r.first), firstL = med(l, (r) => r.first);
  lines.push("## Start to first HTTP 200", "");
  lines.push(table(["guest", "seconds (median)", "range"], [
    [gs[0].name, fmt(firstU, 3), spread(all(u, (r) => r.first), 3)],
    [gs[1].name, fmt(firstL, 3), spread(all(l, (r) => r.first), 3)],
  ]), "", `Linux/uniwasm: **${fmt(firstL / firstU)}x** (goal: at least 40x).`, "");

  lines.push("## Requests per second (612-byte responses)", "");
  const rows: (string | number)[][] = [];
  const bars: Bar[] = [];
  LOADS.forEach((load, i) => {
    const ru = all(u, (r) => r.wrk[i]?.rps), rl = all(l, (r) => r.wrk[i]?.rps);
    const eu = u.reduce((a, r) => a + (r.wrk[i]?.errors ?? 0), 0), el = l.reduce((a, r) => a + (r.wrk[i]?.errors ?? 0), 0);
    rows.push([loadName(load), fmt(median(ru), 0), spread(ru, 0), fmt(med(u, (r) => r.wrk[i]?.p50), 2), fmt(med(u, (r) => r.wrk[i]?.p99), 2), eu,
      fmt(median(rl), 0), spread(rl, 0), fmt(med(l, (r) => r.wrk[i]?.p50), 2), fmt(med(l, (r) => r.wrk[i]?.p99), 2), el, fmt(median(ru) / median(rl), 2)]);
    bars.push({ group: loadName(load), series: gs[0].name, value: median(ru), lo: Math.min(...ru), hi: Math.max(...ru) });
    bars.push({ group: loadName(load), series: gs[1].name, value: median(rl), lo: Math.min(...rl), hi: Math.max(...rl) });
  });
  lines.push(table(["load", "uniwasm req/s", "range", "p50 ms", "p99 ms", "errors", "Linux req/s", "range", "p50 ms", "p99 ms", "errors", "uniwasm/Linux"], rows), "");
  mkdirSync(join(ROOT, "bench", "results"), { recursive: true });
  writeFileSync(join(ROOT, "bench", "results", "peers-rps.svg"), barChart("requests/s, 612-byte responses (median, range over rounds)", "requests/s", bars));
  lines.push("![requests per second](peers-rps.svg)", "");

  lines.push("## 20 MB download", "");
  const bu = all(u, (r) => r.bulk?.mbps), bl = all(l, (r) => r.bulk?.mbps);
  lines.push(table(["guest", "Mbit/s", "range", "time to first byte (ms)"], [
    [gs[0].name, fmt(median(bu)), spread(bu), fmt(med(u, (r) => r.bulk?.ttfb), 1)],
    [gs[1].name, fmt(median(bl)), spread(bl), fmt(med(l, (r) => r.bulk?.ttfb), 1)],
  ]), "", `uniwasm/Linux: **${fmt(median(bu) / median(bl), 2)}x** (goal: at least 1.0x).`, "");
  writeFileSync(join(ROOT, "bench", "results", "peers-bulk.svg"), barChart("20 MB download (median, range over rounds)", "Mbit/s", [
    { group: "20 MB GET", series: gs[0].name, value: median(bu), lo: Math.min(...bu), hi: Math.max(...bu) },
    { group: "20 MB GET", series: gs[1].name, value: median(bl), lo: Math.min(...bl), hi: Math.max(...bl) },
  ]));
  lines.push("![bulk download](peers-bulk.svg)", "");

  lines.push("## Least memory", "");
  if (o.memSearched) {
    lines.push(`The least \`-m\` (of ${MEM_STEPS.join(", ")} MiB, by bisection) at which the guest boots and serves a ${o.memSeconds}-second \`wrk -c50\` run (\`Connection: close\`) without one error:`, "");
    lines.push(table(["guest", "least -m"], gs.map((g) => [g.name, least.get(g.name) !== undefined ? `${least.get(g.name)} MiB` : `none up to ${MEM_STEPS[MEM_STEPS.length - 1]} MiB`])), "");
  } else lines.push("Not measured in this run (`--no-memory`).", "");

  if (endurance) {
    const w = endurance.w;
    lines.push(`${gs[0].name} for ${ENDURANCE_S} s of \`wrk -c50\` (\`Connection: close\`) at \`-m ${ENDURANCE_MEM}\`: ${w ? `${w.requests} requests, ${w.errors} errors, ${fmt(w.rps, 0)} req/s` : "did not boot or answer"}.`, "");
  }

  lines.push("## Longest task", "");
  lines.push(`uniwasm's scheduler reports every task run longer than ${LONG_TASK_US / 1000} ms (\`long_task_us=${LONG_TASK_US} long_task_report_ms=0\`); per load, over all rounds: how many it reported and the longest, in wall-clock time. Under TCG a task's wall time also holds whatever kept QEMU's vCPU thread from running: waiting for the I/O thread (which holds QEMU's global lock while it moves packets between the TAP device and the rings), or for a host core.`, "");
  const longRows = LOADS.map((load, i) => {
    const ls = u.map((r) => r.long[i]).filter((x) => x !== undefined);
    const worst = ls.reduce((a, b) => (b.longestMs > a.longestMs ? b : a), { count: 0, longestMs: 0, name: "" });
    return [loadName(load), ls.reduce((a, b) => a + b.count, 0), worst.count ? `${fmt(worst.longestMs, 1)} ('${worst.name}')` : `under ${LONG_TASK_US / 1000}`];
  });
  lines.push(table(["load", `tasks over ${LONG_TASK_US / 1000} ms`, "longest (ms)"], longRows), "");
  const c50 = LOADS.map((l, i) => (l.conns === 50 ? i : -1)).filter((i) => i >= 0);
  const longC50 = c50.reduce((a, i) => a + u.reduce((b, r) => b + (r.long[i]?.count ?? 0), 0), 0) + (endurance?.long?.count ?? 0);
  let workLongest: number | undefined;
  if (work && !work.failure) {
    lines.push(`The guest's own work per task: one more boot with \`${ICOUNT.join(" ")}\`, which makes the guest's clock count its instructions (1 ns each, a slower processor than any server's core), so a run's length is what the task executed and nothing the host did meanwhile. Threshold ${WORK_TASK_US / 1000} ms (\`long_task_us=${WORK_TASK_US}\`), ${o.seconds} s per load:`, "");
    const rowsW = WORK_LOADS.map((load, i) => {
      const l = work.long[i];
      return [loadName(load), fmt(work.wrk[i].rps, 0), l.count, l.count ? `${fmt(l.longestMs, 2)} ('${l.name}')` : `under ${WORK_TASK_US / 1000}`];
    });
    workLongest = Math.max(...work.long.map((l) => (l.count ? l.longestMs : 0)));
    lines.push(table(["load", "req/s under -icount", `tasks over ${WORK_TASK_US / 1000} ms of instructions`, "longest (ms)"], rowsW), "");
  } else if (work?.failure) lines.push(`Guest work per task: not measured (${work.failure}).`, "");

  lines.push("## Image sizes", "");
  lines.push(table(["guest", "what QEMU loads", "bytes"], gs.map((g) => [g.name, g.sizeNote, g.size])), "");

  const rps50 = median(all(u, (r) => r.wrk[2]?.rps)) / median(all(l, (r) => r.wrk[2]?.rps));
  const goals: [string, boolean | undefined, string][] = [
    ["QEMU start to first HTTP 200 at most 1/40 of the Linux guest's", firstL / firstU >= 40, `${fmt(firstL / firstU)}x`],
    ["requests/s at least 5x nginx's (close, c50; goal 6x)", rps50 >= 5, `${fmt(rps50, 2)}x`],
    ["20 MB download at least 1.0x the Linux guest's", median(bu) / median(bl) >= 1, `${fmt(median(bu) / median(bl), 2)}x`],
    ["serves wrk -c50 without errors with -m 8M (goal 4 MiB)", o.memSearched ? (least.get(gs[0].name) ?? Infinity) <= 8 : undefined, least.get(gs[0].name) !== undefined ? `${least.get(gs[0].name)} MiB` : "not measured"],
    [`serves ${ENDURANCE_S} s of wrk -c50 without errors with -m ${ENDURANCE_MEM}`, endurance ? endurance.ok : undefined, endurance?.w ? `${endurance.w.requests} requests, ${endurance.w.errors} errors` : "not measured"],
    [`no task longer than ${LONG_TASK_US / 1000} ms under wrk -c50: the guest's work (-icount)`, workLongest === undefined ? undefined : workLongest < LONG_TASK_US / 1000, workLongest === undefined ? "not measured" : workLongest ? `longest ${fmt(workLongest, 2)} ms` : `none over ${WORK_TASK_US / 1000} ms`],
    [`no task longer than ${LONG_TASK_US / 1000} ms under wrk -c50: wall clock under TCG`, longC50 === 0, `${longC50} reported`],
  ];
  lines.push("## Goals", "");
  lines.push(table(["goal", "this run", "met"], goals.map(([g, ok, v]) => [g, v, ok === undefined ? "not measured" : ok ? "yes" : "**no**"])), "");

  const failures = gs.flatMap((g) => results.get(g.name)!.filter((r) => r.failure).map((r) => `- ${g.name}: ${r.failure}`));
  if (failures.length) lines.push("## Failures", "", ...failures, "");
  const report = lines.join("\n");
  writeFileSync(join(ROOT, "bench", "results", "peers.md"), report);
  console.log(report);
}
