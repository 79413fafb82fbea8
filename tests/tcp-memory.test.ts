// TCP's memory model under slow clients (issue: a few hundred clients that
// trickle never-finished requests locked everyone else out): two kernels in
// a World over the simulated network, tests/kernels/tcp-trickle on both
// ends. The server's stack has a 1 MiB limit; under the old model (both
// 64 KiB buffers reserved per connection from its SYN) it admitted eight.
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { World } from "../host/world.ts";
import { attachVirtioMmio } from "../host/virtio/attach.ts";
import { VirtioNet } from "../host/virtio/net.ts";
import { Network } from "../host/netsim/index.ts";
import { ROOT } from "../tools/paths.ts";
import { buildAppSimWasm } from "./helpers/kernel.ts";

let wasm: Uint8Array;
beforeAll(async () => {
  wasm = await buildAppSimWasm(join(ROOT, "tests/kernels/tcp-trickle"));
}, 180_000);

const kv = (output: string) => Object.fromEntries(output.split("\n").filter((l) => /^[\w.]+=/.test(l)).map((l) => l.split(/=(.*)/s, 2)));

async function trickle(slow: number, server: string) {
  const world = new World();
  const net = new Network(world, { seed: 9n });
  const c = world.machine({ console: () => {}, memory: 128 << 20, seed: 1n, cmdline: `ip=10.0.0.1/24 role=client peer=10.0.0.2 slow=${slow} every_ms=100 trickle_ms=2000` });
  const s = world.machine({ console: () => {}, memory: 128 << 20, seed: 2n, cmdline: `ip=10.0.0.2/24 role=server ${server}` });
  const a = new VirtioNet(c, { mac: "02:00:00:00:00:01" });
  const b = new VirtioNet(s, { mac: "02:00:00:00:00:02" });
  a.connect(net.port("client"));
  b.connect(net.port("server"));
  net.connect(a.port!, b.port!, { latencyNs: 1_000_000, bandwidthBps: 100e6, queueLimit: 1000 });
  attachVirtioMmio(c, a);
  attachVirtioMmio(s, b);
  await world.boot(c, wasm);
  await world.boot(s, wasm);
  const [cr, sr] = world.run({ until: 60_000_000_000n });
  expect(cr!.exitCode, cr!.output.slice(-3000)).toBe(0);
  expect(sr!.exitCode, sr!.output.slice(-3000)).toBe(0);
  return { ck: kv(cr!.output), sk: kv(sr!.output), c: cr!.output, s: sr!.output };
}

describe("tcp memory: slow clients", () => {
  it("200 connections trickling unfinished requests: all admitted, their bytes acknowledged, a new client served at once, each slow one under 2 KiB of buffers", async () => {
    const r = await trickle(200, "mem=1048576 buf=65536");
    expect(r.ck.slow_established, r.c.slice(-2000)).toBe("200");
    expect(r.ck.slow_errors).toBe("0");
    // a new client's request is answered within a few round trips (1 ms each way), not after a retry
    expect(r.ck.fast_ms, r.c.slice(-2000)).toBeDefined();
    expect(Number(r.ck.fast_ms)).toBeLessThan(20);
    // every trickled byte but the last one or two per connection (still in flight) was acknowledged
    const sent = Number(r.ck.slow_sent), acked = Number(r.ck.slow_acked);
    expect(sent).toBeGreaterThan(200 * 15);
    expect(acked).toBeGreaterThanOrEqual(sent - 2 * 200);
    // the server's buffer memory with 201 connections open: rings sized to what they hold
    expect(Number(r.sk.served_conns)).toBe(201);
    expect(Number(r.sk.served_mem)).toBeLessThan(201 * 2048);
    expect(r.sk["tcp.memoryRefused"]).toBeUndefined();
    // all a connection costs the server's heap (TCB, socket, timer, and this app's handler and 256-byte buffer): 1,807 bytes when recorded
    expect(Number(r.sk.served_heap_per_conn)).toBeLessThan(2048);
    console.log(`trickle: fast client ${r.ck.fast_ms} ms, server buffer memory ${r.sk.served_mem} bytes for ${r.sk.served_conns} connections, heap ${r.sk.served_heap_per_conn} bytes per connection`);
  }, 180_000);

  it("the same with the requests left in TCP's receive rings until whole: each slow connection holds a 256-byte block", async () => {
    const r = await trickle(200, "mem=1048576 buf=65536 lazy=60");
    expect(r.ck.slow_established, r.c.slice(-2000)).toBe("200");
    expect(Number(r.ck.fast_ms), r.c.slice(-2000)).toBeLessThan(20);
    expect(Number(r.ck.slow_acked)).toBeGreaterThanOrEqual(Number(r.ck.slow_sent) - 2 * 200);
    expect(Number(r.sk.served_conns)).toBe(201);
    // 200 rings of 256 bytes (the ~30-58 bytes each holds), nothing else
    expect(Number(r.sk.served_mem)).toBe(200 * 256);
    console.log(`trickle, held in TCP: fast client ${r.ck.fast_ms} ms, server buffer memory ${r.sk.served_mem} bytes for ${r.sk.served_conns} connections, heap ${r.sk.served_heap_per_conn} bytes per connection`);
  }, 180_000);

  it("50 clients at once against a SYN backlog of 2: most handshakes end with a cookie, and their first bytes are taken at once (no retransmission)", async () => {
    const r = await trickle(50, "mem=1048576 buf=65536 backlog=2");
    expect(r.ck.slow_established, r.c.slice(-2000)).toBe("50");
    expect(Number(r.sk["tcp.cookiesAccepted"])).toBeGreaterThan(40);
    // a cookie connection that kept a zero window dropped its first data and the client resent it a second later
    expect(r.sk["tcp.dropOutOfWindow"]).toBeUndefined();
    expect(r.ck["tcp.retransSegments"]).toBeUndefined();
    expect(Number(r.ck.slow_acked)).toBeGreaterThanOrEqual(Number(r.ck.slow_sent) - 2 * 50);
    expect(Number(r.ck.fast_ms)).toBeLessThan(20);
  }, 180_000);
});
