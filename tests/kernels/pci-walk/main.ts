// pci-walk: drivers/pci's enumeration over configuration spaces held in
// memory -- PCI functions and bridges as a device (or a hostile one) would
// present them -- so the bridge walk's bounds can be shown without a VM:
// `topology=<name>` on the command line picks one, and the kernel prints each
// function found ("found bb:dd.f") and the count of bridges refused.
import { println } from "../../../kernel/console";
import { commandLine } from "../../../kernel/cmdline";
import { PciConfig } from "../../../drivers/pci/config";
import { PciBus } from "../../../drivers/pci/pci";

/** A config space of a few functions, each 64 dwords; absent ones read all ones. */
class TableConfig extends PciConfig {
  private keys: Array<u32> = new Array<u32>();
  private spaces: Array<StaticArray<u32>> = new Array<StaticArray<u32>>();

  constructor(buses: i32) {
    super();
    this.busCount = buses;
  }

  private at(bus: u32, dev: u32, fn: u32): StaticArray<u32> | null {
    const k = (bus << 8) | (dev << 3) | fn;
    for (let i = 0; i < this.keys.length; i++) if (this.keys[i] == k) return this.spaces[i];
    return null;
  }

  /** A function: vendor 0x1af4, class/subclass `cls`, header type `hdr`. */
  add(bus: u32, dev: u32, fn: u32, cls: u32, hdr: u32): StaticArray<u32> {
    const s = new StaticArray<u32>(64);
    s[0] = 0x1000_1af4;
    s[2] = cls << 16;
    s[3] = hdr << 16;
    this.keys.push((bus << 8) | (dev << 3) | fn);
    this.spaces.push(s);
    return s;
  }

  /** A PCI-to-PCI bridge naming secondary bus `sec` and subordinate `sub`. */
  bridge(bus: u32, dev: u32, sec: u32, sub: u32): void {
    const s = this.add(bus, dev, 0, 0x0604, 1);
    s[6] = (sub << 16) | (sec << 8) | bus;
  }

  read32(bus: u32, dev: u32, fn: u32, off: u32): u32 {
    const s = this.at(bus, dev, fn);
    return s ? s[(off & 0xfc) >> 2] : 0xffff_ffff;
  }
  write32(bus: u32, dev: u32, fn: u32, off: u32, v: u32): void {
    const s = this.at(bus, dev, fn);
    if (s) s[(off & 0xfc) >> 2] = v;
  }
  read16(bus: u32, dev: u32, fn: u32, off: u32): u32 {
    return (this.read32(bus, dev, fn, off) >>> ((off & 2) * 8)) & 0xffff;
  }
  write16(bus: u32, dev: u32, fn: u32, off: u32, v: u32): void {
    const sh = (off & 2) * 8;
    this.write32(bus, dev, fn, off, (this.read32(bus, dev, fn, off) & ~(0xffff << sh)) | ((v & 0xffff) << sh));
  }
  read8(bus: u32, dev: u32, fn: u32, off: u32): u32 {
    return (this.read32(bus, dev, fn, off) >>> ((off & 3) * 8)) & 0xff;
  }
  write8(bus: u32, dev: u32, fn: u32, off: u32, v: u32): void {
    const sh = (off & 3) * 8;
    this.write32(bus, dev, fn, off, (this.read32(bus, dev, fn, off) & ~(0xff << sh)) | ((v & 0xff) << sh));
  }
}

function topology(name: string): TableConfig {
  const c = new TableConfig(name == "window" ? 4 : 256);
  c.add(0, 0, 0, 0x0600, 0); // host bridge
  if (name == "tree") {
    // 00:01.0 -> bus 1 (01:00.0 -> bus 2: a device at 02:03.0), 00:02.0 -> bus 3 (03:00.0)
    c.bridge(0, 1, 1, 2);
    c.bridge(1, 0, 2, 2);
    c.add(2, 3, 0, 0x0200, 0);
    c.bridge(0, 2, 3, 3);
    c.add(3, 0, 0, 0x0200, 0);
  } else if (name == "loop") {
    // 00:01.0 -> bus 1, whose bridge names bus 1 again, and one that names bus 0
    c.bridge(0, 1, 1, 1);
    c.add(1, 2, 0, 0x0200, 0);
    c.bridge(1, 3, 1, 1);
    c.bridge(1, 4, 0, 0); // not programmed: nothing to follow, nothing refused
  } else if (name == "nested") {
    // bus 1's bridge points above its parent's window (1..2), and one points below its own bus
    c.bridge(0, 1, 1, 2);
    c.bridge(1, 0, 5, 5);
    c.bridge(1, 1, 2, 1); // subordinate below secondary
    c.add(5, 0, 0, 0x0200, 0); // only reachable through the refused bridge
  } else if (name == "twice") {
    // two bridges claim bus 1: its functions are listed once
    c.bridge(0, 1, 1, 1);
    c.bridge(0, 2, 1, 1);
    c.add(1, 0, 0, 0x0200, 0);
  } else if (name == "window") {
    // 4 buses in the window (ECAM from pci.ecam=<4 MiB>): a bridge naming bus 200 is outside it
    c.bridge(0, 1, 200, 200);
    c.bridge(0, 2, 3, 3);
    c.add(3, 0, 0, 0x0200, 0);
  }
  return c;
}

export function main(): i32 {
  const line = commandLine();
  const at = line.indexOf("topology=");
  const name = at < 0 ? "tree" : line.substring(at + 9).split(" ")[0];
  const bus = new PciBus(topology(name));
  bus.enumerate();
  for (let i = 0; i < bus.devices.length; i++) println("found " + bus.devices[i].location());
  println("refused " + bus.refusedBridges.toString());
  return 0;
}
