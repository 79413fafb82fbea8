// `uniwasm bench apps`: apps/http against nginx and apps/kv against
// redis-server, the peers running in the Linux guest of `bench peers`
// (Debian's kernel, busybox, nginx, redis-server; bench/linux-guest/), all on
// the same QEMU flags with virtio-net over a TAP device in a network
// namespace. Rounds alternate the guests so machine noise hits both alike.
//
// HTTP: wrk (one thread) on the same 612-byte file (the size of nginx's
// welcome page) and a 100 KB file, keep-alive and `Connection: close`, at 1,
// 10 and 50 connections. Redis: redis-benchmark -t ping,set,get,incr,mset
// -P 16 -n N. Image sizes. Medians over rounds with their range; the ratio
// is uniwasm / peer. Writes a Markdown report to bench/results/.
//
//   ./uniwasm bench apps [--runs=N] [--duration=S] [--requests=N] [--mem=M] [--only=http|redis]
import { execFile } from "node:child_process";
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
import { GUEST, HOST, Running, firstOk, linuxGuest, wrk, type WrkResult } from "./peers.ts";
import { flag, value } from "./args.ts";
import { fmt, median, table } from "./stats.ts";

const run = promisify(execFile);
const FILES = [{ path: "/612", bytes: 612 }, { path: "/100000", bytes: 100_000 }];
const LOADS = [1, 10, 50].flatMap((conns) => [true, false].map((close) => ({ conns, close })));
const REDIS_TESTS = ["PING_INLINE", "PING_MBULK", "SET", "GET", "INCR", "MSET (10 keys)"];

interface Pair {
  kind: "http" | "redis";
  uniwasm: (mem: string, tap: string) => string[];
  peer: (mem: string, tap: string) => string[];
  size: number;
}

/** The site both HTTP servers serve: the same bytes nginx's guest writes (bench/linux-guest/init). */
function benchSite(): string {
  const dir = join(ROOT, "build", "bench", "apps-site");
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "612"), "x".repeat(612));
  writeFileSync(join(dir, "100000"), "y".repeat(100_000));
  return dir;
}

async function redisUp(net: TapNet, deadlineS: number): Promise<boolean> {
  const t0 = Date.now();
  while (Date.now() - t0 < deadlineS * 1000) {
    const r = await run("ip", ["netns", "exec", net.ns, "redis-cli", "-h", GUEST, "PING"], { encoding: "utf8", timeout: 5000 }).catch(() => undefined);
    if (r?.stdout.trim() === "PONG") return true;
    await new Promise((res) => setTimeout(res, 200));
  }
  return false;
}

/** requests/s per redis-benchmark test (its --csv output). */
async function redisBench(net: TapNet, n: number): Promise<Record<string, number>> {
  const r = await run("ip", ["netns", "exec", net.ns, "redis-benchmark", "-h", GUEST, "-t", "ping,set,get,incr,mset", "-n", String(n), "-P", "16", "--csv"], { encoding: "utf8", timeout: 900_000 });
  const out: Record<string, number> = {};
  for (const line of r.stdout.split("\n")) {
    const m = /^"([^"]+)","([\d.]+)"/.exec(line);
    if (m) out[m[1]] = Number(m[2]);
  }
  if (/error/i.test(r.stdout + r.stderr)) throw new Error(`redis-benchmark reported errors: ${r.stdout.slice(-500)} ${r.stderr.slice(-500)}`);
  return out;
}

export async function appsBench(flags: string[]): Promise<void> {
  const loadAtStart = loadavg()[0].toFixed(2);
  const runs = flag(flags, "runs", 3);
  const seconds = flag(flags, "duration", 5);
  const n = flag(flags, "requests", 100_000);
  const mem = `${flag(flags, "mem", 256)}M`;
  const only = value(flags, "only");
  if (only && only !== "http" && only !== "redis") throw new Error(`bench apps --only=${only}: expected http or redis`);
  const why = tapUnavailable();
  if (why) {
    console.log(`bench apps: skipped (${why})`);
    return;
  }
  const qemu = requireTool("qemuX86");
  for (const tool of ["wrk", "redis-benchmark", "redis-cli"]) {
    await run("which", [tool]).catch(() => {
      throw new Error(`bench apps needs ${tool} (apt-get install ${tool === "wrk" ? "wrk" : "redis-tools"})`);
    });
  }
  const quiet = { stage: () => {}, info: () => {} };
  const http = await buildImage(loadApp(join(ROOT, "apps/http")), { arch: "x86_64", outDir: join(ROOT, "build", "bench", "http"), files: benchSite() }, quiet);
  const kv = await buildImage(loadApp(join(ROOT, "apps/kv")), { arch: "x86_64", outDir: join(ROOT, "build", "bench", "kv") }, quiet);
  const [vmlinuz, initrd] = await linuxGuest();
  const ipArgs = `ip=${GUEST}/24 gw=${HOST}`;
  const linux = (serve: string) => (m: string, tap: string) => [
    ...qemuArgs({ arch: "x86_64", image: vmlinuz, memory: m, net: "tap", tap, cmdline: `console=ttyS0 quiet ${ipArgs} serve=${serve} bulk=100000` }), "-initrd", initrd,
  ];
  const pairs: Pair[] = [
    { kind: "http", uniwasm: (m, tap) => qemuArgs({ arch: "x86_64", image: http.image, memory: m, net: "tap", tap, cmdline: ipArgs }), peer: linux("nginx"), size: http.sizes.image },
    { kind: "redis", uniwasm: (m, tap) => qemuArgs({ arch: "x86_64", image: kv.image, memory: m, net: "tap", tap, cmdline: ipArgs }), peer: linux("redis"), size: kv.sizes.image },
  ];
  const peerSize = statSync(vmlinuz).size + statSync(initrd).size;
  const net = new TapNet("apps", `${HOST}/24`);
  net.exec(["ip", "neigh", "replace", GUEST, "lladdr", "52:54:00:12:34:56", "dev", net.tap, "nud", "permanent"]);
  const log = (s: string) => process.stderr.write(s + "\n");
  // results[kind][side] = one entry per round: metric name -> value
  const results: Record<string, Record<string, Record<string, number>[]>> = { http: { uniwasm: [], peer: [] }, redis: { uniwasm: [], peer: [] } };
  // A boot that stopped answering: what failed, and how the guest's console ended then.
  const failures: { what: string; console: string }[] = [];
  try {
    for (let i = 0; i < runs; i++) {
      for (const p of pairs.filter((x) => !only || x.kind === only)) {
        for (const side of i % 2 ? ["peer", "uniwasm"] : ["uniwasm", "peer"]) {
          log(`round ${i + 1}/${runs}: ${p.kind} ${side}`);
          const vm = new Running(qemu, net, side === "uniwasm" ? p.uniwasm(mem, net.tap) : p.peer(mem, net.tap));
          const m: Record<string, number> = {};
          try {
            if (p.kind === "http") {
              if ((await firstOk(vm, net, 180)) === undefined) throw new Error(`no HTTP 200 within 180 s: ${vm.output.slice(-500)}`);
              for (const f of FILES) {
                for (const l of LOADS) {
                  const w: WrkResult = await wrk(net, l.conns, seconds, l.close, f.path);
                  m[`${f.path} ${l.close ? "close" : "keep-alive"} c${l.conns}`] = w.errors > 0 ? NaN : w.rps;
                  if (w.errors > 0) log(`  ${f.path} c${l.conns}: ${w.errors} errors`);
                }
              }
            } else {
              if (!(await redisUp(net, 180))) throw new Error(`no PONG within 180 s: ${vm.output.slice(-500)}`);
              Object.assign(m, await redisBench(net, n));
            }
          } catch (e) {
            const tail = vm.output.slice(-1500);
            log(`  failed: ${(e as Error).message}\n  the guest's console ended with:\n${tail}`);
            failures.push({ what: `round ${i + 1}, ${p.kind}, ${side === "uniwasm" ? (p.kind === "http" ? "apps/http" : "apps/kv") : "the Linux guest"}: ${(e as Error).message.slice(0, 300)}`, console: tail });
          } finally {
            await vm.stop();
          }
          results[p.kind][side].push(m);
        }
      }
    }
  } finally {
    net.close();
  }
  const metrics = (kind: string) => (kind === "http" ? FILES.flatMap((f) => LOADS.map((l) => `${f.path} ${l.close ? "close" : "keep-alive"} c${l.conns}`)) : REDIS_TESTS);
  const lines: string[] = [];
  const date = new Date().toISOString().slice(0, 16).replace("T", " ");
  lines.push(`# apps/http and apps/kv against nginx and redis-server`, "");
  lines.push(`${date} UTC, \`./uniwasm bench apps --runs=${runs} --duration=${seconds} --requests=${n}${only ? ` --only=${only}` : ""}\`: QEMU TCG, -m ${mem}, virtio-net over TAP in a network namespace; the peers in the Linux guest of \`bench peers\`; ${runs} rounds alternating the guests; medians with the range over rounds. The machine's load average when the run began: ${loadAtStart}. On a 2-core machine shared with other work the absolute figures move; read the ratios.`, "");
  for (const kind of ["http", "redis"].filter((k) => !only || k === only)) {
    const u = results[kind].uniwasm;
    const q = results[kind].peer;
    const rows: (string | number)[][] = [];
    for (const name of metrics(kind)) {
      const a = u.map((r) => r[name]).filter((x) => x !== undefined && !Number.isNaN(x));
      const b = q.map((r) => r[name]).filter((x) => x !== undefined && !Number.isNaN(x));
      const range = (xs: number[]) => (xs.length > 1 ? `${fmt(Math.min(...xs), 0)}-${fmt(Math.max(...xs), 0)}` : "");
      rows.push([name, a.length ? fmt(median(a), 0) : "failed", range(a), b.length ? fmt(median(b), 0) : "failed", range(b), a.length && b.length ? fmt(median(a) / median(b), 2) : ""]);
    }
    lines.push(`## ${kind === "http" ? "HTTP: wrk requests/s, apps/http vs nginx" : "Redis: redis-benchmark -P 16 requests/s, apps/kv vs redis-server"}`, "");
    lines.push(table(["load", "uniwasm", "range", kind === "http" ? "nginx" : "redis-server", "range", "ratio"], rows), "");
  }
  if (failures.length) {
    lines.push("## Boots that failed", "");
    for (const f of failures) lines.push(`- ${f.what}; the guest's console ended with:`, "", "```", f.console.trimEnd(), "```", "");
  }
  lines.push(`Image sizes: apps/http ${http.sizes.image} bytes (its site included: ${612 + 100_000} bytes of files), apps/kv ${kv.sizes.image} bytes; the Linux guest's kernel + initramfs ${peerSize} bytes.`, "");
  const report = lines.join("\n");
  const dir = join(ROOT, "bench", "results");
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `apps-${date.replace(/[: ]/g, "-")}.md`);
  writeFileSync(file, report + "\n");
  console.log(report);
  console.log(`\nreport: ${file}`);
}
