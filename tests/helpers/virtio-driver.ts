// A tiny test-only virtio driver in TypeScript: lays out split virtqueues in a
// Machine's RAM and talks to a VirtioMmio model through its registers, so the
// device models can be tested without a kernel.

import { Machine, type MachineOptions } from "../../host/machine.ts";
import { REG, type VirtioMmio } from "../../host/virtio/mmio.ts";
import { STATUS_ACKNOWLEDGE, STATUS_DRIVER, STATUS_DRIVER_OK, STATUS_FEATURES_OK } from "../../host/virtio/device.ts";

/** A Machine with `ramBytes` of linear memory and no kernel (device models can DMA into it). */
export function machineWithRam(ramBytes = 4 << 20, opts: MachineOptions = {}): Machine {
  const m = new Machine({ console: () => {}, memory: ramBytes, ...opts });
  m.attachRam(ramBytes);
  return m;
}

/** Runs the machine's pending simulated events up to `until` (default: all), moving its clock. */
export function runEvents(m: Machine, until?: bigint): number {
  let n = 0;
  for (;;) {
    const at = m.events.peek();
    if (at === undefined || (until !== undefined && at > until)) break;
    const e = m.events.pop()!;
    m.clock.sleepUntil(e.at);
    e.run();
    if (++n > 1_000_000) throw new Error("runaway event loop");
  }
  if (until !== undefined) m.clock.sleepUntil(until);
  return n;
}

/** The interrupt lines the machine has pending (and clears them, like hal.wait). */
export function takePending(m: Machine): bigint {
  return m.takeInterrupts();
}

export class Bump {
  constructor(private next: number) {}
  alloc(n: number, align = 16): number {
    this.next = Math.ceil(this.next / align) * align;
    const p = this.next;
    this.next += n;
    return p;
  }
}

export interface Buf {
  addr: number;
  len: number;
  write?: boolean;
}

export class TestDriver {
  readonly mem: Bump;
  constructor(
    readonly m: Machine,
    readonly mmio: VirtioMmio,
    heap = 0x10000,
  ) {
    this.mem = new Bump(heap);
  }

  r(off: number): number {
    return Number(this.mmio.read(off, 4));
  }
  w(off: number, v: number): void {
    this.mmio.write(off, 4, BigInt(v >>> 0));
  }
  get status(): number {
    return this.r(REG.Status);
  }
  deviceFeatures(): bigint {
    this.w(REG.DeviceFeaturesSel, 0);
    const lo = BigInt(this.r(REG.DeviceFeatures));
    this.w(REG.DeviceFeaturesSel, 1);
    return (BigInt(this.r(REG.DeviceFeatures)) << 32n) | lo;
  }
  /** Reset, ACKNOWLEDGE, DRIVER, write features, FEATURES_OK; returns whether FEATURES_OK stuck. */
  negotiate(features: bigint): boolean {
    this.w(REG.Status, 0);
    this.w(REG.Status, STATUS_ACKNOWLEDGE);
    this.w(REG.Status, STATUS_ACKNOWLEDGE | STATUS_DRIVER);
    this.w(REG.DriverFeaturesSel, 0);
    this.w(REG.DriverFeatures, Number(features & 0xffff_ffffn));
    this.w(REG.DriverFeaturesSel, 1);
    this.w(REG.DriverFeatures, Number(features >> 32n));
    this.w(REG.Status, STATUS_ACKNOWLEDGE | STATUS_DRIVER | STATUS_FEATURES_OK);
    return (this.status & STATUS_FEATURES_OK) !== 0;
  }
  driverOk(): void {
    this.w(REG.Status, this.status | STATUS_DRIVER_OK);
  }
  /** Lays out queue `index` of `size` entries in RAM and enables it. */
  setupQueue(index: number, size: number): TestQueue {
    const desc = this.mem.alloc(16 * size, 16);
    const avail = this.mem.alloc(6 + 2 * size, 2);
    const used = this.mem.alloc(6 + 8 * size, 4);
    this.m.ram.fill(0, desc, used + 6 + 8 * size);
    this.w(REG.QueueSel, index);
    this.w(REG.QueueNum, size);
    this.w(REG.QueueDescLow, desc);
    this.w(REG.QueueDescHigh, 0);
    this.w(REG.QueueDriverLow, avail);
    this.w(REG.QueueDriverHigh, 0);
    this.w(REG.QueueDeviceLow, used);
    this.w(REG.QueueDeviceHigh, 0);
    this.w(REG.QueueReady, 1);
    return new TestQueue(this, index, size, desc, avail, used);
  }
  ack(): number {
    const s = this.r(REG.InterruptStatus);
    this.w(REG.InterruptACK, s);
    return s;
  }
  config8(off: number): number {
    return Number(this.mmio.read(REG.Config + off, 1));
  }
  config16(off: number): number {
    return Number(this.mmio.read(REG.Config + off, 2));
  }
}

export class TestQueue {
  private nextDesc = 0;
  availIdx = 0;
  lastUsed = 0;
  constructor(
    readonly d: TestDriver,
    readonly index: number,
    readonly size: number,
    readonly desc: number,
    readonly avail: number,
    readonly used: number,
  ) {}
  private get v(): DataView {
    const r = this.d.m.ram;
    return new DataView(r.buffer);
  }
  /** Writes raw descriptor `i`. */
  setDesc(i: number, addr: number, len: number, flags: number, next: number): void {
    const v = this.v;
    const o = this.desc + 16 * i;
    v.setUint32(o, addr, true);
    v.setUint32(o + 4, 0, true);
    v.setUint32(o + 8, len, true);
    v.setUint16(o + 12, flags, true);
    v.setUint16(o + 14, next, true);
  }
  /** Puts descriptor head `head` in the next avail slot and publishes the index. */
  publish(head: number): void {
    const v = this.v;
    v.setUint16(this.avail + 4 + 2 * (this.availIdx % this.size), head, true);
    this.availIdx = (this.availIdx + 1) & 0xffff;
    v.setUint16(this.avail + 2, this.availIdx, true);
  }
  /** Adds a chain of buffers (allocating descriptors round-robin) and makes it available. Returns its head. */
  add(bufs: Buf[]): number {
    const ids = bufs.map(() => {
      const i = this.nextDesc;
      this.nextDesc = (this.nextDesc + 1) % this.size;
      return i;
    });
    bufs.forEach((b, k) => this.setDesc(ids[k], b.addr, b.len, (b.write ? 2 : 0) | (k + 1 < bufs.length ? 1 : 0), ids[k + 1] ?? 0));
    this.publish(ids[0]);
    return ids[0];
  }
  kick(): void {
    this.d.w(REG.QueueNotify, this.index);
  }
  /** New used elements since the last call. */
  takeUsed(): { id: number; len: number }[] {
    const v = this.v;
    const idx = v.getUint16(this.used + 2, true);
    const out = [];
    while (this.lastUsed !== idx) {
      const o = this.used + 4 + 8 * (this.lastUsed % this.size);
      out.push({ id: v.getUint32(o, true), len: v.getUint32(o + 4, true) });
      this.lastUsed = (this.lastUsed + 1) & 0xffff;
    }
    return out;
  }
  usedIdx(): number {
    return this.v.getUint16(this.used + 2, true);
  }
  setUsedEvent(x: number): void {
    this.v.setUint16(this.avail + 4 + 2 * this.size, x, true);
  }
  setAvailFlags(x: number): void {
    this.v.setUint16(this.avail, x, true);
  }
  availEvent(): number {
    return this.v.getUint16(this.used + 4 + 8 * this.size, true);
  }
}
