// The level-1 app API (kernel/app/) on the Node platform: apps/echo and the
// test kernel tests/kernels/app-peer, each on its own simulated machine with
// a virtio-net NIC, over the network simulator on one virtual clock, so the
// whole path (the API, TCP, IP, ARP, the driver, the device model) runs on
// both ends. Plus the paths where things go wrong: no NIC, no DHCP server,
// a lost lease, a bad argument, a refused and a reset connection, a write
// queue at its bound. And the demo of docs/writing-an-app.md under
// `uniwasm node`, driven by the same host clients as on QEMU.
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { World } from "../host/world.ts";
import { Machine } from "../host/machine.ts";
import { attachVirtioMmio } from "../host/virtio/attach.ts";
import { VirtioNet } from "../host/virtio/net.ts";
import { Network } from "../host/netsim/index.ts";
import { DhcpServer } from "../host/netsim/dhcp-server.ts";
import { ROOT } from "../tools/paths.ts";
import { buildAppSimWasm, buildAppWasm, runWasm } from "./helpers/kernel.ts";
import { DEMO_TCP_ANSWERS, demoApp, demoTcpClients } from "./helpers/demo.ts";
import { findOnPath, nodeSim } from "./helpers/guest.ts";
import { freePorts } from "./helpers/ports.ts";

let echo: Uint8Array;
let peer: Uint8Array;
let peerPlain: Uint8Array;
let echoPlain: Uint8Array;
beforeAll(async () => {
  echo = await buildAppSimWasm(join(ROOT, "apps/echo"));
  peer = await buildAppSimWasm(join(ROOT, "tests/kernels/app-peer"));
  peerPlain = await buildAppWasm(join(ROOT, "tests/kernels/app-peer"));
  echoPlain = await buildAppWasm(join(ROOT, "apps/echo"));
}, 300_000);

const kv = (output: string) => Object.fromEntries(output.split("\n").filter((l) => /^[\w.]+=/.test(l)).map((l) => l.split(/=(.*)/s, 2)));

/** Two kernels on one link: `client` (app-peer) at 10.0.0.1, `server` at 10.0.0.2. */
async function pair(serverWasm: Uint8Array, serverCmd: string, clientCmd: string) {
  const world = new World();
  const net = new Network(world, { seed: 3n });
  let serverOut = "";
  const client = world.machine({ console: () => {}, memory: 64 << 20, seed: 1n, cmdline: `ip=10.0.0.1/24 role=client peer=10.0.0.2 ${clientCmd}` });
  const server = world.machine({ console: (t) => (serverOut += t), memory: 64 << 20, seed: 2n, cmdline: `ip=10.0.0.2/24 ${serverCmd}` });
  const a = new VirtioNet(client, { mac: "02:00:00:00:00:01" });
  const b = new VirtioNet(server, { mac: "02:00:00:00:00:02" });
  a.connect(net.port("client"));
  b.connect(net.port("server"));
  net.connect(a.port!, b.port!, { latencyNs: 500_000 });
  attachVirtioMmio(client, a);
  attachVirtioMmio(server, b);
  await world.boot(client, peer);
  await world.boot(server, serverWasm);
  // The server runs on (it has no end); the client's result is the verdict.
  const [c] = world.run({ until: 60_000_000_000n });
  return { c: c!, s: { output: serverOut }, ck: kv(c?.output ?? "") };
}

describe("level-1 API between two simulated machines", () => {
  it("apps/echo echoes 3 TCP streams of 2 MB, written against a 4 KiB queue bound, and UDP datagrams", async () => {
    const r = await pair(echo, "", "conns=3 bytes=2000000 qlimit=4096 udp=5");
    expect(r.s.output).toContain("echo: 10.0.0.2/24 gateway 0.0.0.0 mtu 1500: tcp and udp port 7");
    expect(r.c.exitCode, r.c.output).toBe(0);
    expect(r.ck).toMatchObject({ tcp_ok: "3", tcp_bad: "0", udp_ok: "5", queue_memory: "0" });
    // the bound was reached (writes refused, resumed from onWritable) and every byte still came back
    expect(Number(r.ck.refused_writes)).toBeGreaterThan(10);
  }, 120_000);

  it("writeStatic: references larger than TCP's buffer wait in the queue, copied writes queue behind them, a second one waits its turn; every byte echoed", async () => {
    const r = await pair(echo, "", "conns=2 bytes=6000000 qlimit=4096 static=1");
    expect(r.c.exitCode, r.c.output).toBe(0);
    expect(r.ck).toMatchObject({ tcp_ok: "2", tcp_bad: "0", queue_memory: "0" });
    // TCP holds at most 1 MiB by reference (sndRefMax): the rest waited in the queue, later writes were refused, resumed from onWritable
    expect(Number(r.ck.refused_writes)).toBeGreaterThan(10);
  }, 120_000);

  it("a connection to a closed port ends Refused, one the server aborts ends Reset on both sides", async () => {
    const r = await pair(peer, "role=server", "conns=1 bytes=1000 refused=80 reset=9");
    expect(r.c.exitCode, r.c.output).toBe(1); // the echo check fails: the server has no port 7
    expect(r.ck).toMatchObject({ closed_refused: "refused", closed_reset: "reset" });
    expect(r.c.output).toContain("FAIL echo: got 0 of 1000, 0 wrong, refused");
    expect(r.s.output).toContain("server_closed=aborted");
  }, 120_000);
});

/** One machine with a NIC on a network that has `dhcp` (or nothing) on it. */
async function alone(wasm: Uint8Array, cmdline: string, dhcp: boolean, tweak?: (s: DhcpServer, m: Machine) => void) {
  const m = new Machine({ console: () => {}, cmdline, memory: 32 << 20, seed: 4n });
  const net = new Network(m, { seed: 5n });
  const nic = new VirtioNet(m, { mac: "02:00:00:00:00:0c" });
  nic.connect(net.port("nic"));
  if (dhcp) {
    const server = new DhcpServer(net, { serverIp: "192.168.9.1", router: "192.168.9.1", dns: "192.168.9.1", first: "192.168.9.50", leaseSeconds: 40 });
    net.connect(nic.port!, server.host.port, { latencyNs: 20_000 });
    tweak?.(server, m);
  }
  attachVirtioMmio(m, nic);
  return m.run(wasm);
}

describe("level-1 bring-up failures", () => {
  it("no NIC: onDown says so and the app exits 3", async () => {
    const r = await runWasm(echoPlain);
    expect(r.output).toContain("error: no network device: boot with --net user (QEMU) or --net sim (Node)");
    expect(r.exitCode).toBe(3);
  });

  it("no DHCP server: onDown after 30 s, exit 3", async () => {
    const r = await alone(echoPlain, "", false);
    expect(r.output).toContain("error: no DHCP lease within 30 s");
    expect(r.exitCode).toBe(3);
  });

  it("a lost lease (NAK at renewal): onDown, then onUp again with the new lease", async () => {
    const r = await alone(peerPlain, "role=watch ups=2", true, (s, m) => m.events.schedule(10_000_000_000n, () => s.forgetLeases()));
    expect(r.exitCode, r.output).toBe(0);
    expect(r.output).toMatch(/up 192\.168\.9\.50 at 0 s\ndown DHCP lease lost at 20 s\nup 192\.168\.9\.51 at 2\d s\n/);
  });

  it("a stop request (the power button) reaches App.onStop: by default a clean exit 0", async () => {
    const r = await alone(echoPlain, "", true, (s, m) => m.events.schedule(5_000_000_000n, () => m.requestStop()));
    expect(r.output).toContain("echo: 192.168.9.50/24 gateway 192.168.9.1 mtu 1500: tcp and udp port 7");
    expect(r.output).toContain("stop requested: the app ends (exit 0)"); // App.onStop, not the scheduler's default
    expect(r.exitCode).toBe(0);
  });

  it("bad arguments name the argument and the value, exit 2", async () => {
    const a = await runWasm(peerPlain, { cmdline: "bytes=12k" });
    expect(a.output).toContain("error: argument bytes=12k: expected a whole number");
    expect(a.exitCode).toBe(2);
    const b = await runWasm(echoPlain, { cmdline: "ip=10.0.0.300/24" });
    expect(b.output).toContain("error: network arguments: bad address in ip=10.0.0.300/24");
    expect(b.exitCode).toBe(3);
    const c = await runWasm(peerPlain, { cmdline: "role=nobody" });
    expect(c.output).toContain("error: argument role=nobody: expected one of client, server, watch");
    expect(c.exitCode).toBe(2);
    // the scheduler's long-task threshold, read by Kernel itself
    const d = await runWasm(echoPlain, { cmdline: "long_task_us=5ms" });
    expect(d.output).toContain("error: argument long_task_us=5ms: expected a whole number of microseconds 1..999999999");
    expect(d.exitCode).toBe(2);
    const e = await runWasm(echoPlain, { cmdline: "long_task_report_ms=often" });
    expect(e.output).toContain("error: argument long_task_report_ms=often: expected a whole number of milliseconds 0..999999999");
    expect(e.exitCode).toBe(2);
  });
});

// The same kernel source on the Node platform: the simulated network's
// gateway forwards host TCP ports into it (`uniwasm node --hostfwd`), so the
// same host clients talk to the same AssemblyScript code over the emulated
// virtio-net. (The forward is TCP only; UDP in Node is the echo test above.)
describe("the docs demo on the Node platform's simulated network", () => {
  const ok = findOnPath("curl") && findOnPath("nc") && findOnPath("python3");
  it.skipIf(!ok)("nc against the key-value server, curl and Python keep-alive", async () => {
    const [kv, http] = await freePorts(2);
    const g = nodeSim(demoApp(), undefined, 6000, kv, "ip=dhcp", "64M", 240, [`tcp:127.0.0.1:${http}-:80`]);
    try {
      await g.waitFor(/kv-http-udp: 10\.0\.2\.15\/24/);
      expect(await demoTcpClients(kv, http)).toEqual(DEMO_TCP_ANSWERS);
    } finally {
      g.stop();
    }
    const r = await g.done;
    expect(r.output).toContain("kv-http-udp: 10.0.2.15/24 gateway 10.0.2.2 mtu 1500: kv 6000, http 80, udp echo 7");
  }, 300_000);
});
