// Two kernels, each on its own simulated machine with one virtio-net NIC,
// talking over the network simulator: the real stack, driver and device
// model on both ends, on one virtual clock (host/world.ts).
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { World } from "../host/world.ts";
import { attachVirtioMmio } from "../host/virtio/attach.ts";
import { VirtioNet } from "../host/virtio/net.ts";
import { Network, type LinkOptions } from "../host/netsim/index.ts";
import { ROOT } from "../tools/paths.ts";
import { buildAppSimWasm } from "./helpers/kernel.ts";
import { goldenCapture } from "./helpers/golden.ts";

let wasm: Uint8Array;
beforeAll(async () => {
  wasm = await buildAppSimWasm(join(ROOT, "tests/kernels/net-peer"));
}, 180_000);

const kv = (output: string) => Object.fromEntries(output.split("\n").filter((l) => /^\w+=/.test(l)).map((l) => l.split(/=(.*)/s, 2)));

async function pair(link: LinkOptions, big = 4000, mtu = 1500, seed = 11n) {
  const world = new World();
  const net = new Network(world, { seed });
  const client = world.machine({ console: () => {}, memory: 16 << 20, seed: 1n, cmdline: `ip=10.0.0.1/24 role=client peer=10.0.0.2 big=${big} mtu=${mtu}` });
  const server = world.machine({ console: () => {}, memory: 16 << 20, seed: 2n, cmdline: `ip=10.0.0.2/24 role=server mtu=${mtu}` });
  const a = new VirtioNet(client, { mac: "02:00:00:00:00:01" });
  const b = new VirtioNet(server, { mac: "02:00:00:00:00:02" });
  a.connect(net.port("client"));
  b.connect(net.port("server"));
  net.connect(a.port!, b.port!, link);
  attachVirtioMmio(client, a);
  attachVirtioMmio(server, b);
  const cap = goldenCapture("net-world", { link, big, mtu, seed }, net);
  await world.boot(client, wasm);
  await world.boot(server, wasm);
  const [c, s] = world.run({ until: 60_000_000_000n });
  cap.save();
  return { c: c!, s: s!, ck: kv(c?.output ?? ""), sk: kv(s?.output ?? ""), at: world.clock.peek() };
}

describe("two kernels over the simulated network", () => {
  it("ARP, ping, UDP echo and a fragmented datagram between two machines", async () => {
    const r = await pair({ latencyNs: 100_000 });
    expect(r.c.exitCode, r.c.output).toBe(0);
    expect(r.s.exitCode, r.s.output).toBe(0);
    expect(r.ck).toMatchObject({ small_echo_len: "14", small_from: "10.0.0.2:7", big_echo_len: "4000", big_echo_intact: "1" });
    expect(r.sk.server_echoed).toBe("2");
    // ARP then the echo: two round trips of 200 us, seen from a task that looks every millisecond
    expect(Number(r.ck.ping_rtt_us)).toBeLessThanOrEqual(1000);
  });

  it("fragments over a small MTU through a link that reorders and duplicates, and replays exactly by seed", async () => {
    const link = { latencyNs: 100_000, reorder: 0.3, reorderDelayNs: 300_000, duplicate: 0.2 };
    const r = await pair(link, 9000, 576);
    expect(r.c.exitCode, r.c.output).toBe(0);
    expect(r.ck).toMatchObject({ big_echo_len: "9000", big_echo_intact: "1" });
    expect(r.c.output).toMatch(/net ip: .*frag_tx=(1[7-9]|[2-9]\d)/);
    const again = await pair(link, 9000, 576);
    expect(again.c.output).toBe(r.c.output);
    expect(again.s.output).toBe(r.s.output);
    expect(again.at).toBe(r.at);
  });
});
