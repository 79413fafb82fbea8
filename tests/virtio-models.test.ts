// The virtio device models (host/virtio/*) driven from TypeScript by a tiny
// test driver: the transport registers, feature negotiation, the split
// virtqueue and its validation, event-idx suppression, virtio-net over the
// network simulator, virtio-rng, and every fault injection.

import { describe, expect, it } from "vitest";
import { attachVirtioMmio } from "../host/virtio/attach.ts";
import {
  STATUS_DEVICE_NEEDS_RESET,
  STATUS_DRIVER_OK,
  STATUS_FEATURES_OK,
  VIRTIO_F_EVENT_IDX,
  VIRTIO_F_INDIRECT_DESC,
  VIRTIO_F_VERSION_1,
  bits,
} from "../host/virtio/device.ts";
import { REG, VIRTIO_MMIO_MAGIC } from "../host/virtio/mmio.ts";
import {
  VIRTIO_NET_F_CSUM,
  VIRTIO_NET_F_GUEST_CSUM,
  VIRTIO_NET_F_MAC,
  VIRTIO_NET_F_MRG_RXBUF,
  VIRTIO_NET_F_STATUS,
  VIRTIO_NET_F_GUEST_TSO4,
  VIRTIO_NET_F_HOST_TSO4,
  VIRTIO_NET_HDR_GSO_TCPV4,
  VIRTIO_NET_HDR_F_DATA_VALID,
  VIRTIO_NET_HDR_F_NEEDS_CSUM,
  VirtioNet,
  checksumValid,
  fold,
  onesSum,
} from "../host/virtio/net.ts";
import { VirtioRng } from "../host/virtio/rng.ts";
import { Network, ScriptedHost } from "../host/netsim/index.ts";
import { SplitMix64 } from "../host/prng.ts";
import { TestDriver, machineWithRam, runEvents, takePending } from "./helpers/virtio-driver.ts";

const V1 = bits(VIRTIO_F_VERSION_1);
const EVENT_IDX = bits(VIRTIO_F_EVENT_IDX);

function rngSetup(opts: ConstructorParameters<typeof VirtioRng>[1] = {}, seed = 7n) {
  const m = machineWithRam(4 << 20, { seed });
  const dev = new VirtioRng(m, opts);
  const mmio = attachVirtioMmio(m, dev);
  const d = new TestDriver(m, mmio);
  return { m, dev, mmio, d };
}

/** Writes an IPv4 header 10.0.0.1 -> 10.0.0.2 (and the IPv4 ethertype) into frame `f`; returns its offset. */
function ipv4Header(f: Uint8Array, proto: number, total: number, ident = 0, dontFrag = false): number {
  f[12] = 0x08;
  const ip = 14;
  f[ip] = 0x45;
  f[ip + 2] = (total >> 8) & 0xff;
  f[ip + 3] = total & 0xff;
  f[ip + 4] = ident >> 8;
  f[ip + 5] = ident & 0xff;
  if (dontFrag) f[ip + 6] = 0x40;
  f[ip + 8] = 64;
  f[ip + 9] = proto;
  f.set([10, 0, 0, 1], ip + 12);
  f.set([10, 0, 0, 2], ip + 16);
  const hc = ~fold(onesSum(f.subarray(ip, ip + 20))) & 0xffff;
  f[ip + 10] = hc >> 8;
  f[ip + 11] = hc & 0xff;
  return ip;
}

/** A UDP/IPv4 frame with a correct (or, with `partial`, a pseudo-header-only) checksum. */
function udpFrame(payload: Uint8Array, opts: { partial?: boolean; dst?: Uint8Array; src?: Uint8Array } = {}): Uint8Array {
  const f = new Uint8Array(14 + 20 + 8 + payload.length);
  f.set(opts.dst ?? [0x52, 0x54, 0, 0x12, 0x34, 0x56], 0);
  f.set(opts.src ?? [2, 0, 0, 0, 0, 0xfe], 6);
  const ip = ipv4Header(f, 17, 20 + 8 + payload.length);
  const u = ip + 20;
  f.set([0x30, 0x39, 0x00, 0x35], u);
  f[u + 4] = (8 + payload.length) >> 8;
  f[u + 5] = (8 + payload.length) & 0xff;
  f.set(payload, u + 8);
  const pseudo = onesSum(f.subarray(ip + 12, ip + 20)) + 17 + 8 + payload.length;
  const c = opts.partial ? fold(pseudo) : ~fold(onesSum(f.subarray(u), pseudo)) & 0xffff || 0xffff;
  f[u + 6] = c >> 8;
  f[u + 7] = c & 0xff;
  return f;
}

describe("virtio-mmio transport", () => {
  it("identifies itself and is announced on the command line", () => {
    const m = machineWithRam();
    const rng = new VirtioRng(m);
    const net = new VirtioNet(m);
    const a = attachVirtioMmio(m, rng);
    const b = attachVirtioMmio(m, net);
    expect(Number(a.read(REG.MagicValue, 4))).toBe(VIRTIO_MMIO_MAGIC);
    expect(Number(a.read(REG.Version, 4))).toBe(2);
    expect(Number(a.read(REG.DeviceID, 4))).toBe(4);
    expect(Number(b.read(REG.DeviceID, 4))).toBe(1);
    expect(Number(a.read(REG.VendorID, 4))).toBe(0x554d4551);
    expect(rng.line).toBe(16);
    expect(net.line).toBe(17);
    expect(m.cmdline).toBe("virtio_mmio.device=512@0xfeb00000:16 virtio_mmio.device=512@0xfeb00200:17");
    // QueueNumMax: 256 for existing queues, 0 for the others
    b.write(REG.QueueSel, 4, 1n);
    expect(Number(b.read(REG.QueueNumMax, 4))).toBe(256);
    b.write(REG.QueueSel, 4, 2n);
    expect(Number(b.read(REG.QueueNumMax, 4))).toBe(0);
    expect(a.warnings).toEqual([]);
  });

  it("honours explicit base and line", () => {
    const m = machineWithRam(1 << 20, { cmdline: "console=ttyS0" });
    attachVirtioMmio(m, new VirtioRng(m), { base: 0x1000_0000n, line: 40 });
    expect(m.cmdline).toBe("console=ttyS0 virtio_mmio.device=512@0x10000000:40");
  });

  it("logs wrong-width, misaligned, unknown and wrong-direction accesses and ignores them", () => {
    const { mmio, dev } = rngSetup();
    expect(mmio.read(REG.MagicValue, 2)).toBe(0n);
    expect(mmio.read(REG.MagicValue + 1, 4)).toBe(0n);
    expect(mmio.read(0x0e0, 4)).toBe(0n);
    expect(mmio.read(REG.QueueNotify, 4)).toBe(0n); // write-only
    mmio.write(REG.MagicValue, 4, 1n); // read-only
    mmio.write(REG.Status, 8, 1n);
    mmio.write(0x0e4, 4, 1n);
    expect(mmio.read(REG.Config, 8)).toBe(0n);
    expect(mmio.read(REG.Config, 4)).toBe(0n); // rng has no config: beyond it
    expect(dev.status).toBe(0);
    expect(mmio.warnings.length).toBe(9);
    expect(mmio.warnings.join("\n")).toMatch(/16-bit read at register offset 0x0 \(MagicValue\)/);
    expect(mmio.warnings.join("\n")).toMatch(/read of write-only register QueueNotify/);
    expect(mmio.warnings.join("\n")).toMatch(/write of 0x1 to read-only register MagicValue/);
    expect(dev.stats.warnings).toBe(9);
  });

  it("negotiates features; refuses unoffered ones, missing VERSION_1 and configured combinations", () => {
    const m = machineWithRam();
    const net = new VirtioNet(m, { refuse: [bits(VIRTIO_NET_F_CSUM, VIRTIO_NET_F_GUEST_CSUM)] });
    const d = new TestDriver(m, attachVirtioMmio(m, net));
    const offered = d.deviceFeatures();
    expect(offered).toBe(net.offered);
    expect(offered & V1).toBe(V1);
    // a subset of what is offered: accepted
    const want = V1 | bits(VIRTIO_NET_F_MAC, VIRTIO_NET_F_CSUM);
    expect(d.negotiate(want)).toBe(true);
    expect(net.negotiated).toBe(want);
    // DriverFeatures after FEATURES_OK: ignored
    d.w(REG.DriverFeaturesSel, 0);
    d.w(REG.DriverFeatures, 0xffffffff);
    expect(net.negotiated).toBe(want);
    expect(net.warnings.at(-1)).toMatch(/after FEATURES_OK/);
    // a feature the device does not offer: FEATURES_OK reads back clear
    expect(d.negotiate(V1 | bits(VIRTIO_NET_F_GUEST_TSO4, VIRTIO_NET_F_GUEST_CSUM))).toBe(false);
    expect(net.warnings.at(-1)).toMatch(/does not offer: bit 7/);
    // no VERSION_1
    expect(d.negotiate(bits(VIRTIO_NET_F_MAC))).toBe(false);
    expect(net.warnings.at(-1)).toMatch(/VERSION_1/);
    // the refused combination
    expect(d.negotiate(V1 | bits(VIRTIO_NET_F_CSUM, VIRTIO_NET_F_GUEST_CSUM))).toBe(false);
    expect(net.warnings.at(-1)).toMatch(/refuse the combination bit 0, bit 1/);
    expect(net.stats.featureRefusals).toBe(3);
    expect(net.negotiated).toBe(0n);
    // DRIVER_OK without FEATURES_OK does not start the device
    d.driverOk();
    expect(d.status & STATUS_DRIVER_OK).toBe(0);
    // a function refusal
    const m2 = machineWithRam();
    const rng = new VirtioRng(m2, { refuse: (f) => (f & EVENT_IDX ? "no event idx today" : undefined) });
    const d2 = new TestDriver(m2, attachVirtioMmio(m2, rng));
    expect(d2.negotiate(V1 | EVENT_IDX)).toBe(false);
    expect(d2.negotiate(V1)).toBe(true);
  });

  it("resets on Status 0: status, features, queues, interrupt status", () => {
    const { d, dev, mmio } = rngSetup();
    expect(d.negotiate(V1)).toBe(true);
    const q = d.setupQueue(0, 8);
    d.driverOk();
    q.add([{ addr: 0x80000, len: 16, write: true }]);
    q.kick();
    runEvents(d.m);
    expect(Number(mmio.read(REG.InterruptStatus, 4))).toBe(1);
    d.w(REG.QueueSel, 0);
    expect(d.r(REG.QueueReady)).toBe(1);
    d.w(REG.Status, 0);
    expect(d.status).toBe(0);
    expect(d.r(REG.QueueReady)).toBe(0);
    expect(d.r(REG.InterruptStatus)).toBe(0);
    expect(dev.negotiated).toBe(0n);
    expect(dev.queues[0].lastAvail).toBe(0);
    expect(dev.stats.resets).toBeGreaterThanOrEqual(2);
    // work scheduled before a reset is dropped
    expect(d.negotiate(V1)).toBe(true);
    const q2 = d.setupQueue(0, 8);
    d.driverOk();
    q2.add([{ addr: 0x80000, len: 16, write: true }]);
    q2.kick();
    d.w(REG.Status, 0);
    runEvents(d.m);
    expect(dev.bytes).toBe(16);
  });

  it("rejects bad queue setup: non-power-of-2 size, writes while ready", () => {
    const { d, dev } = rngSetup();
    d.negotiate(V1);
    d.w(REG.QueueSel, 0);
    d.w(REG.QueueNum, 100);
    expect(dev.queues[0].size).toBe(256);
    d.w(REG.QueueNum, 512);
    expect(dev.queues[0].size).toBe(256);
    d.setupQueue(0, 16);
    d.w(REG.QueueNum, 8);
    expect(dev.queues[0].size).toBe(16);
    expect(dev.warnings.join("\n")).toMatch(/power of 2.*\n.*power of 2.*\n.*while queue 0 is ready/);
  });

  it("ignores and counts a notify before DRIVER_OK", () => {
    const { d, dev } = rngSetup();
    d.negotiate(V1);
    const q = d.setupQueue(0, 8);
    q.add([{ addr: 0x80000, len: 8, write: true }]);
    q.kick();
    runEvents(d.m);
    expect(dev.bytes).toBe(0);
    expect(dev.stats.ignoredNotifies).toBe(1);
    expect(dev.warnings.at(-1)).toMatch(/before DRIVER_OK/);
  });
});

describe("virtio-rng", () => {
  it("fills writable buffers from the machine's seeded generator, interrupt on the line", () => {
    const { d, dev, m } = rngSetup({}, 42n);
    d.negotiate(V1);
    const q = d.setupQueue(0, 8);
    d.driverOk();
    const head = q.add([
      { addr: 0x80000, len: 10, write: true },
      { addr: 0x81000, len: 6, write: true },
    ]);
    q.kick();
    expect(q.takeUsed()).toEqual([]); // the device works at the next wait, not inside the notify
    runEvents(m);
    expect(q.takeUsed()).toEqual([{ id: head, len: 16 }]);
    const want = new Uint8Array(16);
    new SplitMix64(42n).fill(want);
    expect([...m.ram.subarray(0x80000, 0x8000a), ...m.ram.subarray(0x81000, 0x81006)]).toEqual([...want]);
    expect(takePending(m)).toBe(1n << 16n);
    expect(d.ack()).toBe(1);
    expect(dev.stats.interrupts).toBe(1);
  });

  it("fills partially with maxBytesPerRequest", () => {
    const { d, m } = rngSetup({ maxBytesPerRequest: 4 });
    d.negotiate(V1);
    const q = d.setupQueue(0, 8);
    d.driverOk();
    q.add([{ addr: 0x80000, len: 64, write: true }]);
    q.kick();
    runEvents(m);
    expect(q.takeUsed()[0].len).toBe(4);
  });

  it("treats a device-readable buffer as a driver error: DEVICE_NEEDS_RESET and a config interrupt", () => {
    const { d, dev, m } = rngSetup();
    d.negotiate(V1);
    const q = d.setupQueue(0, 8);
    d.driverOk();
    q.add([{ addr: 0x80000, len: 64 }]);
    q.kick();
    runEvents(m);
    expect(d.status & STATUS_DEVICE_NEEDS_RESET).toBe(STATUS_DEVICE_NEEDS_RESET);
    expect(d.r(REG.InterruptStatus)).toBe(2);
    expect(dev.stats.badChains).toBe(1);
    expect(dev.failure).toMatch(/device-readable on a queue whose buffers the device only writes/);
    // the device does nothing more until reset; the driver cannot clear the bit
    d.w(REG.Status, d.status & ~STATUS_DEVICE_NEEDS_RESET);
    expect(d.status & STATUS_DEVICE_NEEDS_RESET).toBe(STATUS_DEVICE_NEEDS_RESET);
    q.add([{ addr: 0x80000, len: 64, write: true }]);
    q.kick();
    runEvents(m);
    expect(q.takeUsed()).toEqual([]);
    // a reset brings it back
    d.negotiate(V1);
    const q2 = d.setupQueue(0, 8);
    d.driverOk();
    q2.add([{ addr: 0x80000, len: 64, write: true }]);
    q2.kick();
    runEvents(m);
    expect(q2.takeUsed()).toEqual([{ id: 0, len: 64 }]);
  });
});

describe("split virtqueue validation", () => {
  function broken(setup: (q: ReturnType<TestDriver["setupQueue"]>, d: TestDriver) => void, features = V1, ram = 4 << 20) {
    const m = machineWithRam(ram);
    const dev = new VirtioRng(m, { queueSize: 16 });
    const d = new TestDriver(m, attachVirtioMmio(m, dev));
    expect(d.negotiate(features)).toBe(true);
    const q = d.setupQueue(0, 8);
    d.driverOk();
    setup(q, d);
    q.kick();
    runEvents(m);
    return { dev, d, q };
  }

  it.each([
    ["a next index beyond the queue", (q: any) => (q.setDesc(0, 0x80000, 8, 2 | 1, 9), q.publish(0)), /links to 9, beyond the queue \(8\)/],
    ["a loop", (q: any) => (q.setDesc(0, 0x80000, 8, 3, 1), q.setDesc(1, 0x80100, 8, 3, 0), q.publish(0)), /loops/],
    ["a buffer outside RAM", (q: any) => (q.setDesc(0, 0x3ffff0, 0x20, 2, 0), q.publish(0)), /outside RAM/],
    ["a zero-length buffer", (q: any) => (q.setDesc(0, 0x80000, 0, 2, 0), q.publish(0)), /length 0/],
    ["a head index out of range", (q: any) => q.publish(8), /made descriptor 8 available/],
    ["the avail index jumping past the queue size", (q: any, d: TestDriver) => new DataView(d.m.ram.buffer).setUint16(q.avail + 2, 9, true), /moved the avail index from 0 to 9/],
    ["INDIRECT without the feature", (q: any) => (q.setDesc(0, 0x80000, 32, 4, 0), q.publish(0)), /INDIRECT_DESC was not negotiated/],
  ])("puts the device in DEVICE_NEEDS_RESET for %s", (_name, setup, why) => {
    const { dev, d, q } = broken(setup as any);
    expect(d.status & STATUS_DEVICE_NEEDS_RESET).toBe(STATUS_DEVICE_NEEDS_RESET);
    expect(dev.failure).toMatch(why);
    expect(dev.stats.badChains).toBe(1);
    expect(dev.stats.needsReset).toBe(1);
    expect(q.takeUsed()).toEqual([]);
  });

  it("rejects a device-writable descriptor followed by a device-readable one", () => {
    const m = machineWithRam();
    const net = new VirtioNet(m);
    const d = new TestDriver(m, attachVirtioMmio(m, net));
    d.negotiate(V1);
    d.setupQueue(0, 8);
    const tx = d.setupQueue(1, 8);
    d.driverOk();
    tx.add([{ addr: 0x80000, len: 12, write: true }, { addr: 0x81000, len: 60 }]);
    tx.kick();
    runEvents(m);
    expect(net.failure).toMatch(/device-readable but follows a device-writable/);
  });

  it("walks an indirect table when INDIRECT_DESC is negotiated", () => {
    const { dev, q, d } = broken((q, d) => {
      const table = 0x90000;
      const v = new DataView(d.m.ram.buffer);
      const put = (i: number, addr: number, len: number, flags: number, next: number) => {
        v.setUint32(table + 16 * i, addr, true);
        v.setUint32(table + 16 * i + 8, len, true);
        v.setUint16(table + 16 * i + 12, flags, true);
        v.setUint16(table + 16 * i + 14, next, true);
      };
      put(0, 0x80000, 5, 3, 1);
      put(1, 0x81000, 7, 2, 0);
      q.setDesc(0, table, 32, 4, 0);
      q.publish(0);
    }, V1 | bits(VIRTIO_F_INDIRECT_DESC));
    expect(dev.failure).toBeUndefined();
    expect(q.takeUsed()).toEqual([{ id: 0, len: 12 }]);
    expect(d.status & STATUS_DEVICE_NEEDS_RESET).toBe(0);
  });

  it("rings placed outside RAM fail at first use", () => {
    const m = machineWithRam(1 << 20);
    const dev = new VirtioRng(m);
    const d = new TestDriver(m, attachVirtioMmio(m, dev));
    d.negotiate(V1);
    d.w(REG.QueueSel, 0);
    d.w(REG.QueueNum, 8);
    d.w(REG.QueueDescLow, 0x200000);
    d.w(REG.QueueDriverLow, 0x1000);
    d.w(REG.QueueDeviceLow, 0x2000);
    d.w(REG.QueueReady, 1);
    expect(dev.warnings.at(-1)).toMatch(/queue 0 enabled with rings outside RAM/);
    d.driverOk();
    d.w(REG.QueueNotify, 0);
    runEvents(m);
    expect(dev.failure).toMatch(/descriptor table at 0x200000 .* outside RAM/);
  });
});

describe("notification suppression", () => {
  function rngWith(features: bigint) {
    const { d, dev, m } = rngSetup();
    expect(d.negotiate(features)).toBe(true);
    const q = d.setupQueue(0, 16);
    d.driverOk();
    return { d, dev, m, q };
  }
  const buf = (i: number) => [{ addr: 0x80000 + i * 0x100, len: 8, write: true }];

  it("with EVENT_IDX: interrupts only when the used index passes used_event; writes avail_event", () => {
    const { dev, m, q } = rngWith(V1 | EVENT_IDX);
    q.setUsedEvent(2); // "interrupt me when used idx goes past 2", i.e. at the third buffer
    for (let i = 0; i < 5; i++) {
      q.add(buf(i));
      q.kick();
      runEvents(m);
    }
    expect(q.takeUsed().length).toBe(5);
    expect(dev.stats.interrupts).toBe(1);
    expect(dev.queues[0].stats.notified).toBe(1);
    expect(dev.queues[0].stats.suppressed).toBe(4);
    expect(q.availEvent()).toBe(5);
    // the avail flags are ignored with EVENT_IDX
    q.setAvailFlags(1);
    q.setUsedEvent(5);
    q.add(buf(5));
    q.kick();
    runEvents(m);
    expect(dev.stats.interrupts).toBe(2);
  });

  it("with EVENT_IDX: a batch that jumps over used_event still interrupts once", () => {
    const { dev, m, q } = rngWith(V1 | EVENT_IDX);
    q.setUsedEvent(1);
    for (let i = 0; i < 4; i++) q.add(buf(i));
    q.kick();
    runEvents(m);
    expect(dev.stats.interrupts).toBe(1);
  });

  it("without EVENT_IDX: NO_INTERRUPT suppresses, and used_event is ignored", () => {
    const { dev, m, q } = rngWith(V1);
    q.setAvailFlags(1);
    q.setUsedEvent(0);
    q.add(buf(0));
    q.kick();
    runEvents(m);
    expect(dev.stats.interrupts).toBe(0);
    expect(dev.queues[0].stats.suppressed).toBe(1);
    q.setAvailFlags(0);
    q.setUsedEvent(100);
    q.add(buf(1));
    q.kick();
    runEvents(m);
    expect(dev.stats.interrupts).toBe(1);
    expect(q.availEvent()).toBe(0); // not written without EVENT_IDX
  });

  it("counts kicks that found nothing new", () => {
    const { dev, m, q } = rngWith(V1 | EVENT_IDX);
    q.add(buf(0));
    q.kick();
    runEvents(m);
    q.kick();
    runEvents(m);
    expect(dev.queues[0].stats.kicks).toBe(2);
    expect(dev.queues[0].stats.emptyKicks).toBe(1);
  });
});

describe("fault injection", () => {
  function ready() {
    const r = rngSetup();
    r.d.negotiate(V1);
    const q = r.d.setupQueue(0, 8);
    r.d.driverOk();
    return { ...r, q };
  }
  const run = (r: ReturnType<typeof ready>, len = 8) => {
    const head = r.q.add([{ addr: 0x80000, len, write: true }]);
    r.q.kick();
    runEvents(r.m);
    return { head, used: r.q.takeUsed() };
  };

  it("usedIdOutOfRange: the next used element carries id >= queue size, once", () => {
    const r = ready();
    r.dev.inject.usedIdOutOfRange = true;
    const a = run(r);
    expect(a.used[0].id).toBeGreaterThanOrEqual(8);
    expect(r.dev.inject.usedIdOutOfRange).toBe(false);
    const b = run(r);
    expect(b.used[0].id).toBe(b.head);
  });

  it("usedLenTooLarge: the next used len exceeds the buffer, once", () => {
    const r = ready();
    r.dev.inject.usedLenTooLarge = true;
    expect(run(r, 8).used[0].len).toBe(9);
    expect(run(r, 8).used[0].len).toBe(8);
  });

  it("queue restricts the one-shot faults to one queue", () => {
    const r = ready();
    r.dev.inject = { usedLenTooLarge: true, queue: 3 };
    expect(run(r).used[0].len).toBe(8);
    expect(r.dev.inject.usedLenTooLarge).toBe(true);
  });

  it("dropInterrupts: InterruptStatus is set but the line stays quiet", () => {
    const r = ready();
    r.dev.inject.dropInterrupts = true;
    run(r);
    expect(takePending(r.m)).toBe(0n);
    expect(r.d.r(REG.InterruptStatus)).toBe(1);
    expect(r.dev.stats.interruptsDropped).toBe(1);
    r.dev.inject.dropInterrupts = false;
    run(r);
    expect(takePending(r.m)).toBe(1n << 16n);
  });

  it("deviceError: DEVICE_NEEDS_RESET at the next queue work", () => {
    const r = ready();
    r.dev.inject.deviceError = true;
    expect(run(r).used).toEqual([]);
    expect(r.d.status & STATUS_DEVICE_NEEDS_RESET).toBe(STATUS_DEVICE_NEEDS_RESET);
    expect(r.dev.stats.badChains).toBe(0);
    expect(takePending(r.m)).toBe(1n << 16n);
    expect(r.d.r(REG.InterruptStatus)).toBe(2);
  });

  it("configChurn: ConfigGeneration changes across config reads", () => {
    const m = machineWithRam();
    const net = new VirtioNet(m);
    const d = new TestDriver(m, attachVirtioMmio(m, net));
    const g0 = d.r(REG.ConfigGeneration);
    net.inject.configChurn = 2;
    d.config8(0);
    d.config8(1);
    expect(d.r(REG.ConfigGeneration)).toBe(g0 + 2);
    d.config8(2);
    expect(d.r(REG.ConfigGeneration)).toBe(g0 + 2);
  });
});

describe("virtio-net", () => {
  const MAC = [0x52, 0x54, 0, 0x12, 0x34, 0x56];
  function netSetup(features: bigint, opts: ConstructorParameters<typeof VirtioNet>[1] = {}, rxBufs: number[] = [2048, 2048, 2048, 2048]) {
    const m = machineWithRam(4 << 20, { seed: 3n });
    const network = new Network(m, { seed: 9n });
    const host = new ScriptedHost(network, "host");
    const net = new VirtioNet(m, opts);
    const port = network.port("vm");
    net.connect(port);
    network.connect(port, host.port, { latencyNs: 10_000 });
    const mmio = attachVirtioMmio(m, net);
    const d = new TestDriver(m, mmio);
    expect(d.negotiate(features)).toBe(true);
    const rx = d.setupQueue(0, 16);
    const tx = d.setupQueue(1, 16);
    const rxAddrs: number[] = [];
    for (const len of rxBufs) {
      const a = d.mem.alloc(len);
      rxAddrs.push(a);
      rx.add([{ addr: a, len, write: true }]);
    }
    d.driverOk();
    return { m, network, host, net, d, rx, tx, rxAddrs };
  }
  function send(s: ReturnType<typeof netSetup>, frame: Uint8Array, hdr: { flags?: number; csumStart?: number; csumOffset?: number; gso?: number; gsoSize?: number } = {}) {
    const a = s.d.mem.alloc(12 + frame.length);
    const ram = s.m.ram;
    ram.fill(0, a, a + 12);
    const v = new DataView(ram.buffer);
    v.setUint8(a, hdr.flags ?? 0);
    v.setUint8(a + 1, hdr.gso ?? 0);
    v.setUint16(a + 4, hdr.gsoSize ?? 0, true);
    v.setUint16(a + 6, hdr.csumStart ?? 0, true);
    v.setUint16(a + 8, hdr.csumOffset ?? 0, true);
    ram.set(frame, a + 12);
    // header and frame in separate descriptors, as drivers often do
    s.tx.add([{ addr: a, len: 12 }, { addr: a + 12, len: frame.length }]);
    s.tx.kick();
  }

  it("reads MAC, link status and MTU from config space", () => {
    const s = netSetup(V1 | bits(VIRTIO_NET_F_MAC, VIRTIO_NET_F_STATUS));
    expect([0, 1, 2, 3, 4, 5].map((i) => s.d.config8(i))).toEqual(MAC);
    expect(s.d.config16(6)).toBe(1);
    expect(s.d.config16(10)).toBe(1500);
    expect(s.net.warnings).toEqual([]);
  });

  it("transmits through a link to a scripted host after the link latency", () => {
    const s = netSetup(V1);
    const frame = udpFrame(new TextEncoder().encode("hello"), { dst: s.host.mac, src: new Uint8Array(MAC) });
    send(s, frame);
    runEvents(s.m);
    expect(s.host.received.length).toBe(1);
    expect([...s.host.received[0].frame]).toEqual([...frame]);
    expect(s.host.received[0].at).toBe(10_000n);
    expect(s.tx.takeUsed()).toEqual([{ id: 0, len: 0 }]);
    expect(s.net.net.txFrames).toBe(1);
    expect(takePending(s.m) & (1n << 16n)).toBe(1n << 16n);
  });

  it("completes NEEDS_CSUM checksums with VIRTIO_NET_F_CSUM", () => {
    const s = netSetup(V1 | bits(VIRTIO_NET_F_CSUM));
    const frame = udpFrame(new Uint8Array(33).fill(7), { partial: true });
    expect(checksumValid(frame)).toBe(false);
    send(s, frame, { flags: VIRTIO_NET_HDR_F_NEEDS_CSUM, csumStart: 34, csumOffset: 6 });
    runEvents(s.m);
    const got = s.host.received[0].frame;
    expect(checksumValid(got)).toBe(true);
    expect([...got]).toEqual([...udpFrame(new Uint8Array(33).fill(7))]);
    expect(s.net.net.txChecksummed).toBe(1);
  });

  it("sends NEEDS_CSUM frames unchanged, with a warning, when CSUM was not negotiated; drops GSO", () => {
    const s = netSetup(V1);
    const frame = udpFrame(new Uint8Array(10), { partial: true });
    send(s, frame, { flags: VIRTIO_NET_HDR_F_NEEDS_CSUM, csumStart: 34, csumOffset: 6 });
    send(s, frame, { gso: 1 });
    runEvents(s.m);
    expect(s.host.received.length).toBe(1);
    expect(checksumValid(s.host.received[0].frame)).toBe(false);
    expect(s.net.net.txBadHeader).toBe(2);
  });

  it("receives into a buffer with the 12-byte header, num_buffers 1, DATA_VALID only for a verified checksum", () => {
    const s = netSetup(V1 | bits(VIRTIO_NET_F_GUEST_CSUM));
    const good = udpFrame(new Uint8Array([1, 2, 3]));
    const bad = good.slice();
    bad[bad.length - 1] ^= 0xff;
    s.host.send(good);
    s.host.send(bad);
    runEvents(s.m);
    const used = s.rx.takeUsed();
    expect(used).toEqual([
      { id: 0, len: 12 + good.length },
      { id: 1, len: 12 + bad.length },
    ]);
    const ram = s.m.ram;
    const v = new DataView(ram.buffer);
    expect(ram[s.rxAddrs[0]]).toBe(VIRTIO_NET_HDR_F_DATA_VALID);
    expect(v.getUint16(s.rxAddrs[0] + 10, true)).toBe(1);
    expect([...ram.subarray(s.rxAddrs[0] + 12, s.rxAddrs[0] + 12 + good.length)]).toEqual([...good]);
    expect(ram[s.rxAddrs[1]]).toBe(0);
    expect(s.net.net.rxDataValid).toBe(1);
    expect(s.net.net.rxFrames).toBe(2);
  });

  it("without GUEST_CSUM never sets DATA_VALID", () => {
    const s = netSetup(V1);
    s.host.send(udpFrame(new Uint8Array([1])));
    runEvents(s.m);
    expect(s.m.ram[s.rxAddrs[0]]).toBe(0);
  });

  it("merges small buffers with MRG_RXBUF and reports num_buffers", () => {
    const s = netSetup(V1 | bits(VIRTIO_NET_F_MRG_RXBUF), {}, [64, 64, 64, 64]);
    const frame = udpFrame(new Uint8Array(100).map((_, i) => i));
    s.host.send(frame); // 12 + 142 bytes: three 64-byte buffers
    runEvents(s.m);
    const used = s.rx.takeUsed();
    expect(used).toEqual([
      { id: 0, len: 64 },
      { id: 1, len: 64 },
      { id: 2, len: 26 },
    ]);
    const ram = s.m.ram;
    expect(new DataView(ram.buffer).getUint16(s.rxAddrs[0] + 10, true)).toBe(3);
    const joined = new Uint8Array([...ram.subarray(s.rxAddrs[0], s.rxAddrs[0] + 64), ...ram.subarray(s.rxAddrs[1], s.rxAddrs[1] + 64), ...ram.subarray(s.rxAddrs[2], s.rxAddrs[2] + 26)]);
    expect([...joined.subarray(12)]).toEqual([...frame]);
    // the last buffer is not enough for another such frame: dropped, buffer kept
    s.host.send(frame);
    runEvents(s.m);
    expect(s.net.net.rxNoBuffer).toBe(1);
    expect(s.net.queues[0].lastAvail).toBe(3);
  });

  it("without MRG_RXBUF drops a frame too big for the next buffer, and keeps the buffer", () => {
    const s = netSetup(V1, {}, [64, 2048]);
    s.host.send(udpFrame(new Uint8Array(100)));
    s.host.send(udpFrame(new Uint8Array(4)));
    runEvents(s.m);
    expect(s.net.net.rxTooBig).toBe(1);
    expect(s.rx.takeUsed()).toEqual([{ id: 0, len: 12 + 46 }]);
  });

  it("drops and counts frames when no receive buffer is available", () => {
    const s = netSetup(V1, {}, [2048]);
    for (let i = 0; i < 3; i++) s.host.send(udpFrame(new Uint8Array([i])));
    runEvents(s.m);
    expect(s.net.net.rxFrames).toBe(1);
    expect(s.net.net.rxNoBuffer).toBe(2);
  });

  it("rxStall: stops consuming receive buffers while set", () => {
    const s = netSetup(V1);
    s.net.inject.rxStall = true;
    s.host.send(udpFrame(new Uint8Array([1])));
    runEvents(s.m);
    expect(s.rx.takeUsed()).toEqual([]);
    expect(s.net.net.rxStalled).toBe(1);
    s.net.inject.rxStall = false;
    s.host.send(udpFrame(new Uint8Array([2])));
    runEvents(s.m);
    expect(s.rx.takeUsed().length).toBe(1);
  });

  it("link down: status bit clears, config interrupt with STATUS, frames stop", () => {
    const s = netSetup(V1 | bits(VIRTIO_NET_F_STATUS));
    const gen = s.d.r(REG.ConfigGeneration);
    takePending(s.m);
    s.net.setLink(false);
    expect(s.d.config16(6)).toBe(0);
    expect(s.d.r(REG.ConfigGeneration)).toBe(gen + 1);
    expect(s.d.r(REG.InterruptStatus)).toBe(2);
    expect(takePending(s.m)).toBe(1n << 16n);
    s.host.send(udpFrame(new Uint8Array([1])));
    send(s, udpFrame(new Uint8Array([1])));
    runEvents(s.m);
    expect(s.net.net.rxNotReady).toBe(1);
    expect(s.net.net.txNoLink).toBe(1);
    expect(s.host.received).toEqual([]);
  });

  /** A TCP/IPv4 frame (timestamps option, `payload` bytes) whose checksum field holds the pseudo-header sum, as a TSO driver hands it over. */
  function tcpLarge(payload: number, flags = 0x18 | 0x01 | 0x80, ipTotal?: number): Uint8Array {
    const f = new Uint8Array(14 + 20 + 32 + payload);
    const ip = ipv4Header(f, 6, ipTotal ?? 20 + 32 + payload, 0x1234, true);
    const t = ip + 20;
    const v = new DataView(f.buffer);
    v.setUint16(t, 80);
    v.setUint16(t + 2, 40000);
    v.setUint32(t + 4, 0xfffff000); // wraps inside the frame
    v.setUint32(t + 8, 777);
    f[t + 12] = 8 << 4;
    f[t + 13] = flags;
    v.setUint16(t + 14, 512);
    f.set([1, 1, 8, 10, 0, 0, 0, 9, 0, 0, 0, 5], t + 20);
    for (let i = 0; i < payload; i++) f[t + 32 + i] = (i * 7) & 0xff;
    const pseudo = fold(onesSum(f.subarray(ip + 12, ip + 20)) + 6 + 32 + payload);
    v.setUint16(t + 16, pseudo);
    return f;
  }
  const TSO = V1 | bits(VIRTIO_NET_F_CSUM, VIRTIO_NET_F_HOST_TSO4);
  const gsoHdr = (size: number) => ({ flags: VIRTIO_NET_HDR_F_NEEDS_CSUM, csumStart: 34, csumOffset: 16, gso: VIRTIO_NET_HDR_GSO_TCPV4, gsoSize: size });

  it("offers HOST_TSO4 only when asked to (tso), as QEMU over TAP does and over user networking does not", () => {
    const plain = netSetup(V1);
    expect(plain.net.offered & bits(VIRTIO_NET_F_HOST_TSO4)).toBe(0n);
    const tso = netSetup(TSO, { tso: true });
    expect(tso.net.offered & bits(VIRTIO_NET_F_HOST_TSO4)).toBe(bits(VIRTIO_NET_F_HOST_TSO4));
    expect(tso.net.negotiated & TSO).toBe(TSO);
  });

  it("HOST_TSO4: cuts a GSO_TCPV4 frame into gso_size pieces with their own lengths, ids, sequence numbers, flags and checksums", () => {
    const s = netSetup(TSO, { tso: true });
    const payload = 10 * 1000 + 123;
    const big = tcpLarge(payload);
    send(s, big, gsoHdr(1000));
    runEvents(s.m);
    const got = s.host.received.map((r) => r.frame);
    expect(got.length).toBe(11);
    expect(s.net.net).toMatchObject({ txGsoFrames: 1, txGsoSegments: 11, txFrames: 11, txBadHeader: 0 });
    expect(s.tx.takeUsed().length).toBe(1); // one chain for all of them
    const body: number[] = [];
    got.forEach((f, i) => {
      const v = new DataView(f.buffer, f.byteOffset);
      const n = i < 10 ? 1000 : 123;
      expect(f.length).toBe(14 + 20 + 32 + n);
      expect(v.getUint16(16)).toBe(20 + 32 + n); // IP total length
      expect(v.getUint16(18)).toBe(0x1234 + i); // identification counts up
      expect(v.getUint32(38)).toBe((0xfffff000 + i * 1000) >>> 0); // sequence number, wrapping
      const fl = f[47];
      expect(fl & 0x01, "FIN on the last only").toBe(i === 10 ? 0x01 : 0);
      expect(fl & 0x08, "PSH on the last only").toBe(i === 10 ? 0x08 : 0);
      expect(fl & 0x80, "CWR on the first only").toBe(i === 0 ? 0x80 : 0);
      expect(fl & 0x10).toBe(0x10);
      expect([...f.subarray(54, 66)]).toEqual([1, 1, 8, 10, 0, 0, 0, 9, 0, 0, 0, 5]); // options copied
      expect(checksumValid(f), `piece ${i} checksums`).toBe(true);
      body.push(...f.subarray(66));
    });
    expect(body).toEqual([...big.subarray(66)]);
    expect(s.net.warnings).toEqual([]);
  });

  it("HOST_TSO4: a GSO frame without NEEDS_CSUM, not TCP/IPv4, with lying lengths, or cut into pieces beyond the MTU is dropped with a reason", () => {
    const s = netSetup(TSO, { tso: true });
    send(s, tcpLarge(5000), { ...gsoHdr(1000), flags: 0 });
    send(s, udpFrame(new Uint8Array(3000)), gsoHdr(1000));
    send(s, tcpLarge(5000, 0x10, 9000), gsoHdr(1000));
    send(s, tcpLarge(5000), gsoHdr(1600));
    send(s, tcpLarge(5000), { ...gsoHdr(1000), gso: 3 }); // UDP fragmentation offload: not negotiated
    runEvents(s.m);
    expect(s.host.received.length).toBe(0);
    expect(s.net.net.txBadHeader).toBe(4);
    expect(s.net.net.txBadLength).toBe(1);
    expect(s.net.warnings.join("\n")).toMatch(/NEEDS_CSUM is not set/);
    expect(s.net.warnings.join("\n")).toMatch(/IP protocol 17 is not TCP/);
    expect(s.net.warnings.join("\n")).toMatch(/IPv4 total length 9000 disagrees/);
    expect(s.net.warnings.join("\n")).toMatch(/more than MTU 1500/);
    expect(s.net.warnings.join("\n")).toMatch(/no such segmentation was negotiated/);
  });

  it("a transmit chain shorter than the header is a driver error", () => {
    const s = netSetup(V1);
    s.tx.add([{ addr: 0x80000, len: 8 }]);
    s.tx.kick();
    runEvents(s.m);
    expect(s.net.failure).toMatch(/shorter than the 12-byte virtio_net_hdr/);
    expect(s.d.status & STATUS_FEATURES_OK).toBe(STATUS_FEATURES_OK);
    expect(s.d.status & STATUS_DEVICE_NEEDS_RESET).toBe(STATUS_DEVICE_NEEDS_RESET);
  });
});

describe("a kernel on the Node platform", () => {
  it("finds a virtio-mmio device from the command line and drives virtio-rng through the HAL", async () => {
    const { buildSourceWasm } = await import("./helpers/kernel.ts");
    const { Machine } = await import("../host/machine.ts");
    const wasm = await buildSourceWasm("virtio-rng-e2e", `
      import { mmio_map, mmio_read32, mmio_write32, wait, irq_unmask, clock_ns, cmdline } from "../../../kernel/hal";
      const ring = memory.data(4096, 4096);
      const buf = memory.data(32, 16);
      const line = memory.data(256);
      export function main(): i32 {
        const n = cmdline(line, 256);
        // "virtio_mmio.device=512@0xfeb00000:16"
        if (n != 36 || load<u8>(line + 23) != 0x30 || load<u8>(line + 35) != 0x36) return 9;
        const B: u64 = 0xfeb00000;
        if (mmio_map(B, 0x200) != 0) return 10;
        if (mmio_read32(B) != 0x74726976 || mmio_read32(B + 4) != 2 || mmio_read32(B + 8) != 4) return 11;
        mmio_write32(B + 0x70, 0);
        mmio_write32(B + 0x70, 1);
        mmio_write32(B + 0x70, 3);
        mmio_write32(B + 0x24, 1);
        mmio_write32(B + 0x20, 1); // VIRTIO_F_VERSION_1
        mmio_write32(B + 0x70, 11);
        if ((mmio_read32(B + 0x70) & 8) == 0) return 12;
        const desc = ring, avail = ring + 64, used = ring + 128;
        mmio_write32(B + 0x30, 0);
        mmio_write32(B + 0x38, 4);
        mmio_write32(B + 0x80, u32(desc)); mmio_write32(B + 0x84, 0);
        mmio_write32(B + 0x90, u32(avail)); mmio_write32(B + 0x94, 0);
        mmio_write32(B + 0xa0, u32(used)); mmio_write32(B + 0xa4, 0);
        mmio_write32(B + 0x44, 1);
        mmio_write32(B + 0x70, 15);
        store<u64>(desc, u64(buf)); store<u32>(desc + 8, 32); store<u16>(desc + 12, 2); store<u16>(desc + 14, 0);
        store<u16>(avail + 4, 0);
        store<u16>(avail + 2, 1);
        mmio_write32(B + 0x50, 0);
        const pending = wait(clock_ns() + 1000000);
        if (pending != (u64(1) << 16)) return 13;
        if (load<u16>(used + 2) != 1 || load<u32>(used + 4) != 0 || load<u32>(used + 8) != 32) return 14;
        if (mmio_read32(B + 0x60) != 1) return 15;
        mmio_write32(B + 0x64, 1);
        irq_unmask(16);
        let sum: i32 = 0;
        for (let i = 0; i < 32; i++) sum += load<u8>(buf + i);
        return 100 + sum % 100;
      }
    `);
    const m = new Machine({ console: () => {}, seed: 5n });
    const dev = new VirtioRng(m);
    attachVirtioMmio(m, dev);
    const r = await m.run(wasm);
    const want = new Uint8Array(32);
    new SplitMix64(5n).fill(want);
    expect(r.output).toBe("");
    expect(dev.warnings).toEqual([]);
    expect(r.exitCode).toBe(100 + (want.reduce((a, b) => a + b, 0) % 100));
  });
});
