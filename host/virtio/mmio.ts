// The virtio-mmio transport, version 2 (virtio 1.2, section 4.2): the
// register file a driver sees at a device's MMIO base, mapped onto a
// VirtioDevice model. Reads and writes of the wrong width, misaligned, to
// unknown offsets, to read-only or write-only registers are logged in the
// device's `warnings` and ignored (reads then return 0) — never a crash.

import type { MmioDevice } from "../machine.ts";
import { VirtioDevice } from "./device.ts";

export const VIRTIO_MMIO_MAGIC = 0x74726976; // "virt"
export const VIRTIO_MMIO_VENDOR = 0x554d4551; // "QEMU", as QEMU reports it
/** Size of the register window (registers + device config). */
export const VIRTIO_MMIO_SIZE = 0x200;

// Register offsets (4.2.2).
export const REG = {
  MagicValue: 0x000,
  Version: 0x004,
  DeviceID: 0x008,
  VendorID: 0x00c,
  DeviceFeatures: 0x010,
  DeviceFeaturesSel: 0x014,
  DriverFeatures: 0x020,
  DriverFeaturesSel: 0x024,
  QueueSel: 0x030,
  QueueNumMax: 0x034,
  QueueNum: 0x038,
  QueueReady: 0x044,
  QueueNotify: 0x050,
  InterruptStatus: 0x060,
  InterruptACK: 0x064,
  Status: 0x070,
  QueueDescLow: 0x080,
  QueueDescHigh: 0x084,
  QueueDriverLow: 0x090,
  QueueDriverHigh: 0x094,
  QueueDeviceLow: 0x0a0,
  QueueDeviceHigh: 0x0a4,
  SHMSel: 0x0ac,
  SHMLenLow: 0x0b0,
  SHMLenHigh: 0x0b4,
  SHMBaseLow: 0x0b8,
  SHMBaseHigh: 0x0bc,
  QueueReset: 0x0c0,
  ConfigGeneration: 0x0fc,
  Config: 0x100,
} as const;

const NAMES = new Map<number, string>(Object.entries(REG).map(([k, v]) => [v, k]));
const READABLE = new Set<number>([
  REG.MagicValue, REG.Version, REG.DeviceID, REG.VendorID, REG.DeviceFeatures, REG.QueueNumMax, REG.QueueReady,
  REG.InterruptStatus, REG.Status, REG.SHMLenLow, REG.SHMLenHigh, REG.SHMBaseLow, REG.SHMBaseHigh, REG.ConfigGeneration,
]);
const WRITABLE = new Set<number>([
  REG.DeviceFeaturesSel, REG.DriverFeatures, REG.DriverFeaturesSel, REG.QueueSel, REG.QueueNum, REG.QueueReady,
  REG.QueueNotify, REG.InterruptACK, REG.Status, REG.QueueDescLow, REG.QueueDescHigh, REG.QueueDriverLow,
  REG.QueueDriverHigh, REG.QueueDeviceLow, REG.QueueDeviceHigh, REG.SHMSel,
]);

export class VirtioMmio implements MmioDevice {
  private deviceFeaturesSel = 0;
  private driverFeaturesSel = 0;
  private queueSel = 0;
  private shmSel = 0;

  constructor(
    readonly device: VirtioDevice,
    readonly vendorId = VIRTIO_MMIO_VENDOR,
  ) {
    // the transport's selectors are reset with the device
    device.resetHooks.push(() => {
      this.deviceFeaturesSel = this.driverFeaturesSel = this.queueSel = this.shmSel = 0;
    });
  }

  /** Device-side warnings (shared with the device model). */
  get warnings(): string[] {
    return this.device.warnings;
  }

  private warn(message: string): void {
    this.device.warn(message);
  }

  private regName(offset: number): string {
    return NAMES.get(offset) ?? `0x${offset.toString(16).padStart(3, "0")}`;
  }

  read(offset: number, width: 1 | 2 | 4 | 8): bigint {
    if (offset >= REG.Config) return this.readConfig(offset - REG.Config, width);
    if (width !== 4 || offset % 4 !== 0) {
      this.warn(`${width * 8}-bit read at register offset 0x${offset.toString(16)} (${this.regName(offset & ~3)}): registers take aligned 32-bit accesses only; read as 0`);
      return 0n;
    }
    if (!READABLE.has(offset)) {
      this.warn(WRITABLE.has(offset) ? `read of write-only register ${this.regName(offset)}; read as 0` : `read of unknown register offset 0x${offset.toString(16)}; read as 0`);
      return 0n;
    }
    return BigInt(this.readReg(offset) >>> 0);
  }

  private readReg(offset: number): number {
    const d = this.device;
    const q = d.queues[this.queueSel];
    switch (offset) {
      case REG.MagicValue:
        return VIRTIO_MMIO_MAGIC;
      case REG.Version:
        return 2;
      case REG.DeviceID:
        return d.deviceId;
      case REG.VendorID:
        return this.vendorId;
      case REG.DeviceFeatures:
        return d.deviceFeatures(this.deviceFeaturesSel);
      case REG.QueueNumMax:
        return q ? q.maxSize : 0; // 0: the queue is not available
      case REG.QueueReady:
        return q?.ready ? 1 : 0;
      case REG.InterruptStatus:
        return d.interruptStatus;
      case REG.Status:
        return d.status;
      case REG.SHMLenLow:
      case REG.SHMLenHigh:
        return 0xffff_ffff; // no shared memory regions: length -1 (4.2.2)
      case REG.SHMBaseLow:
      case REG.SHMBaseHigh:
        return 0xffff_ffff;
      case REG.ConfigGeneration:
        return d.configGeneration;
    }
    return 0;
  }

  write(offset: number, width: 1 | 2 | 4 | 8, value: bigint): void {
    if (offset >= REG.Config) return this.writeConfig(offset - REG.Config, width, value);
    if (width !== 4 || offset % 4 !== 0) {
      this.warn(`${width * 8}-bit write of 0x${value.toString(16)} at register offset 0x${offset.toString(16)} (${this.regName(offset & ~3)}): registers take aligned 32-bit accesses only; ignored`);
      return;
    }
    if (!WRITABLE.has(offset)) {
      this.warn(READABLE.has(offset) ? `write of 0x${value.toString(16)} to read-only register ${this.regName(offset)}; ignored` : `write of 0x${value.toString(16)} to unknown register offset 0x${offset.toString(16)}; ignored`);
      return;
    }
    this.writeReg(offset, Number(value & 0xffff_ffffn));
  }

  private writeReg(offset: number, v: number): void {
    const d = this.device;
    switch (offset) {
      case REG.DeviceFeaturesSel:
        this.deviceFeaturesSel = v;
        return;
      case REG.DriverFeaturesSel:
        this.driverFeaturesSel = v;
        return;
      case REG.DriverFeatures:
        d.writeDriverFeatures(this.driverFeaturesSel, v);
        return;
      case REG.QueueSel:
        this.queueSel = v;
        return;
      case REG.QueueNotify:
        d.notify(v);
        return;
      case REG.InterruptACK:
        d.ack(v);
        return;
      case REG.Status:
        d.writeStatus(v);
        return;
      case REG.SHMSel:
        this.shmSel = v;
        return;
    }
    // the queue registers act on the queue QueueSel names
    const q = d.queues[this.queueSel];
    const name = this.regName(offset);
    if (!q) {
      this.warn(`${name} written for queue ${this.queueSel}, which does not exist (QueueNumMax reads 0); ignored`);
      return;
    }
    if (offset === REG.QueueReady) {
      if (v === 1 && !q.ready) {
        const problems = this.queueProblems(q.index);
        if (problems) this.warn(`queue ${q.index} enabled with ${problems}`);
        q.ready = true;
      } else if (v === 0) q.ready = false;
      else if (v !== 1) this.warn(`QueueReady written ${v}: only 0 and 1 mean anything; ignored`);
      return;
    }
    if (q.ready) {
      this.warn(`${name} written while queue ${q.index} is ready (4.2.3.2: set up a queue before enabling it); ignored`);
      return;
    }
    const lo = (a: bigint) => (a & 0xffff_ffff_0000_0000n) | BigInt(v >>> 0);
    const hi = (a: bigint) => (a & 0xffff_ffffn) | (BigInt(v >>> 0) << 32n);
    switch (offset) {
      case REG.QueueNum:
        if (v === 0 || v > q.maxSize || (v & (v - 1)) !== 0) {
          this.warn(`QueueNum ${v} for queue ${q.index}: a split queue's size must be a power of 2 from 1 to QueueNumMax (${q.maxSize}); ignored`);
          return;
        }
        q.size = v;
        return;
      case REG.QueueDescLow:
        q.descAddr = lo(q.descAddr);
        return;
      case REG.QueueDescHigh:
        q.descAddr = hi(q.descAddr);
        return;
      case REG.QueueDriverLow:
        q.driverAddr = lo(q.driverAddr);
        return;
      case REG.QueueDriverHigh:
        q.driverAddr = hi(q.driverAddr);
        return;
      case REG.QueueDeviceLow:
        q.deviceAddr = lo(q.deviceAddr);
        return;
      case REG.QueueDeviceHigh:
        q.deviceAddr = hi(q.deviceAddr);
        return;
    }
  }

  /** Alignment and placement problems of a queue being enabled (2.7: 16/2/4-byte alignment). */
  private queueProblems(i: number): string | undefined {
    const q = this.device.queues[i];
    const out: string[] = [];
    if (q.descAddr % 16n) out.push(`a descriptor table at 0x${q.descAddr.toString(16)} not 16-byte aligned`);
    if (q.driverAddr % 2n) out.push(`a driver area at 0x${q.driverAddr.toString(16)} not 2-byte aligned`);
    if (q.deviceAddr % 4n) out.push(`a device area at 0x${q.deviceAddr.toString(16)} not 4-byte aligned`);
    if (q.descAddr === 0n || q.driverAddr === 0n || q.deviceAddr === 0n) out.push("a ring address of 0");
    let ramLen = 0;
    try {
      ramLen = this.device.ram().length;
    } catch {
      return out.join(", ") || undefined;
    }
    const n = BigInt(q.size);
    if (q.descAddr + 16n * n > BigInt(ramLen) || q.driverAddr + 6n + 2n * n > BigInt(ramLen) || q.deviceAddr + 6n + 8n * n > BigInt(ramLen)) out.push("rings outside RAM");
    return out.join(", ") || undefined;
  }

  private readConfig(off: number, width: number): bigint {
    if (width === 8 || off % width !== 0) {
      this.warn(`${width * 8}-bit read at device config +0x${off.toString(16)}: config takes naturally aligned 8/16/32-bit accesses; read as 0`);
      return 0n;
    }
    const v = this.device.readConfig(off, width);
    if (v === undefined) {
      this.warn(`read beyond the device config at +0x${off.toString(16)} (width ${width}); read as 0`);
      return 0n;
    }
    return v;
  }

  private writeConfig(off: number, width: number, value: bigint): void {
    if (width === 8 || off % width !== 0) {
      this.warn(`${width * 8}-bit write at device config +0x${off.toString(16)}: config takes naturally aligned 8/16/32-bit accesses; ignored`);
      return;
    }
    this.device.writeConfig(off, width, value);
  }
}
