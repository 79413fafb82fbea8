// The virtio-mmio transport, version 2 (virtio 1.2, 4.2.2). Devices are not
// discoverable on this bus: the platform names them on the kernel command
// line the way Linux expects, `virtio_mmio.device=<size>@<base>:<irq>[:<id>]`
// (QEMU's microvm appends these; so does the Node platform's attachVirtioMmio).
// Legacy (version 1) devices are refused with a clear reason.

import { mmio_map, mmio_read8, mmio_read16, mmio_read32, mmio_write32 } from "../../kernel/hal";
import { commandLine, parseCmdlineNumber } from "../../kernel/cmdline";
import { VirtioTransport, readFeatureWord, writeFeatureWord } from "./transport";

const MAGIC: u64 = 0x000;
const VERSION: u64 = 0x004;
const DEVICE_ID: u64 = 0x008;
const DEVICE_FEATURES: u64 = 0x010;
const DEVICE_FEATURES_SEL: u64 = 0x014;
const DRIVER_FEATURES: u64 = 0x020;
const DRIVER_FEATURES_SEL: u64 = 0x024;
const QUEUE_SEL: u64 = 0x030;
const QUEUE_NUM_MAX: u64 = 0x034;
const QUEUE_NUM: u64 = 0x038;
const QUEUE_READY: u64 = 0x044;
const QUEUE_NOTIFY: u64 = 0x050;
const INTERRUPT_STATUS: u64 = 0x060;
const INTERRUPT_ACK: u64 = 0x064;
const STATUS: u64 = 0x070;
const QUEUE_DESC_LOW: u64 = 0x080;
const QUEUE_DESC_HIGH: u64 = 0x084;
const QUEUE_DRIVER_LOW: u64 = 0x090;
const QUEUE_DRIVER_HIGH: u64 = 0x094;
const QUEUE_DEVICE_LOW: u64 = 0x0a0;
const QUEUE_DEVICE_HIGH: u64 = 0x0a4;
const CONFIG_GENERATION: u64 = 0x0fc;
const CONFIG: u64 = 0x100;

const MAGIC_VALUE: u32 = 0x74726976; // "virt"

export class VirtioMmioTransport extends VirtioTransport {
  /** The register-bank version the device reported (2 = modern, 1 = legacy). */
  version: u32 = 0;
  error: string = "";

  constructor(readonly base: u64, readonly size: u64, line: i32) {
    super();
    this.line = line;
  }

  kind(): string { return "mmio"; }
  location(): string { return "mmio 0x" + this.base.toString(16); }

  /**
   * Maps the registers and checks magic and version. False (with `error`)
   * for an unmappable range, a slot without a device (QEMU's microvm lists
   * every slot, device id 0 on empty ones) or a legacy device.
   */
  probe(): bool {
    if (this.size < 0x100 || mmio_map(this.base, this.size) < 0) {
      this.error = "cannot map the register range";
      return false;
    }
    if (mmio_read32(this.base + MAGIC) != MAGIC_VALUE) {
      this.error = "no virtio magic value";
      return false;
    }
    this.version = mmio_read32(this.base + VERSION);
    this.deviceId = mmio_read32(this.base + DEVICE_ID);
    if (this.deviceId == 0) {
      this.error = "empty slot";
      return false;
    }
    if (this.version != 2) {
      this.error = "legacy virtio-mmio device (version " + this.version.toString() + "); need version 2";
      return false;
    }
    return true;
  }

  getStatus(): u32 { return mmio_read32(this.base + STATUS) & 0xff; }
  setStatus(s: u32): void { mmio_write32(this.base + STATUS, s); }

  reset(): bool {
    mmio_write32(this.base + STATUS, 0);
    for (let i = 0; i < 1_000_000; i++) if (mmio_read32(this.base + STATUS) == 0) return true;
    return false;
  }

  deviceFeatures(): u64 {
    return readFeatureWord(this.base + DEVICE_FEATURES_SEL, this.base + DEVICE_FEATURES);
  }

  setDriverFeatures(f: u64): void {
    writeFeatureWord(this.base + DRIVER_FEATURES_SEL, this.base + DRIVER_FEATURES, f);
  }

  numQueues(): u32 { return 0xffff; }

  queueMax(q: u32): u32 {
    mmio_write32(this.base + QUEUE_SEL, q);
    return mmio_read32(this.base + QUEUE_NUM_MAX) & 0xffff;
  }

  setupQueue(q: u32, size: u32, desc: u64, driver: u64, device: u64): bool {
    const b = this.base;
    mmio_write32(b + QUEUE_SEL, q);
    if (mmio_read32(b + QUEUE_READY) != 0) return false;
    mmio_write32(b + QUEUE_NUM, size);
    mmio_write32(b + QUEUE_DESC_LOW, <u32>desc);
    mmio_write32(b + QUEUE_DESC_HIGH, <u32>(desc >> 32));
    mmio_write32(b + QUEUE_DRIVER_LOW, <u32>driver);
    mmio_write32(b + QUEUE_DRIVER_HIGH, <u32>(driver >> 32));
    mmio_write32(b + QUEUE_DEVICE_LOW, <u32>device);
    mmio_write32(b + QUEUE_DEVICE_HIGH, <u32>(device >> 32));
    mmio_write32(b + QUEUE_READY, 1);
    return true;
  }

  notify(q: u32): void {
    mmio_write32(this.base + QUEUE_NOTIFY, q);
  }

  ackInterrupt(): u32 {
    const s = mmio_read32(this.base + INTERRUPT_STATUS) & 3;
    if (s) mmio_write32(this.base + INTERRUPT_ACK, s);
    return s;
  }

  configGeneration(): u32 { return mmio_read32(this.base + CONFIG_GENERATION); }
  configSize(): u32 { return <u32>(this.size - <u64>CONFIG); }
  // The config space allows accesses of the field's own width (4.2.2.2).
  config8(off: u32): u32 { return off + 1 <= this.configSize() ? mmio_read8(this.base + CONFIG + off) & 0xff : 0; }
  config16(off: u32): u32 { return off + 2 <= this.configSize() ? mmio_read16(this.base + CONFIG + off) & 0xffff : 0; }
  config32(off: u32): u32 { return off + 4 <= this.configSize() ? mmio_read32(this.base + CONFIG + off) : 0; }
}

/** One `virtio_mmio.device=` entry. */
export class MmioSlot {
  constructor(readonly base: u64, readonly size: u64, readonly line: i32) {}
}

/**
 * Parses every `virtio_mmio.device=<size>@<base>:<irq>[:<id>]` on the command
 * line. Numbers are Linux `memparse` style: decimal, or 0x hex, with an
 * optional K/M/G suffix on the size. Malformed entries are skipped.
 */
export function parseMmioSlots(cmd: string): Array<MmioSlot> {
  const out = new Array<MmioSlot>();
  const key = "virtio_mmio.device=";
  let i = 0;
  while (i < cmd.length) {
    while (i < cmd.length && cmd.charCodeAt(i) == 32) i++;
    let end = cmd.indexOf(" ", i);
    if (end < 0) end = cmd.length;
    if (end > i && cmd.substring(i, i + key.length) == key) {
      const spec = cmd.substring(i + key.length, end);
      const at = spec.indexOf("@");
      const colon = spec.indexOf(":", at + 1);
      if (at > 0 && colon > at + 1) {
        const size = parseCmdlineNumber(spec.substring(0, at), true);
        const base = parseCmdlineNumber(spec.substring(at + 1, colon), false);
        let irqEnd = spec.indexOf(":", colon + 1);
        if (irqEnd < 0) irqEnd = spec.length;
        const irq = parseCmdlineNumber(spec.substring(colon + 1, irqEnd), false);
        if (size > 0 && base > 0 && irq >= 0 && irq < 64) out.push(new MmioSlot(<u64>base, <u64>size, <i32>irq));
      }
    }
    i = end + 1;
  }
  return out;
}

/** Probed virtio-mmio transports of type `deviceId` named on the command line. */
export function findVirtioMmio(deviceId: u32, out: Array<VirtioMmioTransport>, failures: Array<VirtioMmioTransport> | null = null): void {
  const slots = parseMmioSlots(commandLine());
  for (let i = 0; i < slots.length; i++) {
    const s = slots[i];
    const t = new VirtioMmioTransport(s.base, s.size, s.line);
    if (!t.probe()) {
      if (failures && t.error != "empty slot") failures.push(t);
      continue;
    }
    if (t.deviceId == deviceId) out.push(t);
  }
}
