// The one place level 1 reaches below itself for its defaults: the first
// NIC with its packet pool, the NetStack on it (link, IPv4, ICMP, UDP and
// TCP, each registered with the layer below), and the address configuration
// from the command line (static, or a DHCP client started here).

import { packetPool, PKT_BUF_SIZE } from "../mem/pktbuf";
import { dmaBytes } from "../mem/dma";
import { LARGE_BUF_SIZE } from "../mem/largebuf";
import { packetBuffersFor, tcpMemoryFor } from "../mem/budget";
import { println } from "../console";
import { mem_limit } from "../hal";
import { Scheduler } from "../sched/loop";
import { firstNetDevice, netUpError, VirtioNet } from "../../drivers/virtio/index";
import { NetStack, NetStackOptions } from "../net/stack";
import { parseNetConfig, applyStatic } from "../net/config";
import { DhcpClient } from "../net/dhcp";

export class Wiring {
  constructor(readonly stack: NetStack, readonly dhcp: DhcpClient | null) {}
}

/** Why the last `wire` returned null. */
export let wireError: string = "";

/**
 * Builds the stack on the first NIC; null (and `wireError`) when there is none
 * or the arguments are bad. `packets` and `tcpMemory` of 0 are sized from the
 * machine's memory (kernel/mem/budget.ts), so that a small machine is not
 * promised more than it has; the split is printed once the NIC is up.
 */
export function wire(sched: Scheduler, packets: u32, tcpMemory: u64): Wiring | null {
  const ram = mem_limit();
  if (packets == 0) packets = packetBuffersFor(ram);
  if (tcpMemory == 0) tcpMemory = tcpMemoryFor(ram);
  const cfg = parseNetConfig();
  if (cfg.error.length > 0) {
    wireError = "network arguments: " + cfg.error;
    return null;
  }
  const dev = firstNetDevice(sched, packetPool(packets));
  if (dev == null) {
    wireError = netUpError.startsWith("no network device")
      ? "no network device: boot with --net user (QEMU) or --net sim (Node)"
      : "the network device did not come up: " + netUpError;
    return null;
  }
  printMemoryMap(dev, ram, tcpMemory);
  const o = new NetStackOptions();
  o.tcpMemory = tcpMemory;
  const stack = new NetStack(dev, sched, o);
  applyStatic(stack, cfg);
  let dhcp: DhcpClient | null = null;
  if (!cfg.present || cfg.dhcp) {
    dhcp = new DhcpClient(stack);
    dhcp.start();
  }
  return new Wiring(stack, dhcp);
}

/**
 * The memory map at boot: what the kernel's static data, the device's
 * buffers (carved out once) and the heap got of `ram`, and how much of the
 * heap TCP's rings may take. One line, e.g. at -m 8M:
 * `memory: 6016 KiB: static 48 KiB, device 790 KiB (384 packet buffers of 2 KiB, 128 for receive; 2 TSO buffers of 64 KiB), heap 5178 KiB (TCP buffers up to 1504 KiB)`
 */
function printMemoryMap(dev: VirtioNet, ram: u64, tcpMemory: u64): void {
  const statics = <u64>__heap_base;
  const device = <u64>dmaBytes;
  const heap = ram > statics + device ? ram - statics - device : 0;
  const large = dev.large;
  const tso = large != null ? large.capacity : 0;
  println("memory: " + kib(ram) + " KiB: static " + kib(statics) + " KiB, device " + kib(device) + " KiB (" +
    dev.pool.capacity.toString() + " packet buffers of " + (PKT_BUF_SIZE >> 10).toString() + " KiB, " + dev.rx!.size.toString() + " for receive; " +
    tso.toString() + " TSO buffers of " + (LARGE_BUF_SIZE >> 10).toString() + " KiB), heap " + kib(heap) + " KiB (TCP buffers up to " + kib(min<u64>(tcpMemory, heap)) + " KiB)");
}

function kib(n: u64): string {
  return (n >> 10).toString();
}
