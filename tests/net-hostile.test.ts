// A hostile peer on the simulated link: malformed frames of every class, a
// fragment flood, overlapping fragments and an ARP storm, thrown at a running
// stack. Each is dropped and counted under its reason, nothing traps or
// leaks, and afterwards the interface still answers a well-formed datagram.
import { join } from "node:path";
import { expect, it } from "vitest";
import { Machine } from "../host/machine.ts";
import { attachVirtioMmio } from "../host/virtio/attach.ts";
import { VirtioNet } from "../host/virtio/net.ts";
import { Network, ScriptedHost } from "../host/netsim/index.ts";
import { ROOT } from "../tools/paths.ts";
import { buildAppWasm } from "./helpers/kernel.ts";
import { goldenCapture } from "./helpers/golden.ts";
import { arpReply, arpRequest, ethernet, ipv4, udp, BROADCAST } from "./helpers/frames.ts";

const US = "02:00:00:00:00:02", US_IP = "10.0.0.2";
const EVIL = "02:00:00:00:00:99", EVIL_IP = "10.0.0.9";
const MS = 1_000_000n;

it("drops and counts every class of hostile input, leaks nothing, and keeps working", async () => {
  const wasm = await buildAppWasm(join(ROOT, "tests/kernels/net-peer"));
  const m = new Machine({ console: () => {}, memory: 16 << 20, cmdline: `ip=${US_IP}/24 role=server` });
  const net = new Network(m, { seed: 3n });
  const nic = new VirtioNet(m, { mac: US });
  nic.connect(net.port("victim"));
  const evil = new ScriptedHost(net, "evil", Uint8Array.from([2, 0, 0, 0, 0, 0x99]));
  net.connect(nic.port!, evil.port, { latencyNs: 10_000 });
  attachVirtioMmio(m, nic);
  // the attacker answers ARP for its own address, so replies can reach it
  evil.onFrame = (f) => {
    if (f[12] === 0x08 && f[13] === 0x06 && f[21] === 1 && f.subarray(38, 42).join(".") === EVIL_IP) {
      evil.send(ethernet(US, EVIL, 0x0806, arpReply(EVIL, EVIL_IP, US, US_IP)));
    }
  };

  const ip = (fields: Partial<Parameters<typeof ipv4>[0]> & { payload: Uint8Array }) =>
    ethernet(US, EVIL, 0x0800, ipv4({ src: EVIL_IP, dst: US_IP, proto: 17, ...fields }));
  const goodUdp = (data: Uint8Array, port = 7) => udp(EVIL_IP, US_IP, 4000, port, data);
  let t = 5n * MS;
  const at = (frame: Uint8Array) => evil.sendAt((t += 100_000n), frame);

  // malformed, one of each class
  at(ethernet(US, EVIL, 0x0800, new Uint8Array(10))); // an IPv4 header cut short
  at(ethernet(US, EVIL, 0x88b5, new Uint8Array(46))); // an ethertype nobody speaks here
  at(ip({ payload: goodUdp(new Uint8Array(8)), ihl: 4 })); // header shorter than 20 bytes
  at(ip({ payload: goodUdp(new Uint8Array(8)), totalLength: 1400 })); // claims more than the frame holds
  at(ip({ payload: goodUdp(new Uint8Array(8)), checksum: 0x1234 })); // bad header checksum
  at(ip({ payload: udp(EVIL_IP, US_IP, 4000, 7, new Uint8Array(8), { checksum: 0xbeef }) })); // bad UDP checksum
  at(ip({ payload: udp(EVIL_IP, US_IP, 4000, 7, new Uint8Array(8), { length: 200 }) })); // UDP length lies
  at(ip({ proto: 1, payload: Uint8Array.of(8, 0, 0, 0) })); // ICMP shorter than its header
  // overlapping fragments that disagree: the datagram must be dropped, not spliced
  const data = new Uint8Array(64).fill(0x41);
  const dgram = goodUdp(data);
  at(ip({ id: 77, payload: dgram.subarray(0, 40), moreFragments: true }));
  at(ip({ id: 77, payload: new Uint8Array(40).fill(0x42), fragOffset: 32, moreFragments: true }));
  // a fragment flood: first fragments of 400 datagrams that never complete
  for (let id = 1000; id < 1400; id++) at(ip({ id, payload: new Uint8Array(1000), moreFragments: true }));
  // an ARP storm: 2000 requests for us from 2000 different senders
  for (let i = 0; i < 2000; i++) {
    const sender = `10.0.${1 + (i >> 8)}.${i & 255}`;
    at(ethernet(BROADCAST, EVIL, 0x0806, arpRequest(EVIL, sender, US_IP)));
  }
  // after the reassembly timeout: a well-formed datagram, then "bye"
  evil.sendAt(15_000n * MS, ethernet(US, EVIL, 0x0800, ipv4({ src: EVIL_IP, dst: US_IP, proto: 17, payload: goodUdp(new TextEncoder().encode("still alive")) })));
  evil.sendAt(15_100n * MS, ethernet(US, EVIL, 0x0800, ipv4({ src: EVIL_IP, dst: US_IP, proto: 17, id: 2, payload: goodUdp(new TextEncoder().encode("bye")) })));

  const cap = goldenCapture("net-hostile", "attack", net);
  const r = await m.run(wasm);
  cap.save();
  expect(r.exitCode, r.output).toBe(0);
  const echoed = evil.received.filter((f) => f.frame[12] === 0x08 && f.frame[13] === 0x00 && f.frame[23] === 17);
  // (frames are padded to Ethernet's minimum: the UDP length says where the data ends)
  expect(echoed.map((f) => new TextDecoder().decode(f.frame.subarray(42, 34 + ((f.frame[38] << 8) | f.frame[39]))))).toEqual(["still alive"]);

  const line = (proto: string) => r.output.split("\n").find((l) => l.startsWith(`net ${proto}:`)) ?? "";
  expect(line("ip")).toMatch(/drop_truncated=1\b/);
  expect(line("eth")).toMatch(/drop_unknown_type=1\b/);
  expect(line("ip")).toMatch(/drop_bad_header=1\b/);
  expect(line("ip")).toMatch(/drop_bad_length=1\b/);
  expect(line("ip")).toMatch(/drop_bad_checksum=1\b/);
  expect(line("ip")).toMatch(/reasm_overlaps=1\b/);
  expect(line("ip")).toMatch(/reasm_(evictions|too_big)=\d+|drop_no_buffer=\d+/); // the flood hit a limit
  expect(line("ip")).toMatch(/reasm_timeouts=\d+/);
  expect(line("udp")).toMatch(/drop_bad_checksum=1\b/);
  expect(line("udp")).toMatch(/drop_malformed=1\b/);
  expect(line("icmp")).toMatch(/drop_malformed=1\b/);
  expect(line("arp")).toMatch(/rx_req=2000\b/);
  expect(line("arp")).toMatch(/evictions=\d+/);
  const kv = Object.fromEntries(r.output.split("\n").filter((l) => /^\w+=/.test(l)).map((l) => l.split("=")));
  expect(kv.pool_in_use).toBe("0"); // every buffer the attack touched came back
  expect(kv.reasm_in_use).toBe("0");
  expect(Number(kv.arp_entries)).toBeLessThanOrEqual(64); // the cache stayed bounded
  expect(kv.server_echoed).toBe("1");

  // the same counters as an object, read from the kernel by the platform (kernel/counters.ts)
  const snap = m.kernelCounters()!;
  expect(snap.ip).toMatchObject({ drop_truncated: 1, drop_bad_header: 1, drop_bad_length: 1, drop_bad_checksum: 1, reasm_overlaps: 1 });
  expect(snap.eth.drop_unknown_type).toBe(1);
  expect(snap.udp).toMatchObject({ drop_bad_checksum: 1, drop_malformed: 1 });
  expect(snap.arp.rx_req).toBe(2000);
  // every counter the console line shows has the snapshot's value
  for (const proto of ["eth", "arp", "ip", "icmp", "udp"]) {
    for (const [, k, v] of line(proto).matchAll(/(\w+)=(\d+)/g)) expect(snap[proto][k], `${proto}.${k}`).toBe(Number(v));
  }
});
