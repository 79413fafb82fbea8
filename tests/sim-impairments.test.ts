// Each link impairment of the simulation API (uniwasm/sim) does what it says,
// measured on pcap captures: one of the frames a scripted host sent (tx, at
// its port) and one of what the link delivered (after impairments). Every
// frame carries its number, so the two captures can be matched frame by frame.
import { describe, expect, it } from "vitest";
import { World, ScriptedHost, PcapWriter, parsePcap, type LinkSpec } from "../host/sim/index.ts";

const SIZE = 1000;
const MS = 1_000_000n;

function frame(seq: number): Uint8Array {
  const f = new Uint8Array(SIZE);
  f.set([2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x88, 0xb5]); // local experimental EtherType
  new DataView(f.buffer).setUint32(14, seq);
  for (let i = 18; i < SIZE; i++) f[i] = (seq * 31 + i) & 255;
  return f;
}
const seqOf = (f: Uint8Array) => new DataView(f.buffer, f.byteOffset).getUint32(14);

interface Rec { at: bigint; seq: number; data: Uint8Array }

/** Sends `count` frames, one every `everyNs` (0: all at once), through a link with `spec`; returns both captures, parsed. */
async function measure(spec: LinkSpec, count: number, everyNs: bigint, seed = 5) {
  const world = new World({ seed });
  const src = new ScriptedHost(world.network, "src");
  const dst = new ScriptedHost(world.network, "dst");
  const link = world.link(src, dst, spec);
  const rxCap = link.capture();
  const txCap = new PcapWriter();
  src.port.tee(txCap, "tx");
  for (let i = 0; i < count; i++) src.sendAt(BigInt(i) * everyNs, frame(i));
  world.network.runAll();
  const recs = (w: PcapWriter): Rec[] => parsePcap(w.bytes()).records.map((r) => ({ at: r.atNs, seq: seqOf(r.data), data: r.data }));
  return { tx: recs(txCap), rx: recs(rxCap), stats: link.stats.aToB };
}

/** One-way delay of each delivered frame, by matching its number to the send. */
function delays(m: { tx: Rec[]; rx: Rec[] }): bigint[] {
  const sent = new Map(m.tx.map((r) => [r.seq, r.at]));
  return m.rx.map((r) => r.at - sent.get(r.seq)!);
}

describe("link impairments, measured on the capture", () => {
  it("delay: every frame arrives exactly delayMs later", async () => {
    const m = await measure({ delayMs: 5 }, 100, MS);
    expect(m.rx.length).toBe(100);
    expect(new Set(delays(m))).toEqual(new Set([5n * MS]));
  });

  it("jitter: delays spread over [delay, delay + jitter]", async () => {
    const m = await measure({ delayMs: 5, jitterMs: 2 }, 500, 10n * MS);
    const d = delays(m).map(Number);
    expect(Math.min(...d)).toBeGreaterThanOrEqual(5e6);
    expect(Math.max(...d)).toBeLessThanOrEqual(7e6);
    expect(Math.max(...d) - Math.min(...d)).toBeGreaterThan(1.8e6); // it really spreads
  });

  it("bandwidth: a burst leaves one frame per serialization time", async () => {
    const m = await measure({ bandwidth: 8e6 }, 20, 0n);
    expect(m.rx.length).toBe(20);
    const gaps = m.rx.slice(1).map((r, i) => r.at - m.rx[i].at);
    expect(new Set(gaps)).toEqual(new Set([1n * MS])); // 1000 bytes at 8 Mbit/s
  });

  it("queue: with a bandwidth, frames past the queue length are tail-dropped", async () => {
    const m = await measure({ bandwidth: 8e6, queue: 5 }, 20, 0n);
    expect(m.rx.map((r) => r.seq)).toEqual([0, 1, 2, 3, 4]);
    expect(m.stats.queueDrops).toBe(15);
  });

  it("loss: about that fraction of frames never arrives", async () => {
    const m = await measure({ loss: 0.2 }, 4000, MS);
    const lost = 1 - m.rx.length / m.tx.length;
    expect(lost).toBeGreaterThan(0.17);
    expect(lost).toBeLessThan(0.23);
    expect(m.stats.lost).toBe(m.tx.length - m.rx.length);
  });

  it("duplication: about that fraction of frames arrives twice", async () => {
    const m = await measure({ duplicate: 0.1 }, 4000, MS);
    const seen = new Map<number, number>();
    for (const r of m.rx) seen.set(r.seq, (seen.get(r.seq) ?? 0) + 1);
    const twice = [...seen.values()].filter((n) => n === 2).length;
    expect(seen.size).toBe(4000);
    expect(twice / 4000).toBeGreaterThan(0.08);
    expect(twice / 4000).toBeLessThan(0.12);
  });

  it("reordering: held-back frames are overtaken by later ones", async () => {
    const m = await measure({ reorder: 0.1, reorderDelayMs: 3 }, 4000, MS);
    expect(m.rx.length).toBe(4000);
    // a frame is late if some frame sent after it arrived before it
    let late = 0;
    let maxSeq = -1;
    for (const r of m.rx) {
      if (r.seq < maxSeq) late++;
      else maxSeq = r.seq;
    }
    expect(late / 4000).toBeGreaterThan(0.08);
    expect(late / 4000).toBeLessThan(0.12);
    expect(new Set(delays(m))).toEqual(new Set([0n, 3n * MS]));
  });

  it("corruption: about that fraction of frames arrives with exactly one bit flipped", async () => {
    const m = await measure({ corrupt: 0.1 }, 4000, MS);
    expect(m.rx.length).toBe(4000);
    let corrupted = 0;
    for (let i = 0; i < 4000; i++) {
      let bits = 0;
      for (let j = 0; j < SIZE; j++) for (let x = m.rx[i].data[j] ^ m.tx[i].data[j]; x; x &= x - 1) bits++;
      expect(bits).toBeLessThanOrEqual(1);
      corrupted += bits;
    }
    expect(corrupted / 4000).toBeGreaterThan(0.08);
    expect(corrupted / 4000).toBeLessThan(0.12);
  });

  it("partitions: nothing sent while the link is cut arrives; it heals on schedule", async () => {
    const m = await measure({ delayMs: 1, partitions: [{ start: 1, heal: 2 }, { start: 2.5, heal: 2.6 }] }, 300, 10n * MS);
    const cut = (t: bigint) => (t >= 1_000_000_000n && t < 2_000_000_000n) || (t >= 2_500_000_000n && t < 2_600_000_000n);
    const sentOk = m.tx.filter((r) => !cut(r.at)).map((r) => r.seq);
    expect(m.rx.map((r) => r.seq)).toEqual(sentOk);
    expect(m.stats.partitioned).toBe(110);
  });

  it("aToB and bToA: each direction has its own impairments", async () => {
    const world = new World({ seed: 5 });
    const a = new ScriptedHost(world.network, "a");
    const b = new ScriptedHost(world.network, "b");
    world.link(a, b, { delayMs: 1, aToB: { delayMs: 5 }, bToA: { loss: 0.5 } });
    const atA = new PcapWriter();
    const atB = new PcapWriter();
    a.port.tee(atA, "rx");
    b.port.tee(atB, "rx");
    for (let i = 0; i < 1000; i++) {
      a.sendAt(BigInt(i) * MS, frame(i));
      b.sendAt(BigInt(i) * MS, frame(i));
    }
    world.network.runAll();
    const arrivals = (w: PcapWriter) => parsePcap(w.bytes()).records.map((r) => ({ at: r.atNs, seq: seqOf(r.data) }));
    const toB = arrivals(atB);
    const toA = arrivals(atA);
    // a -> b: the direction's own delay, nothing lost
    expect(toB.length).toBe(1000);
    expect(new Set(toB.map((r) => r.at - BigInt(r.seq) * MS))).toEqual(new Set([5n * MS]));
    // b -> a: the shared delay, and half lost
    expect(new Set(toA.map((r) => r.at - BigInt(r.seq) * MS))).toEqual(new Set([1n * MS]));
    expect(toA.length).toBeGreaterThan(430);
    expect(toA.length).toBeLessThan(570);
  });

  it("link.set scheduled with world.at changes the impairments from that virtual time on", async () => {
    const world = new World({ seed: 5 });
    const src = new ScriptedHost(world.network, "src");
    const dst = new ScriptedHost(world.network, "dst");
    const link = world.link(src, dst, { delayMs: 2 });
    const cap = link.capture();
    world.at(0.05, () => link.set({ delayMs: 10, loss: 1 }));
    world.at(0.08, () => link.set({ loss: 0 }));
    for (let i = 0; i < 100; i++) src.sendAt(BigInt(i) * MS, frame(i));
    world.network.runAll();
    const got = parsePcap(cap.bytes()).records.map((r) => ({ seq: seqOf(r.data), delay: r.atNs - BigInt(seqOf(r.data)) * MS }));
    // sent before 50 ms: 2 ms; from 50 to 80 ms: all lost; from 80 ms: 10 ms (the delay set at 50 ms stays)
    expect(got.map((r) => r.seq)).toEqual([...Array.from({ length: 50 }, (_, i) => i), ...Array.from({ length: 20 }, (_, i) => 80 + i)]);
    for (const r of got) expect(r.delay).toBe(r.seq < 50 ? 2n * MS : 10n * MS);
    expect(link.stats.aToB.lost).toBe(30);
  });

  it("the same seed draws the same impairments; another seed others", async () => {
    const spec = { loss: 0.05, duplicate: 0.05, reorder: 0.05, corrupt: 0.05, jitterMs: 1 };
    const a = await measure(spec, 1000, MS, 9);
    const b = await measure(spec, 1000, MS, 9);
    const c = await measure(spec, 1000, MS, 10);
    const key = (m: typeof a) => m.rx.map((r) => `${r.at}:${r.seq}:${r.data.join(",").length}`).join(";");
    expect(key(a)).toBe(key(b));
    expect(key(c)).not.toBe(key(a));
  });

  it("rejects impairments that make no sense, saying which", () => {
    const world = new World();
    const a = new ScriptedHost(world.network, "a");
    const b = new ScriptedHost(world.network, "b");
    expect(() => world.link(a, b, { loss: 1.5 })).toThrow(/loss 1.5: a probability/);
    expect(() => world.link(a, b, { delay: 5 } as never)).toThrow(/unknown impairment "delay"/);
    expect(() => world.link(a, b, { delayMs: -1 })).toThrow(/delayMs -1: a non-negative number/);
    expect(() => world.link(a, b, { queue: 2.5 })).toThrow(/whole number/);
    expect(() => world.link(a, b, { queue: 5, aToB: { bandwidth: 1e6 } })).toThrow(/^link a-b: queue 5 \(bToA\) without a bandwidth/);
    const ok = world.link(a, b, { bandwidth: 1e6, queue: 5 });
    expect(() => ok.set({ bandwidth: 0 })).toThrow(/queueLimit 5 without a bandwidthBps/);
    expect(() => world.link(a, b, { partitions: [{ start: 2, heal: 1 }] })).toThrow(/heals at/);
    expect(() => new World({ seed: -1 })).toThrow(/seed/);
  });
});
