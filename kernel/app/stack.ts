// The one place level 1 reaches below itself for its defaults: the first
// NIC with its packet pool, the NetStack on it (link, IPv4, ICMP, UDP and
// TCP, each registered with the layer below), and the address configuration
// from the command line (static, or a DHCP client started here).

import { packetPool, PKT_BUF_SIZE } from "../mem/pktbuf";
import { mem_limit } from "../hal";
import { Scheduler } from "../sched/loop";
import { firstNetDevice, netUpError } from "../../drivers/virtio/index";
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
 * machine's memory, so that a small machine is not promised more than it has
 * (an eighth for packet buffers, a quarter for TCP's; the rest is the heap's).
 */
export function wire(sched: Scheduler, packets: u32, tcpMemory: u64): Wiring | null {
  const ram = mem_limit();
  if (packets == 0) packets = <u32>min<u64>(1024, max<u64>(384, ram / 8 / PKT_BUF_SIZE));
  if (tcpMemory == 0) tcpMemory = min<u64>(64 << 20, ram / 4);
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
