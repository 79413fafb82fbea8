// Virtio: transports, virtqueues, and the net and rng drivers, plus discovery
// of every virtio device the platform has, on PCI and on virtio-mmio.
export * from "./transport";
export { VirtioPciTransport, virtioPciDeviceId, findVirtioPci, VIRTIO_PCI_VENDOR } from "./pci";
export { VirtioMmioTransport, MmioSlot, parseMmioSlots, findVirtioMmio } from "./mmio";
export { Virtqueue, QueueStats } from "./virtqueue";
export { VirtioNet, NET_WANTED, NET_F_CSUM, NET_F_GUEST_CSUM, NET_F_MTU, NET_F_MAC, NET_F_MRG_RXBUF, NET_F_STATUS, finishChecksum } from "./net";
export { VirtioRng, randomBytes, setDefaultRng } from "./rng";
export { IrqHandler, NetIrqHandler, IrqWatchdog, IRQ_WATCHDOG_MS, routeIrq, routeNetIrq, irqWatchdog } from "./irq";

import { pciBus } from "../pci/pci";
import { Scheduler } from "../../kernel/sched/loop";
import { PacketPool } from "../../kernel/mem/pktbuf";
import { VirtioNet } from "./net";
import { InitResult, initResultName, DEVICE_NET } from "./transport";
import { routeNetIrq } from "./irq";
import { VirtioTransport } from "./transport";
import { VirtioPciTransport, virtioPciDeviceId } from "./pci";
import { VirtioMmioTransport, parseMmioSlots } from "./mmio";
import { commandLine } from "../../kernel/cmdline";

/** Every virtio device found, probed; `problems` says why others were skipped. */
export class VirtioDevices {
  readonly found: Array<VirtioTransport> = new Array<VirtioTransport>();
  readonly problems: Array<string> = new Array<string>();

  /** Transports of virtio device type `id`, in discovery order (PCI first). */
  ofType(id: u32): Array<VirtioTransport> {
    const out = new Array<VirtioTransport>();
    for (let i = 0; i < this.found.length; i++) if (this.found[i].deviceId == id) out.push(this.found[i]);
    return out;
  }
}

let discovered: VirtioDevices | null = null;

/**
 * Scans PCI (through the platform's config access) and the command line's
 * virtio_mmio.device= entries, once, and probes each device's transport.
 */
export function virtioDevices(): VirtioDevices {
  let d = discovered;
  if (d) return d;
  d = new VirtioDevices();
  const bus = pciBus();
  for (let i = 0; i < bus.devices.length; i++) {
    const p = bus.devices[i];
    if (virtioPciDeviceId(p) == 0) continue;
    const t = new VirtioPciTransport(p);
    if (t.probe()) d.found.push(t);
    else d.problems.push(t.location() + ": " + t.error);
  }
  const slots = parseMmioSlots(commandLine());
  for (let i = 0; i < slots.length; i++) {
    const s = slots[i];
    const t = new VirtioMmioTransport(s.base, s.size, s.line);
    if (t.probe()) d.found.push(t);
    else if (t.error != "empty slot") d.problems.push(t.location() + ": " + t.error);
  }
  discovered = d;
  return d;
}

/**
 * What a one-NIC app does first: the first virtio-net device, initialised,
 * its interrupts routed through `sched`. Null if there is none or it would
 * not come up; `netUpError` then says why.
 */
export function firstNetDevice(sched: Scheduler, pool: PacketPool): VirtioNet | null {
  const nets = virtioDevices().ofType(DEVICE_NET);
  if (nets.length == 0) {
    netUpError = "no network device (boot with --net user, or --net sim on the Node platform)";
    return null;
  }
  const dev = new VirtioNet(nets[0], pool);
  const r = dev.init();
  if (r != InitResult.Ok) {
    netUpError = initResultName(r);
    return null;
  }
  routeNetIrq(sched, dev);
  return dev;
}

/** Why the last firstNetDevice() returned null. */
export let netUpError: string = "";
