// PCI configuration-space access, behind an interface: x86 reaches it through
// the 0xCF8/0xCFC port pair ("configuration mechanism #1"), ARM64 and PCIe
// machines through ECAM (a memory-mapped window), which can implement the same
// class without the enumeration code changing.

import { port_read8, port_read16, port_read32, port_write8, port_write16, port_write32, mmio_map, mmio_read8, mmio_read16, mmio_read32, mmio_write8, mmio_write16, mmio_write32 } from "../../kernel/hal";

export abstract class PciConfig {
  /** Buses this mechanism can reach (mechanism #1: 256). */
  busCount: i32 = 256;
  abstract read32(bus: u32, dev: u32, fn: u32, off: u32): u32;
  abstract write32(bus: u32, dev: u32, fn: u32, off: u32, v: u32): void;
  abstract read16(bus: u32, dev: u32, fn: u32, off: u32): u32;
  abstract write16(bus: u32, dev: u32, fn: u32, off: u32, v: u32): void;
  abstract read8(bus: u32, dev: u32, fn: u32, off: u32): u32;
  abstract write8(bus: u32, dev: u32, fn: u32, off: u32, v: u32): void;
}

const CONFIG_ADDRESS: u32 = 0xcf8;
const CONFIG_DATA: u32 = 0xcfc;

/**
 * Mechanism #1. Only the first 256 bytes of a function's space are reachable
 * (extended PCIe space needs ECAM). Where there are no ports (a platform
 * without them returns all ones), every read is 0xFFFF.., so a scan finds no
 * device rather than failing.
 */
export class PortIoConfig extends PciConfig {
  @inline private select(bus: u32, dev: u32, fn: u32, off: u32): void {
    port_write32(CONFIG_ADDRESS, 0x8000_0000 | ((bus & 0xff) << 16) | ((dev & 31) << 11) | ((fn & 7) << 8) | (off & 0xfc));
  }
  read32(bus: u32, dev: u32, fn: u32, off: u32): u32 {
    this.select(bus, dev, fn, off);
    return port_read32(CONFIG_DATA);
  }
  write32(bus: u32, dev: u32, fn: u32, off: u32, v: u32): void {
    this.select(bus, dev, fn, off);
    port_write32(CONFIG_DATA, v);
  }
  read16(bus: u32, dev: u32, fn: u32, off: u32): u32 {
    this.select(bus, dev, fn, off);
    return port_read16(CONFIG_DATA + (off & 2)) & 0xffff;
  }
  write16(bus: u32, dev: u32, fn: u32, off: u32, v: u32): void {
    this.select(bus, dev, fn, off);
    port_write16(CONFIG_DATA + (off & 2), v & 0xffff);
  }
  read8(bus: u32, dev: u32, fn: u32, off: u32): u32 {
    this.select(bus, dev, fn, off);
    return port_read8(CONFIG_DATA + (off & 3)) & 0xff;
  }
  write8(bus: u32, dev: u32, fn: u32, off: u32, v: u32): void {
    this.select(bus, dev, fn, off);
    port_write8(CONFIG_DATA + (off & 3), v & 0xff);
  }
}

/**
 * ECAM: function (b, d, f) has 4 KiB at base + (b << 20 | d << 15 | f << 12).
 * `base` and the bus range come from the platform's firmware tables (ACPI
 * MCFG, the device tree); the window is mapped once here.
 */
export class EcamConfig extends PciConfig {
  readonly ok: bool;
  constructor(readonly base: u64, buses: i32) {
    super();
    this.busCount = buses;
    this.ok = mmio_map(base, <u64>buses << 20) >= 0;
  }
  @inline private addr(bus: u32, dev: u32, fn: u32, off: u32): u64 {
    return this.base + ((<u64>(bus & 0xff) << 20) | (<u64>(dev & 31) << 15) | (<u64>(fn & 7) << 12) | <u64>(off & 0xfff));
  }
  read32(bus: u32, dev: u32, fn: u32, off: u32): u32 {
    return this.ok ? mmio_read32(this.addr(bus, dev, fn, off & ~3)) : 0xffff_ffff;
  }
  write32(bus: u32, dev: u32, fn: u32, off: u32, v: u32): void {
    if (this.ok) mmio_write32(this.addr(bus, dev, fn, off & ~3), v);
  }
  read16(bus: u32, dev: u32, fn: u32, off: u32): u32 {
    return this.ok ? mmio_read16(this.addr(bus, dev, fn, off & ~1)) & 0xffff : 0xffff;
  }
  write16(bus: u32, dev: u32, fn: u32, off: u32, v: u32): void {
    if (this.ok) mmio_write16(this.addr(bus, dev, fn, off & ~1), v);
  }
  read8(bus: u32, dev: u32, fn: u32, off: u32): u32 {
    return this.ok ? mmio_read8(this.addr(bus, dev, fn, off)) & 0xff : 0xff;
  }
  write8(bus: u32, dev: u32, fn: u32, off: u32, v: u32): void {
    if (this.ok) mmio_write8(this.addr(bus, dev, fn, off), v);
  }
}
