// The network simulator (host/netsim) and the pcap writer (host/pcap.ts):
// timing, impairments at the right rates and exactly reproducible by seed, the
// learning switch, two machines on one network, and pcap files read back.

import { describe, expect, it } from "vitest";
import { VirtualClock } from "../host/clock.ts";
import { EventQueue } from "../host/events.ts";
import { Machine } from "../host/machine.ts";
import { Network, ScriptedHost, type LinkOptions } from "../host/netsim/index.ts";
import { LINKTYPE_ETHERNET, PCAP_MAGIC_NS, PCAP_MAGIC_US, PcapWriter, parsePcap } from "../host/pcap.ts";
import { attachVirtioMmio } from "../host/virtio/attach.ts";
import { VIRTIO_F_VERSION_1, bits } from "../host/virtio/device.ts";
import { VirtioNet } from "../host/virtio/net.ts";
import { TestDriver, machineWithRam, runEvents } from "./helpers/virtio-driver.ts";

function world() {
  return { events: new EventQueue(), clock: new VirtualClock() };
}

/** A 64-byte frame carrying sequence number `i`. */
function frame(i: number, src = 1, dst = 2): Uint8Array {
  const f = new Uint8Array(64);
  f.set([2, 0, 0, 0, 0, dst], 0);
  f.set([2, 0, 0, 0, 0, src], 6);
  f[12] = 0x88;
  f[13] = 0xb5;
  new DataView(f.buffer).setUint32(14, i);
  return f;
}
const seqOf = (f: Uint8Array) => new DataView(f.buffer, f.byteOffset).getUint32(14);

/** Sends n frames a -> b, one every `gapNs`, and returns what b got. */
function blast(opts: LinkOptions, n: number, seed = 5n, gapNs = 1000n) {
  const net = new Network(world(), { seed });
  const a = new ScriptedHost(net, "a");
  const b = new ScriptedHost(net, "b");
  const link = net.connect(a.port, b.port, opts);
  for (let i = 0; i < n; i++) a.sendAt(BigInt(i) * gapNs, frame(i));
  net.runAll();
  return { received: b.received, stats: link.aToB.stats, link };
}

/** |observed - p n| within 4 standard deviations of a binomial. */
function expectRate(observed: number, n: number, p: number): void {
  const sd = Math.sqrt(n * p * (1 - p));
  expect(Math.abs(observed - n * p)).toBeLessThan(4 * sd + 1);
}

describe("netsim links", () => {
  it("delivers after the latency, in order, at virtual times", () => {
    const { received, stats } = blast({ latencyNs: 50_000 }, 10);
    expect(received.map((r) => seqOf(r.frame))).toEqual([...Array(10).keys()]);
    expect(received.map((r) => r.at)).toEqual([...Array(10).keys()].map((i) => BigInt(i) * 1000n + 50_000n));
    expect(stats.delivered).toBe(10);
  });

  it("serializes at the bandwidth and tail-drops past the queue limit", () => {
    // 64-byte frames at 512 kbit/s: 1 ms each; all offered at once
    const { received, stats } = blast({ latencyNs: 0, bandwidthBps: 512_000, queueLimit: 3 }, 5, 5n, 0n);
    expect(received.map((r) => r.at)).toEqual([1_000_000n, 2_000_000n, 3_000_000n]);
    expect(stats.queueDrops).toBe(2);
  });

  it("applies each direction's own impairments", () => {
    const net = new Network(world());
    const a = new ScriptedHost(net, "a");
    const b = new ScriptedHost(net, "b");
    const link = net.connect(a.port, b.port, { latencyNs: 100, bToA: { latencyNs: 300, loss: 1 } });
    a.send(frame(1));
    b.send(frame(2));
    net.runAll();
    expect(b.received.map((r) => r.at)).toEqual([100n]);
    expect(a.received).toEqual([]);
    expect(link.bToA.stats.lost).toBe(1);
    link.set({ bToA: { loss: 0 } });
    b.send(frame(3));
    net.runAll();
    expect(a.received.length).toBe(1);
    expect(a.received[0].at - 100n).toBe(300n);
  });

  const N = 20_000;
  it("loses frames at the configured rate", () => {
    const { received, stats } = blast({ loss: 0.1 }, N);
    expectRate(stats.lost, N, 0.1);
    expect(received.length).toBe(N - stats.lost);
  });

  it("duplicates frames at the configured rate", () => {
    const { received, stats } = blast({ duplicate: 0.05 }, N);
    expectRate(stats.duplicated, N, 0.05);
    expect(received.length).toBe(N + stats.duplicated);
    const seen = new Map<number, number>();
    for (const r of received) seen.set(seqOf(r.frame), (seen.get(seqOf(r.frame)) ?? 0) + 1);
    expect([...seen.values()].filter((c) => c === 2).length).toBe(stats.duplicated);
  });

  it("reorders frames at the configured rate: held-back frames arrive after later ones", () => {
    const { received, stats } = blast({ latencyNs: 10_000, reorder: 0.02, reorderDelayNs: 5_000 }, N);
    expectRate(stats.reordered, N, 0.02);
    expect(received.length).toBe(N);
    let inversions = 0;
    for (let i = 1; i < received.length; i++) if (seqOf(received[i].frame) < seqOf(received[i - 1].frame)) inversions++;
    expect(inversions).toBeGreaterThan(0);
    expect(inversions).toBeLessThanOrEqual(stats.reordered);
  });

  it("corrupts frames at the configured rate, one flipped bit each", () => {
    const { received, stats } = blast({ corrupt: 0.03 }, N);
    expectRate(stats.corrupted, N, 0.03);
    let flipped = 0;
    for (const r of received) {
      const want = frame(seqOf(r.frame));
      let bitsDiff = 0;
      for (let i = 0; i < want.length; i++) for (let x = want[i] ^ r.frame[i]; x; x &= x - 1) bitsDiff++;
      // a flip inside the sequence number makes the frame look like another one: count those by their distance
      if (bitsDiff) flipped++;
      expect(bitsDiff).toBeLessThanOrEqual(2);
    }
    expect(flipped).toBeGreaterThan(stats.corrupted * 0.9);
    expect(flipped).toBeLessThanOrEqual(stats.corrupted);
  });

  it("adds uniform jitter within [0, jitterNs]", () => {
    const { received } = blast({ latencyNs: 1000, jitterNs: 500 }, 2000, 5n, 1_000_000n);
    const delays = received.map((r) => Number(r.at - BigInt(seqOf(r.frame)) * 1_000_000n));
    expect(Math.min(...delays)).toBeGreaterThanOrEqual(1000);
    expect(Math.max(...delays)).toBeLessThanOrEqual(1500);
    const mean = delays.reduce((a, b) => a + b, 0) / delays.length;
    expect(Math.abs(mean - 1250)).toBeLessThan(15);
  });

  it("replays exactly for a seed, and differently for another", () => {
    const opts: LinkOptions = { latencyNs: 1000, loss: 0.1, duplicate: 0.05, reorder: 0.05, reorderDelayNs: 3000, corrupt: 0.05, jitterNs: 700 };
    const digest = (seed: bigint) =>
      blast(opts, 3000, seed)
        .received.map((r) => `${r.at}:${Buffer.from(r.frame).toString("hex")}`)
        .join("\n");
    const one = digest(11n);
    expect(digest(11n)).toBe(one);
    expect(digest(12n)).not.toBe(one);
  });

  it("keeps link random streams independent of other links' traffic", () => {
    const run = (noise: boolean) => {
      const net = new Network(world(), { seed: 3n });
      const a = new ScriptedHost(net, "a");
      const b = new ScriptedHost(net, "b");
      const c = new ScriptedHost(net, "c");
      const d = new ScriptedHost(net, "d");
      net.connect(a.port, b.port, { loss: 0.3 });
      net.connect(c.port, d.port, { loss: 0.3 });
      for (let i = 0; i < 200; i++) {
        a.sendAt(BigInt(i), frame(i));
        if (noise) c.sendAt(BigInt(i), frame(i));
      }
      net.runAll();
      return b.received.map((r) => seqOf(r.frame)).join(",");
    };
    expect(run(true)).toBe(run(false));
  });

  it("refuses bad parameters and double connections", () => {
    const net = new Network(world());
    const a = net.port("a");
    const b = net.port("b");
    expect(() => net.connect(a, b, { loss: 1.5 })).toThrow(/probability/);
    net.connect(a, b);
    expect(() => net.connect(a, net.port("c"))).toThrow(/already connected/);
    const lonely = net.port("lonely");
    lonely.send(frame(0));
    expect(lonely.stats.unconnected).toBe(1);
  });
});

describe("netsim switch", () => {
  it("floods unknown and broadcast destinations, then forwards to the learned port", () => {
    const net = new Network(world());
    const sw = net.switch("sw");
    const hosts = [1, 2, 3].map((i) => {
      const h = new ScriptedHost(net, `h${i}`, new Uint8Array([2, 0, 0, 0, 0, i]));
      net.connect(h.port, sw.port(), { latencyNs: 100 });
      return h;
    });
    hosts[0].send(frame(1, 1, 2)); // h2 unknown: flooded to h2 and h3
    net.runAll();
    expect(hosts.map((h) => h.take().length)).toEqual([0, 1, 1]);
    hosts[1].send(frame(2, 2, 1)); // h1 learned: only h1
    net.runAll();
    expect(hosts.map((h) => h.take().length)).toEqual([1, 0, 0]);
    hosts[0].send(frame(3, 1, 2)); // h2 learned now
    net.runAll();
    expect(hosts.map((h) => h.take().length)).toEqual([0, 1, 0]);
    const bcast = frame(4, 3, 0);
    bcast.fill(0xff, 0, 6);
    hosts[2].send(bcast);
    net.runAll();
    expect(hosts.map((h) => h.take().length)).toEqual([1, 1, 0]);
    expect(hosts[0].received).toEqual([]);
    expect(sw.stats).toEqual({ forwarded: 2, flooded: 2, filtered: 0 });
  });
});

describe("two machines on one network", () => {
  it("share a clock and an event queue; a frame sent by one lands in the other's receive buffer", () => {
    const clock = new VirtualClock();
    const events = new EventQueue();
    const ma = machineWithRam(1 << 20, { clock, events });
    const mb = machineWithRam(1 << 20, { clock, events, seed: 2n });
    expect(ma.events).toBe(mb.events);
    const net = new Network(ma, { seed: 1n });
    const pa = net.port("a");
    const pb = net.port("b");
    net.connect(pa, pb, { latencyNs: 25_000 });
    const mk = (m: Machine, mac: string, port: typeof pa) => {
      const dev = new VirtioNet(m, { mac, port });
      const d = new TestDriver(m, attachVirtioMmio(m, dev));
      expect(d.negotiate(bits(VIRTIO_F_VERSION_1))).toBe(true);
      const rx = d.setupQueue(0, 8);
      const tx = d.setupQueue(1, 8);
      rx.add([{ addr: 0x80000, len: 2048, write: true }]);
      d.driverOk();
      return { dev, d, rx, tx };
    };
    const A = mk(ma, "02:00:00:00:00:0a", pa);
    const B = mk(mb, "02:00:00:00:00:0b", pb);
    const f = frame(77, 0x0a, 0x0b);
    ma.ram.fill(0, 0x90000, 0x9000c);
    ma.ram.set(f, 0x9000c);
    A.tx.add([{ addr: 0x90000, len: 12 + f.length }]);
    A.tx.kick();
    runEvents(ma); // either machine's wait would do this: they share the queue
    expect(B.rx.takeUsed()).toEqual([{ id: 0, len: 12 + f.length }]);
    expect([...mb.ram.subarray(0x8000c, 0x8000c + f.length)]).toEqual([...f]);
    expect(clock.now()).toBe(25_000n);
    expect(B.dev.stats.interrupts).toBe(1);
  });
});

describe("pcap", () => {
  it("writes a classic nanosecond pcap of a port's traffic that parses back", () => {
    const net = new Network(world());
    const a = new ScriptedHost(net, "a");
    const b = new ScriptedHost(net, "b");
    const link = net.connect(a.port, b.port, { latencyNs: 1_500_000_123 });
    const pcapA = new PcapWriter();
    const pcapLink = new PcapWriter({ resolution: "us", snaplen: 20 });
    a.port.tee(pcapA);
    link.tee(pcapLink);
    a.send(frame(1));
    b.sendAt(2_000_000_000n, frame(2, 2, 1));
    net.runAll();
    const p = parsePcap(pcapA.bytes());
    expect(new DataView(pcapA.bytes().buffer).getUint32(0, true)).toBe(PCAP_MAGIC_NS);
    expect(p).toMatchObject({ resolution: "ns", version: [2, 4], snaplen: 65535, linktype: LINKTYPE_ETHERNET });
    expect(p.records.map((r) => r.atNs)).toEqual([0n, 3_500_000_123n]);
    expect(p.records.map((r) => seqOf(r.data))).toEqual([1, 2]);
    expect(p.records[0].origLen).toBe(64);
    expect(pcapA.count).toBe(2);
    // the link tap: delivery times, microseconds, cut at the snaplen
    const l = parsePcap(pcapLink.bytes());
    expect(new DataView(pcapLink.bytes().buffer).getUint32(0, true)).toBe(PCAP_MAGIC_US);
    expect(l.records.map((r) => r.atNs)).toEqual([1_500_000_000n, 3_500_000_000n]);
    expect(l.records.map((r) => [r.data.length, r.origLen])).toEqual([
      [20, 64],
      [20, 64],
    ]);
    // the record header layout, byte by byte: ts_sec, ts_nsec, incl_len, orig_len
    const raw = new DataView(pcapA.bytes().buffer);
    const second = 24 + 16 + 64;
    expect([raw.getUint32(second, true), raw.getUint32(second + 4, true), raw.getUint32(second + 8, true), raw.getUint32(second + 12, true)]).toEqual([3, 500_000_123, 64, 64]);
  });

  it("rejects a malformed file", () => {
    expect(() => parsePcap(new Uint8Array(10))).toThrow(/header/);
    const w = new PcapWriter();
    w.record(0n, frame(0));
    expect(() => parsePcap(w.bytes().subarray(0, 50))).toThrow(/truncated/);
  });
});
