// The simulation API (uniwasm/sim) with real kernels: different apps with
// their own command lines on several machines, a switch, impaired links,
// pcap per link, counters as objects, the kernels' event trace, and runs
// that are a pure function of the scenario and the seed.
import { join } from "node:path";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { beforeAll, describe, expect, it } from "vitest";
import { buildSimKernel, diffCounters, parsePcap, World, type SimKernel, type TraceEvent } from "../host/sim/index.ts";
import { ROOT } from "../tools/paths.ts";
import { scratchDir } from "./helpers/kernel.ts";

let peer: SimKernel;
let httpd: SimKernel;
beforeAll(async () => {
  const out = (n: string) => join(ROOT, "build", "test", `sim-${n}`);
  peer = await buildSimKernel(join(ROOT, "tests/kernels/tcp-peer"), { outDir: out("tcp-peer") });
  httpd = await buildSimKernel(join(ROOT, "apps/httpd"), { outDir: out("httpd") });
}, 300_000);

/** Two tcp-peer clients and an httpd server on a switch; the clients' uplinks lose frames. */
async function scenario(seed: number, dir: string) {
  const world = new World({ seed });
  const sw = world.switch("sw");
  const server = world.node("server", { kernel: httpd, cmdline: "ip=10.0.0.2/24" });
  const a = world.node("a", { kernel: peer, cmdline: "ip=10.0.0.1/24 role=client peer=10.0.0.2 bytes=300000 modes=up,echo linger_ms=100" });
  const b = world.node("b", { kernel: peer, cmdline: "ip=10.0.0.3/24 role=client peer=10.0.0.2 bytes=200000 modes=down linger_ms=100" });
  world.link(server, sw, { delayMs: 1, bandwidth: 50e6, queue: 100 });
  const la = world.link(a, sw, { delayMs: 4, bandwidth: 20e6, queue: 50, loss: 0.01 });
  world.link(b, sw, { delayMs: 2, bandwidth: 20e6, queue: 50, loss: 0.01, reorder: 0.01 });
  la.capture(join(dir, `a-${seed}.pcap`));
  const trace: TraceEvent[] = [];
  world.trace((e) => trace.push(e));
  world.trace(join(dir, `trace-${seed}.jsonl`));
  const r = await world.run({ until: 30 });
  world.close();
  return { r, trace, pcap: readFileSync(join(dir, `a-${seed}.pcap`)), traceFile: readFileSync(join(dir, `trace-${seed}.jsonl`), "utf8"), world };
}

describe("a simulated world of kernels (uniwasm/sim)", () => {
  it("runs different apps on several nodes through a switch, with counters and a trace", async () => {
    const dir = scratchDir("sim-world");
    const { r, trace, traceFile, pcap } = await scenario(3, dir);
    expect(r.nodes.a.exitCode, r.nodes.a.output.slice(-2000)).toBe(0);
    expect(r.nodes.b.exitCode, r.nodes.b.output.slice(-2000)).toBe(0);
    expect(r.nodes.server.exitCode).toBeUndefined(); // httpd serves until stopped: still running at `until`
    expect(r.seconds).toBe(30);
    // counters as objects: the clients' own results and the stack's counters
    const ca = r.nodes.a.counters;
    expect(ca).toMatchObject({ cli_started: 2, cli_ok: 2, cli_bad_bytes: 0, cli_bytes_checked: 600000 });
    expect(ca["tcp.txSegments"]).toBeGreaterThan(100);
    expect(ca["ip.rx"]).toBeGreaterThan(100);
    expect(r.nodes.b.counters).toMatchObject({ cli_ok: 1, cli_bytes_checked: 200000 });
    // the capture is a pcap of what the link delivered
    const records = parsePcap(pcap).records;
    expect(records.length).toBe(r.links[1].aToB.delivered + r.links[1].bToA.delivered);
    expect(r.links[1].aToB.lost + r.links[1].bToA.lost).toBeGreaterThan(0);
    // the trace: timers of every node, as JSON lines in time order
    expect(new Set(trace.map((e) => e.node))).toEqual(new Set(["server", "a", "b"]));
    const timers = trace.filter((e) => e.event === "timer");
    expect(timers.length).toBeGreaterThan(10);
    expect(timers[0]).toMatchObject({ event: "timer", lateNs: expect.any(Number), armed: expect.any(Number) });
    expect(trace.every((e, i) => i === 0 || e.t >= trace[i - 1].t)).toBe(true);
    // TCP's congestion-control decisions and retransmissions, per connection
    const cwnd = trace.filter((e) => e.event === "tcp.cwnd" && e.node === "a");
    expect(cwnd.length).toBeGreaterThan(50);
    expect(cwnd[0]).toMatchObject({ conn: expect.stringMatching(/^\d+>(9|7)$/), cwnd: expect.any(Number), flight: expect.any(Number) });
    expect(Math.max(...cwnd.map((e) => e.cwnd as number))).toBeGreaterThan(10 * 1448);
    const retx = trace.filter((e) => e.event === "tcp.retransmit");
    // one event per retransmitted segment, as the counters count them (httpd, still serving, printed none)
    for (const n of ["a", "b"]) expect(retx.filter((e) => e.node === n).length).toBe(r.nodes[n].counters["tcp.retransSegments"] ?? 0);
    expect(retx.length).toBeGreaterThan(0);
    expect(retx[0]).toMatchObject({ seq: expect.any(Number), len: expect.any(Number), inRecovery: expect.any(Number) });
    expect(trace.some((e) => e.event === "tcp.init")).toBe(true);
    const lines = traceFile.trimEnd().split("\n");
    expect(lines.length).toBe(trace.length);
    expect(JSON.parse(lines[5])).toEqual(trace[5]);
  }, 300_000);

  it("the same seed gives identical pcap bytes, output and trace; another seed a different capture", async () => {
    const dir = scratchDir("sim-seed");
    const one = await scenario(11, dir);
    const two = await scenario(11, dir);
    const other = await scenario(12, dir);
    expect(Buffer.compare(one.pcap, two.pcap)).toBe(0);
    expect(one.traceFile).toBe(two.traceFile);
    for (const n of ["a", "b", "server"]) expect(two.r.nodes[n].output).toBe(one.r.nodes[n].output);
    expect(Buffer.compare(one.pcap, other.pcap)).not.toBe(0);
    expect(other.r.nodes.a.exitCode).toBe(0);
  }, 300_000);

  it("goes on from where a run stopped, and counters can be differenced", async () => {
    const world = new World({ seed: 2 });
    const a = world.node("a", { kernel: peer, cmdline: "ip=10.0.0.1/24 role=client peer=10.0.0.2 bytes=100000 modes=up linger_ms=100" });
    const s = world.node("s", { kernel: peer, cmdline: "ip=10.0.0.2/24 role=server expect=1" });
    world.link(a, s, { delayMs: 10 });
    const early = await world.run({ until: 0.005 });
    expect(early.seconds).toBe(0.005);
    expect(early.nodes.a.exitCode).toBeUndefined();
    const before = a.counters();
    // read live from the kernel's counter tables mid-run, not only what it printed
    expect(before["ip.tx"]).toBeGreaterThan(0);
    expect(before["tcp.txSegments"]).toBeGreaterThan(0);
    const done = await world.run();
    expect(done.nodes.a.exitCode).toBe(0);
    expect(done.nodes.s.exitCode).toBe(0);
    const d = diffCounters(a.counters(), before);
    expect(d.cli_ok).toBe(1);
    expect(d["ip.tx"]).toBeGreaterThan(50);
    expect(d["tcp.txSegments"]).toBe(done.nodes.a.counters["tcp.txSegments"] - before["tcp.txSegments"]);
    expect(() => world.link(a, s)).toThrow(/already running/);
  }, 120_000);

  it("joins switches by links: a transfer between nodes on two switches crosses the trunk, whose delay it pays", async () => {
    const world = new World({ seed: 4 });
    const [left, right] = [world.switch("left"), world.switch("right")];
    const a = world.node("a", { kernel: peer, cmdline: "ip=10.0.0.1/24 role=client peer=10.0.0.2 bytes=100000 modes=up linger_ms=10" });
    const s = world.node("s", { kernel: peer, cmdline: "ip=10.0.0.2/24 role=server expect=1" });
    const idle = world.node("idle", { kernel: peer, cmdline: "ip=10.0.0.3/24 role=server expect=1" });
    world.link(a, left);
    world.link(s, right);
    const quiet = world.link(idle, left);
    const trunk = world.link(left, right, { delayMs: 20 });
    const cap = trunk.capture();
    const r = await world.run({ until: 10 });
    expect(r.nodes.a.exitCode, r.nodes.a.output.slice(-1000)).toBe(0);
    expect(r.nodes.s.exitCode).toBe(0);
    const frames = parsePcap(cap.bytes()).records;
    expect(frames.length).toBe(trunk.stats.aToB.delivered + trunk.stats.bToA.delivered);
    expect(frames.length).toBeGreaterThan(70); // 100 KB of segments and their ACKs
    // every round trip pays the trunk's 20 ms each way: the handshake, slow start's rounds (100 KB from a
    // 10-segment window: three), the server's count at the end; on the switches alone it would take a few ms
    expect(r.nodes.a.counters.cli_elapsed_us).toBeGreaterThanOrEqual(4 * 40_000);
    // the switch learned where s is: after the first broadcasts, nothing of the transfer reached the node on the other port
    expect(quiet.stats.bToA.delivered).toBeLessThan(5);
  }, 120_000);

  it("an idle world jumps to the next deadline: a virtual day of hourly sleeps is a few dozen clock moves", async () => {
    // a kernel that sleeps 24 times an hour on the HAL, adding up how late it woke
    const app = join(ROOT, "build", "test-src", "sim-sleeper");
    mkdirSync(app, { recursive: true });
    writeFileSync(join(app, "main.ts"), [
      `import { clock_ns, wait } from "uniwasm/kernel/hal";`,
      `import { print, printU64, println } from "uniwasm";`,
      `export function main(): i32 {`,
      `  let late: u64 = 0;`,
      `  for (let i = 0; i < 24; i++) {`,
      `    const next = clock_ns() + 3_600_000_000_000;`,
      `    while (clock_ns() < next) wait(next);`,
      `    late += clock_ns() - next;`,
      `  }`,
      `  print("late_ns="); printU64(late); println("");`,
      `  return 0;`,
      `}`,
    ].join("\n") + "\n");
    const sleeper = await buildSimKernel(app, { outDir: join(ROOT, "build", "test", "sim-sleeper") });
    const world = new World();
    const n = world.node("n", { kernel: sleeper, memory: "4M" });
    let moves = 0;
    const clock = world.kernels.clock;
    const sleepUntil = clock.sleepUntil.bind(clock);
    clock.sleepUntil = (t) => {
      if (t > clock.peek()) moves++;
      sleepUntil(t);
    };
    const r = await world.run();
    expect(r.nodes.n.exitCode, r.nodes.n.output).toBe(0);
    expect(r.seconds).toBe(86_400);
    expect(n.counters().late_ns).toBe(0); // each wake-up exactly at its deadline
    expect(moves).toBeGreaterThanOrEqual(24);
    expect(moves).toBeLessThanOrEqual(26); // one jump per deadline, no ticking in between
  }, 300_000);

  it("says what is wrong with a bad node", () => {
    const world = new World();
    expect(() => world.node("x", { kernel: undefined as never })).toThrow(/kernel must be/);
    expect(() => world.node("y", { kernel: new Uint8Array(8), memory: "lots" })).toThrow(/memory "lots"/);
    world.node("z", { kernel: new Uint8Array(8) });
    expect(() => world.node("z", { kernel: new Uint8Array(8) })).toThrow(/already has something named z/);
    expect(() => world.node("bad name", { kernel: new Uint8Array(8) })).toThrow(/letters, digits/);
  });
});
