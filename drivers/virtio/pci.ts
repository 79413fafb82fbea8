// The modern virtio-pci transport (virtio 1.2, 4.1): the device's registers
// are found through vendor-specific PCI capabilities, each naming a BAR and a
// range in it — common config, notifications, ISR status, device config.
// Legacy I/O-port register layouts are not supported: a transitional device
// works through its modern capabilities, a legacy-only one is refused.

import { mmio_map, mmio_read8, mmio_read16, mmio_read32, mmio_write8, mmio_write16, mmio_write32 } from "../../kernel/hal";
import { PciBus, PciDevice, CAP_ID_VENDOR, CMD_MEMORY, CMD_BUS_MASTER, CMD_INTX_DISABLE } from "../pci/pci";
import { VirtioTransport, readFeatureWord, writeFeatureWord } from "./transport";

export const VIRTIO_PCI_VENDOR: u32 = 0x1af4;

// virtio_pci_cap.cfg_type
const CAP_COMMON: u8 = 1;
const CAP_NOTIFY: u8 = 2;
const CAP_ISR: u8 = 3;
const CAP_DEVICE: u8 = 4;

// struct virtio_pci_common_cfg
const C_DFSELECT: u64 = 0x00;
const C_DF: u64 = 0x04;
const C_GFSELECT: u64 = 0x08;
const C_GF: u64 = 0x0c;
const C_NUM_QUEUES: u64 = 0x12;
const C_STATUS: u64 = 0x14;
const C_CFGGEN: u64 = 0x15;
const C_Q_SELECT: u64 = 0x16;
const C_Q_SIZE: u64 = 0x18;
const C_Q_MSIX: u64 = 0x1a;
const C_Q_ENABLE: u64 = 0x1c;
const C_Q_NOFF: u64 = 0x1e;
const C_Q_DESCLO: u64 = 0x20;
const C_Q_DESCHI: u64 = 0x24;
const C_Q_AVAILLO: u64 = 0x28;
const C_Q_AVAILHI: u64 = 0x2c;
const C_Q_USEDLO: u64 = 0x30;
const C_Q_USEDHI: u64 = 0x34;
const COMMON_MIN: u32 = 0x38;
const NO_VECTOR: u32 = 0xffff;

/** The virtio device id of a PCI function, or 0 if it is not a virtio device. */
export function virtioPciDeviceId(d: PciDevice): u32 {
  if (d.vendor != VIRTIO_PCI_VENDOR) return 0;
  if (d.device >= 0x1040 && d.device <= 0x107f) return d.device - 0x1040;
  // Transitional devices: the subsystem id carries the type.
  if (d.device >= 0x1000 && d.device <= 0x103f) return d.subsystemId;
  return 0;
}

export class VirtioPciTransport extends VirtioTransport {
  private common: u64 = 0;
  private notifyBase: u64 = 0;
  private notifyLen: u32 = 0;
  private notifyMult: u32 = 0;
  private isr: u64 = 0;
  private device: u64 = 0;
  private deviceLen: u32 = 0;
  /** queue_notify_off of each queue set up (up to 64 queues). */
  private notifyOff: StaticArray<u32> = new StaticArray<u32>(64);
  /** Why `probe` failed, for logs. */
  error: string = "";

  constructor(readonly pci: PciDevice) {
    super();
    this.deviceId = virtioPciDeviceId(pci);
  }

  kind(): string { return "pci"; }
  location(): string { return "pci " + this.pci.location(); }

  /**
   * Finds and maps the four structures. False (with `error`) when one is
   * missing, points at a BAR that is absent or too small, or cannot be
   * mapped. The first capability of each type that works wins (4.1.4).
   */
  probe(): bool {
    const d = this.pci;
    // Memory decoding for the BARs, bus mastering for DMA, and INTx on.
    d.enable(CMD_MEMORY | CMD_BUS_MASTER);
    d.disable(CMD_INTX_DISABLE);
    let cap = d.findCap(CAP_ID_VENDOR);
    for (let n = 0; cap != 0 && n < 32; n++) {
      const type = <u8>d.read8(cap + 3);
      const barIdx = d.read8(cap + 4);
      const off = d.read32(cap + 8);
      const len = d.read32(cap + 12);
      if (barIdx <= 5 && len != 0) {
        const addr = this.region(barIdx, off, len);
        if (addr != 0) {
          if (type == CAP_COMMON && this.common == 0 && len >= COMMON_MIN) this.common = addr;
          else if (type == CAP_NOTIFY && this.notifyBase == 0 && d.read8(cap + 2) >= 20) {
            this.notifyBase = addr;
            this.notifyLen = len;
            this.notifyMult = d.read32(cap + 16);
          } else if (type == CAP_ISR && this.isr == 0) this.isr = addr;
          else if (type == CAP_DEVICE && this.device == 0) {
            this.device = addr;
            this.deviceLen = len;
          }
        }
      }
      cap = d.findCap(CAP_ID_VENDOR, cap);
    }
    if (this.common == 0) this.error = "no usable common-config capability (a legacy-only device?)";
    else if (this.notifyBase == 0) this.error = "no usable notify capability";
    else if (this.isr == 0) this.error = "no usable ISR capability";
    if (this.error.length) return false;
    this.line = d.irqPin != 0 && d.irqLine < 64 ? <i32>d.irqLine : -1;
    return true;
  }

  /** Maps [off, off+len) of memory BAR `barIdx`; 0 if it does not fit. */
  private region(barIdx: u32, off: u32, len: u32): u64 {
    const bar = this.pci.bar(<i32>barIdx);
    if (bar.isIo || !bar.present || bar.upperHalf) return 0;
    if (<u64>off + <u64>len > bar.size) return 0;
    const addr = bar.base + <u64>off;
    if (mmio_map(addr, <u64>len) < 0) return 0;
    return addr;
  }

  getStatus(): u32 { return mmio_read8(this.common + C_STATUS) & 0xff; }
  setStatus(s: u32): void { mmio_write8(this.common + C_STATUS, s); }

  reset(): bool {
    mmio_write8(this.common + C_STATUS, 0);
    for (let i = 0; i < 1_000_000; i++) if ((mmio_read8(this.common + C_STATUS) & 0xff) == 0) return true;
    return false;
  }

  deviceFeatures(): u64 {
    return readFeatureWord(this.common + C_DFSELECT, this.common + C_DF);
  }

  setDriverFeatures(f: u64): void {
    writeFeatureWord(this.common + C_GFSELECT, this.common + C_GF, f);
  }

  numQueues(): u32 { return mmio_read16(this.common + C_NUM_QUEUES) & 0xffff; }

  queueMax(q: u32): u32 {
    if (q >= 64 || q >= this.numQueues()) return 0;
    mmio_write16(this.common + C_Q_SELECT, q);
    return mmio_read16(this.common + C_Q_SIZE) & 0xffff;
  }

  setupQueue(q: u32, size: u32, desc: u64, driver: u64, device: u64): bool {
    if (q >= 64) return false;
    const c = this.common;
    mmio_write16(c + C_Q_SELECT, q);
    if ((mmio_read16(c + C_Q_ENABLE) & 0xffff) != 0) return false;
    mmio_write16(c + C_Q_SIZE, size);
    // 64-bit fields as two 32-bit writes, low half first: every transport
    // implementation accepts these, not all accept 64-bit accesses.
    mmio_write32(c + C_Q_DESCLO, <u32>desc);
    mmio_write32(c + C_Q_DESCHI, <u32>(desc >> 32));
    mmio_write32(c + C_Q_AVAILLO, <u32>driver);
    mmio_write32(c + C_Q_AVAILHI, <u32>(driver >> 32));
    mmio_write32(c + C_Q_USEDLO, <u32>device);
    mmio_write32(c + C_Q_USEDHI, <u32>(device >> 32));
    mmio_write16(c + C_Q_MSIX, NO_VECTOR); // INTx: no MSI-X vector
    const noff = mmio_read16(c + C_Q_NOFF) & 0xffff;
    // The notify address must lie inside the notify structure (4.1.4.4).
    if (<u64>noff * <u64>this.notifyMult + 2 > <u64>this.notifyLen) return false;
    this.notifyOff[q] = noff;
    mmio_write16(c + C_Q_ENABLE, 1);
    return true;
  }

  notify(q: u32): void {
    if (q >= 64) return;
    mmio_write16(this.notifyBase + <u64>this.notifyOff[q] * <u64>this.notifyMult, q);
  }

  ackInterrupt(): u32 {
    return mmio_read8(this.isr) & 0xff; // reading the ISR clears it and deasserts INTx
  }

  configGeneration(): u32 { return mmio_read8(this.common + C_CFGGEN) & 0xff; }
  configSize(): u32 { return this.deviceLen; }
  config8(off: u32): u32 { return off + 1 <= this.deviceLen ? mmio_read8(this.device + off) & 0xff : 0; }
  config16(off: u32): u32 { return off + 2 <= this.deviceLen ? mmio_read16(this.device + off) & 0xffff : 0; }
  config32(off: u32): u32 { return off + 4 <= this.deviceLen ? mmio_read32(this.device + off) : 0; }
}

/** Every virtio PCI function of type `deviceId` on `bus`, as probed transports (failures skipped, printed by the caller via `error`). */
export function findVirtioPci(bus: PciBus, deviceId: u32, out: Array<VirtioPciTransport>): void {
  for (let i = 0; i < bus.devices.length; i++) {
    const d = bus.devices[i];
    if (virtioPciDeviceId(d) != deviceId) continue;
    out.push(new VirtioPciTransport(d));
  }
}
