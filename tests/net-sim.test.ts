// The network stack over the Node simulator: two stacks (one per virtio-net
// NIC, both in one kernel, so one script can inspect both stacks' caches and
// counters; net-world.test.ts runs them as two kernels) joined by a simulated
// link or a switch, plus TypeScript peers: a DHCP+DNS server, and a host that
// throws malformed frames at the stack.
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { Machine } from "../host/machine.ts";
import { attachVirtioMmio } from "../host/virtio/attach.ts";
import { VirtioNet, parseMac } from "../host/virtio/net.ts";
import { Network, ScriptedHost, type LinkOptions } from "../host/netsim/index.ts";
import { DhcpServer } from "../host/netsim/dhcp-server.ts";
import { ROOT } from "../tools/paths.ts";
import { buildAppWasm } from "./helpers/kernel.ts";
import { goldenCapture } from "./helpers/golden.ts";

let wasm: Uint8Array;
beforeAll(async () => {
  wasm = await buildAppWasm(join(ROOT, "tests/kernels/net-sim"));
}, 120_000);

function parse(output: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of output.split("\n")) {
    const k = line.indexOf("=");
    if (k > 0 && !line.startsWith("net ")) out[line.slice(0, k)] = line.slice(k + 1);
  }
  return out;
}

/** Two NICs joined by one link. */
async function twoStacks(cmdline: string, link: LinkOptions = { latencyNs: 50_000 }) {
  const m = new Machine({ console: () => {}, cmdline, memory: 32 << 20, seed: 5n });
  const net = new Network(m, { seed: 7n });
  const a = new VirtioNet(m, { mac: "02:00:00:00:00:0a" });
  const b = new VirtioNet(m, { mac: "02:00:00:00:00:0b" });
  a.connect(net.port("a"));
  b.connect(net.port("b"));
  const l = net.connect(a.port!, b.port!, link);
  attachVirtioMmio(m, a);
  attachVirtioMmio(m, b);
  const cap = goldenCapture("net-sim", { cmdline, link }, net);
  const r = await m.run(wasm);
  cap.save();
  return { ...r, kv: parse(r.output), link: l, machine: m };
}

describe("two stacks over a simulated link", () => {
  it("ARP, ping, UDP echo, fragmented UDP and ping, ICMP port unreachable back to the socket", async () => {
    const r = await twoStacks("mode=basic");
    expect(r.exitCode, r.output).toBe(0);
    expect(r.kv).toMatchObject({ nics: "2", ping1_len: "56", arp_entries_a: "1", arp_entries_b: "1", udp_send: "14",
      udp_echo: "hello over udp", udp_from: "10.0.0.2:7", big_send: "4000", big_echo_len: "4000", big_echo_ok: "1",
      ping2_seq: "2", ping2_len: "3000", icmp_error: "3/3 10.0.0.2:9", pool_in_use: "0", pool_bad_frees: "0" });
    // the script looks every millisecond; ARP + echo take two 100 us round trips
    expect(Number(r.kv.ping1_rtt_us)).toBeLessThanOrEqual(1000);
    expect(r.output).toMatch(/-- stack 1\n.*\nnet arp: rx_req=2 rx_rep=0 tx_req=0 tx_rep=1 tx_garp=1/);
    // one counter set per layer per stack, the second stack's listed as "<component>/2"
    const snap = r.machine.kernelCounters()!;
    expect(snap["arp/2"]).toMatchObject({ rx_req: 2, rx_rep: 0, tx_req: 0, tx_rep: 1, tx_garp: 1 });
    expect(snap.arp.tx_req).toBeGreaterThan(0);
    expect(snap["udp/2"].rx).toBeGreaterThanOrEqual(2);
  });

  it("fragments across a small MTU and reassembles, also with reordering and duplicates", async () => {
    const r = await twoStacks("mode=basic mtu=576 big=9000", { latencyNs: 50_000, reorder: 0.3, reorderDelayNs: 200_000, duplicate: 0.2 });
    expect(r.exitCode, r.output).toBe(0);
    expect(r.kv).toMatchObject({ big_echo_len: "9000", big_echo_ok: "1", ping2_len: "3000", pool_in_use: "0" });
    // a duplicate of a fragment whose datagram is already complete opens a slot that only times out (10 s)
    expect(Number(r.kv.reasm_in_use1)).toBeLessThanOrEqual(1);
    // 9008 bytes of UDP in 552-byte pieces: 17 fragments each way
    expect(r.output).toMatch(/net ip: rx=\d+ tx=\d+ delivered=\d+ frag_rx=\d+ frag_tx=(2[2-9]|[3-9]\d) reassembled=2/);
    expect(r.output).not.toMatch(/reasm_overlaps|reasm_timeouts/);
  });

  it("ARP retries, then gives up and drops the waiting packet when the peer never answers; nothing leaks", async () => {
    const r = await twoStacks("mode=basic", { latencyNs: 50_000, loss: 1 });
    // nothing from A ever arrives: the script times out, the ARP entry gave up and dropped its packet
    expect(r.kv.timeout_step).toBe("1");
    expect(r.output).toMatch(/net arp: rx_req=0 rx_rep=0 tx_req=3 tx_rep=0 tx_garp=1 drop_unresolved=1/);
    expect(r.kv.pool_in_use).toBe("0");
  });
});

/** One stack leasing from the simulator's DHCP server, with the server set up by `tweak`. */
async function oneLease(cmdline: string, opts: Partial<ConstructorParameters<typeof DhcpServer>[1]>, tweak?: (s: DhcpServer, m: Machine) => void) {
  const m = new Machine({ console: () => {}, cmdline, memory: 32 << 20, seed: 4n });
  const net = new Network(m, { seed: 5n });
  const server = new DhcpServer(net, { serverIp: "192.168.9.1", router: "192.168.9.1", dns: "192.168.9.1", first: "192.168.9.50", leaseSeconds: 40, names: { "a.sim.test": { a: "192.168.9.9" } }, ...opts });
  const nic = new VirtioNet(m, { mac: "02:00:00:00:00:0c" });
  nic.connect(net.port("nic"));
  net.connect(nic.port!, server.host.port, { latencyNs: 20_000 });
  attachVirtioMmio(m, nic);
  tweak?.(server, m);
  const cap = goldenCapture("net-sim", { cmdline, opts, tweak: tweak?.toString() }, net);
  const r = await m.run(wasm);
  cap.save();
  return { ...r, kv: parse(r.output), server };
}

describe("DHCP and DNS against the simulator's server", () => {
  it("rebinds by broadcast at T2 when the server ignores renewals at T1", async () => {
    const r = await oneLease("mode=dhcp name=a.sim.test expect=rebind", { ignoreRenewals: true });
    expect(r.exitCode, r.output).toBe(0);
    // T1 = 20 s, T2 = 35 s of a 40 s lease (RFC 2131 defaults)
    expect(r.kv).toMatchObject({ rebinds: "1", addr_after_renew: "192.168.9.50" });
    expect(r.kv.renewed_at_s).toBe("35");
    const req = r.server.log.filter((e) => e.type === "REQUEST");
    expect(req.some((e) => e.unicast)).toBe(true); // the ignored renewal
    expect(req.at(-1)!.unicast).toBe(false); // the rebinding broadcast
  });

  it("starts over after a NAK when the server has forgotten the lease", async () => {
    const r = await oneLease("mode=dhcp name=a.sim.test expect=nak", {}, (s, m) => m.events.schedule(10_000_000_000n, () => s.forgetLeases()));
    expect(r.exitCode, r.output).toBe(0);
    expect(r.kv).toMatchObject({ naks: "1", discovers: "2" });
    expect(r.kv.addr_after_renew).toBe("192.168.9.51"); // a new lease: the server handed out the next address
    expect(r.server.log.filter((e) => e.type === "DISCOVER")).toHaveLength(2); // the first lease, then after the NAK
  });

  it("both stacks lease an address, resolve a CNAME chain, ping each other and renew at T1", async () => {
    const m = new Machine({ console: () => {}, cmdline: "mode=dhcp", memory: 32 << 20, seed: 3n });
    const net = new Network(m, { seed: 9n });
    const sw = net.switch();
    const server = new DhcpServer(net, {
      serverIp: "192.168.7.1", router: "192.168.7.1", dns: "192.168.7.1", first: "192.168.7.100", leaseSeconds: 40,
      names: { "www.sim.test": { cname: "edge.sim.test" }, "edge.sim.test": { a: "192.168.7.80", ttl: 30 } },
    });
    net.connect(server.host.port, sw.port(), { latencyNs: 20_000 });
    for (const mac of ["02:00:00:00:00:0a", "02:00:00:00:00:0b"]) {
      const nic = new VirtioNet(m, { mac });
      nic.connect(net.port(mac));
      net.connect(nic.port!, sw.port(), { latencyNs: 20_000 });
      attachVirtioMmio(m, nic);
    }
    const cap = goldenCapture("net-sim", "two leases", net);
    const r = await m.run(wasm);
    cap.save();
    const kv = parse(r.output);
    expect(r.exitCode, r.output).toBe(0);
    expect(kv).toMatchObject({ addr0: "192.168.7.100/24", addr1: "192.168.7.101/24", gw0: "192.168.7.1", dns0: "192.168.7.1",
      lease0: "40", dns_status: "2", dns_addr: "192.168.7.80", dns_cnames: "1", dns_cached: "1", dns_missing: "1",
      dns_missing_status: "3", ping_ok: "1", renewals: "1", renew_acks: "2", renewed_at_s: "20", addr_after_renew: "192.168.7.100" });
    expect(server.log.slice(0, 4).map((e) => e.type).sort()).toEqual(["DISCOVER", "DISCOVER", "REQUEST", "REQUEST"]);
    expect(server.log.find((e) => e.type === "REQUEST" && e.unicast)).toBeTruthy(); // the renewal goes to the server directly
  });
});
