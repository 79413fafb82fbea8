// PCI: enumeration, BARs, capabilities, legacy interrupt routing.
//
// Enumeration follows bridges from bus 0 (and the extra host bridges a
// multi-function 00:00 announces) rather than probing all 256 x 32 slots:
// each config access is a VM exit under QEMU, and the bridge walk finds the
// same functions firmware made reachable. `scanAll` is there for firmware
// that left bridges unprogrammed.
//
// The bus numbers a bridge reports come from a device, so they are checked
// before they are followed: its secondary bus must lie above the bus the
// bridge sits on, within the range of buses that bus itself decodes (the
// parent bridge's secondary..subordinate, or the whole window of the config
// mechanism), and not be visited yet. A bridge that fails is counted in
// `refusedBridges` and not followed, so a looping or out-of-window config
// space ends the walk instead of hanging it or reading outside ECAM.
//
// Interrupts: the legacy INTx line firmware wrote to config 0x3C. On x86 it
// is the GSI the platform routes (QEMU pc: 10/11 level-triggered, q35:
// 16-23), which is exactly the HAL's interrupt line; on aarch64 virt the
// shim plays firmware and writes the SPI the device tree's interrupt-map
// gives the function's pin (boot/aarch64/pci.c). MSI-X would need the
// platform to hand out vectors, which the HAL does not (yet) do.

import { EcamConfig, PciConfig, PortIoConfig } from "./config";
import { cmdlineValue, parseCmdlineNumber } from "../../kernel/cmdline";
import { mmio_map } from "../../kernel/hal";
import { println } from "../../kernel/console";

// Config-space offsets.
export const PCI_VENDOR: u32 = 0x00;
export const PCI_DEVICE: u32 = 0x02;
export const PCI_COMMAND: u32 = 0x04;
export const PCI_STATUS: u32 = 0x06;
export const PCI_CLASS: u32 = 0x08; // revision, prog-if, subclass, class
export const PCI_HEADER_TYPE: u32 = 0x0e;
export const PCI_BAR0: u32 = 0x10;
export const PCI_SUBSYSTEM_ID: u32 = 0x2e;
export const PCI_CAP_PTR: u32 = 0x34;
export const PCI_INTERRUPT_LINE: u32 = 0x3c;
export const PCI_INTERRUPT_PIN: u32 = 0x3d;
export const PCI_SECONDARY_BUS: u32 = 0x19;
export const PCI_SUBORDINATE_BUS: u32 = 0x1a;

export const CMD_IO: u32 = 1 << 0;
export const CMD_MEMORY: u32 = 1 << 1;
export const CMD_BUS_MASTER: u32 = 1 << 2;
export const CMD_INTX_DISABLE: u32 = 1 << 10;
const STATUS_CAP_LIST: u32 = 1 << 4;

export const CAP_ID_VENDOR: u8 = 0x09;
export const CAP_ID_MSIX: u8 = 0x11;

/** One decoded Base Address Register. */
export class Bar {
  /** Bus address (for memory BARs, the physical address on x86). 0 if unassigned. */
  base: u64 = 0;
  size: u64 = 0;
  isIo: bool = false;
  is64: bool = false;
  prefetchable: bool = false;
  /** This slot is the upper half of the previous 64-bit BAR. */
  upperHalf: bool = false;
  /** Whether mmio_map has been done for [base, base+size). */
  mapped: bool = false;

  /** Whether the BAR decodes something at a real address. */
  @inline get present(): bool {
    return this.size != 0 && (this.base != 0 || this.isIo);
  }
}

export class PciDevice {
  vendor: u32 = 0;
  device: u32 = 0;
  classCode: u32 = 0;
  subclass: u32 = 0;
  progIf: u32 = 0;
  revision: u32 = 0;
  headerType: u32 = 0;
  subsystemId: u32 = 0;
  /** INTx line from config 0x3C (0xFF: not connected). */
  irqLine: u32 = 0xff;
  /** INTx pin 1..4 = INTA..INTD, 0 = none. */
  irqPin: u32 = 0;
  private bars: StaticArray<Bar> | null = null;

  constructor(readonly cfg: PciConfig, readonly bus: u32, readonly slot: u32, readonly fn: u32) {
    const id = cfg.read32(bus, slot, fn, PCI_VENDOR);
    this.vendor = id & 0xffff;
    this.device = id >>> 16;
    const cls = cfg.read32(bus, slot, fn, PCI_CLASS);
    this.revision = cls & 0xff;
    this.progIf = (cls >>> 8) & 0xff;
    this.subclass = (cls >>> 16) & 0xff;
    this.classCode = cls >>> 24;
    this.headerType = cfg.read8(bus, slot, fn, PCI_HEADER_TYPE) & 0x7f;
    if (this.headerType == 0) this.subsystemId = cfg.read16(bus, slot, fn, PCI_SUBSYSTEM_ID);
    if (this.headerType <= 1) {
      this.irqLine = cfg.read8(bus, slot, fn, PCI_INTERRUPT_LINE);
      this.irqPin = cfg.read8(bus, slot, fn, PCI_INTERRUPT_PIN);
    }
  }

  @inline read32(off: u32): u32 { return this.cfg.read32(this.bus, this.slot, this.fn, off); }
  @inline read16(off: u32): u32 { return this.cfg.read16(this.bus, this.slot, this.fn, off); }
  @inline read8(off: u32): u32 { return this.cfg.read8(this.bus, this.slot, this.fn, off); }
  @inline write32(off: u32, v: u32): void { this.cfg.write32(this.bus, this.slot, this.fn, off, v); }
  @inline write16(off: u32, v: u32): void { this.cfg.write16(this.bus, this.slot, this.fn, off, v); }
  @inline write8(off: u32, v: u32): void { this.cfg.write8(this.bus, this.slot, this.fn, off, v); }

  /** Number of BAR slots in this header type. */
  get barCount(): i32 {
    return this.headerType == 0 ? 6 : this.headerType == 1 ? 2 : 0;
  }

  /**
   * BAR `i` (0..5), decoded and sized on first use. Sizing writes all ones
   * and reads back the writable bits, with I/O and memory decoding turned off
   * meanwhile so the device never answers at the probe address; the original
   * values and the command register are restored.
   */
  bar(i: i32): Bar {
    let bars = this.bars;
    if (!bars) {
      bars = new StaticArray<Bar>(6);
      for (let k = 0; k < 6; k++) bars[k] = new Bar();
      this.bars = bars;
      this.sizeBars(bars);
    }
    return bars[i < 0 || i > 5 ? 5 : i];
  }

  private sizeBars(bars: StaticArray<Bar>): void {
    const n = this.barCount;
    if (n == 0) return;
    const cmd = this.read16(PCI_COMMAND);
    this.write16(PCI_COMMAND, cmd & ~(CMD_IO | CMD_MEMORY));
    for (let i = 0; i < n; i++) {
      const b = bars[i];
      const off = PCI_BAR0 + (<u32>i << 2);
      const orig = this.read32(off);
      if (orig & 1) {
        b.isIo = true;
        this.write32(off, 0xffff_ffff);
        const mask = this.read32(off) & 0xffff_fffc;
        this.write32(off, orig);
        b.base = <u64>(orig & 0xffff_fffc);
        // Some devices only implement 16 I/O address bits; the rest read 0.
        const m = mask & 0xffff;
        b.size = m ? <u64>((~m + 1) & 0xffff) : 0;
        continue;
      }
      const type = (orig >>> 1) & 3;
      b.prefetchable = (orig & 8) != 0;
      this.write32(off, 0xffff_ffff);
      const lo = this.read32(off) & 0xffff_fff0;
      this.write32(off, orig);
      let mask: u64 = <u64>lo;
      let base: u64 = <u64>(orig & 0xffff_fff0);
      if (type == 2 && i + 1 < n) {
        b.is64 = true;
        const offHi = off + 4;
        const origHi = this.read32(offHi);
        this.write32(offHi, 0xffff_ffff);
        const hi = this.read32(offHi);
        this.write32(offHi, origHi);
        mask |= <u64>hi << 32;
        base |= <u64>origHi << 32;
        bars[i + 1].upperHalf = true;
      } else mask |= 0xffff_ffff_0000_0000;
      b.base = base;
      b.size = lo == 0 ? 0 : ~mask + 1;
      if (b.is64) i++;
    }
    this.write16(PCI_COMMAND, cmd);
  }

  /**
   * Maps memory BAR `i` for the mmio_* calls (once). Returns its base, or 0
   * if it is an I/O BAR, unassigned, or the platform refused the mapping.
   */
  mapBar(i: i32): u64 {
    const b = this.bar(i);
    if (b.isIo || !b.present || b.upperHalf) return 0;
    if (!b.mapped) {
      if (mmio_map(b.base, b.size) < 0) return 0;
      b.mapped = true;
    }
    return b.base;
  }

  /** Sets bits in the command register (e.g. memory decoding, bus mastering). */
  enable(bits: u32): void {
    const cmd = this.read16(PCI_COMMAND);
    this.write16(PCI_COMMAND, (cmd | bits) & 0xffff);
  }

  /** Clears bits in the command register. */
  disable(bits: u32): void {
    const cmd = this.read16(PCI_COMMAND);
    this.write16(PCI_COMMAND, cmd & ~bits & 0xffff);
  }

  /**
   * Offset of the first capability with `id` at or after the capability at
   * `from` (0: from the list head), or 0. The walk is bounded and checks each
   * pointer, so a looping or corrupt list ends the walk instead of hanging.
   */
  findCap(id: u8, from: u32 = 0): u32 {
    if ((this.read16(PCI_STATUS) & STATUS_CAP_LIST) == 0) return 0;
    let p: u32 = from ? this.read8(from + 1) : this.read8(PCI_CAP_PTR);
    for (let n = 0; n < 48 && p >= 0x40 && p <= 0xfc; n++) {
      p &= 0xfc;
      if (<u8>this.read8(p) == id) return p;
      p = this.read8(p + 1);
    }
    return 0;
  }

  /** "bb:dd.f" (allocates: for logs). */
  location(): string {
    return hex2(this.bus) + ":" + hex2(this.slot) + "." + this.fn.toString();
  }
}

function hex2(v: u32): string {
  const h = "0123456789abcdef";
  return h.charAt((v >> 4) & 15) + h.charAt(v & 15);
}

/** The PCI functions present, found by `enumerate`. */
export class PciBus {
  readonly devices: Array<PciDevice> = new Array<PciDevice>();
  private seen: StaticArray<bool> = new StaticArray<bool>(256);
  /** Bridges whose bus numbers were not followed (outside the window, looping, already seen). */
  refusedBridges: i32 = 0;

  constructor(readonly cfg: PciConfig) {}

  /** Finds every function reachable from the host bridges (or all buses with `scanAll`). */
  enumerate(scanAll: bool = false): void {
    const cfg = this.cfg;
    const last = <u32>min(cfg.busCount, 256) - 1;
    if (cfg.busCount <= 0) return;
    if (scanAll) {
      for (let b: u32 = 0; b <= last; b++) this.scanBus(b, false, last);
      return;
    }
    if ((cfg.read8(0, 0, 0, PCI_HEADER_TYPE) & 0x80) == 0) this.scanBus(0, true, last);
    else {
      // Several host bridges: function f of 00:00 is the bridge for bus f.
      for (let f: u32 = 0; f < 8 && f <= last; f++) {
        if ((cfg.read32(0, 0, f, PCI_VENDOR) & 0xffff) == 0xffff) continue;
        this.scanBus(f, true, last);
      }
    }
  }

  /** Scans `bus`, whose bridge decodes buses up to `last`; follows bridges if `follow`. */
  private scanBus(bus: u32, follow: bool, last: u32): void {
    if (bus > last || this.seen[bus]) return;
    this.seen[bus] = true;
    for (let slot: u32 = 0; slot < 32; slot++) {
      if ((this.cfg.read32(bus, slot, 0, PCI_VENDOR) & 0xffff) == 0xffff) continue;
      const multi = (this.cfg.read8(bus, slot, 0, PCI_HEADER_TYPE) & 0x80) != 0;
      const fns: u32 = multi ? 8 : 1;
      for (let fn: u32 = 0; fn < fns; fn++) {
        if ((this.cfg.read32(bus, slot, fn, PCI_VENDOR) & 0xffff) == 0xffff) continue;
        const d = new PciDevice(this.cfg, bus, slot, fn);
        this.devices.push(d);
        // PCI-to-PCI bridge: its secondary bus holds more functions.
        if (follow && d.headerType == 1 && d.classCode == 0x06 && d.subclass == 0x04) {
          const sec = d.read8(PCI_SECONDARY_BUS);
          const sub = d.read8(PCI_SUBORDINATE_BUS);
          if (sec == 0) continue; // not programmed: nothing behind it is reachable
          if (sec <= bus || sub < sec || sub > last || this.seen[sec]) this.refuse(d, sec, sub, last);
          else this.scanBus(sec, true, sub);
        }
      }
    }
  }

  private refuse(d: PciDevice, sec: u32, sub: u32, last: u32): void {
    this.refusedBridges++;
    println("pci: bridge " + d.location() + " names buses " + sec.toString() + ".." + sub.toString() + ", not within " +
      (d.bus + 1).toString() + ".." + last.toString() + " or seen already: not followed");
  }

  /** The functions with this vendor and device id, in bus order. */
  find(vendor: u32, device: u32): Array<PciDevice> {
    const out = new Array<PciDevice>();
    for (let i = 0; i < this.devices.length; i++) {
      const d = this.devices[i];
      if (d.vendor == vendor && d.device == device) out.push(d);
    }
    return out;
  }
}

let defaultBus: PciBus | null = null;

/**
 * The ECAM window `pci.ecam=<size>@<base>` names on the command line (the
 * aarch64 shim writes it from the device tree's PCIe host bridge: bus 0 at
 * base, size >> 20 buses), or null if there is none or it is malformed.
 */
export function ecamFromCmdline(line: string | null = null): EcamConfig | null {
  const spec = cmdlineValue("pci.ecam", line);
  if (spec == null) return null;
  const at = spec.indexOf("@");
  if (at <= 0) return null;
  const size = parseCmdlineNumber(spec.substring(0, at), true);
  const base = parseCmdlineNumber(spec.substring(at + 1), false);
  const buses = size >> 20;
  if (size <= 0 || base <= 0 || (size & 0xfffff) != 0 || buses > 256) return null;
  return new EcamConfig(<u64>base, <i32>buses);
}

/**
 * The platform's PCI bus, enumerated on first use: through the ECAM window
 * the command line names (pci.ecam=, on aarch64), else through port I/O
 * (where a platform has neither, it is simply empty).
 */
export function pciBus(): PciBus {
  let b = defaultBus;
  if (!b) {
    const ecam = ecamFromCmdline();
    b = new PciBus(ecam != null ? <PciConfig>ecam : new PortIoConfig());
    b.enumerate();
    defaultBus = b;
  }
  return b;
}
