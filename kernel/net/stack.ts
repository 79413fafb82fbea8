// The one wiring module (mirage-tcpip's tcpip_stack_direct.ml): a NIC's
// whole network stack, composed bottom-up with defaults — device -> link
// (Ethernet + ARP) -> IPv4 -> ICMP, UDP and TCP, each registering with the
// layer below — and every part left reachable for code that wants to work
// at one layer (a research kernel swapping TCP's congestion control, a test
// injecting frames into the link). It also holds what the configuration
// adds beside the address: the DNS servers. Apps that want one call use it
// through the app API; unusual kernels compose the layers themselves the
// same way (see docs/network.md).

import { Scheduler } from "../sched/loop";
import { PacketPool } from "../mem/pktbuf";
import { NetDevice } from "./device";
import { EthernetLink } from "./link";
import { Ipv4 } from "./ip";
import { Icmp } from "./icmp";
import { Udp } from "./udp";
import { TcpStack } from "./tcp/stack";
import { NetCounters, printCounters } from "./counters";

/** What `new NetStack` builds beyond the defaults. */
export class NetStackOptions {
  /** Build TCP (protocol 6). Without it, TCP segments draw a protocol unreachable. */
  tcp: bool = true;
  /** Limit on all TCP connections' buffers together (bytes). */
  tcpMemory: u64 = 32 * 1024 * 1024;
}

export class NetStack {
  readonly sched: Scheduler;
  readonly dev: NetDevice;
  readonly pool: PacketPool;
  readonly link: EthernetLink;
  readonly ip: Ipv4;
  readonly icmp: Icmp;
  readonly udp: Udp;
  /** Null only when built with `tcp = false`. */
  readonly tcp: TcpStack | null;
  /** The layers' counters, by protocol (the same objects the layers count in). */
  readonly counters: NetCounters;
  /** DNS servers from DHCP or static configuration (0: none). */
  dns0: u32 = 0;
  dns1: u32 = 0;

  constructor(dev: NetDevice, sched: Scheduler, opts: NetStackOptions | null = null) {
    const o = opts ? opts : new NetStackOptions();
    this.sched = sched;
    this.dev = dev;
    this.pool = dev.pool;
    const link = new EthernetLink(dev, sched);
    const ip = new Ipv4(link, sched);
    const icmp = new Icmp(ip);
    const udp = new Udp(ip, sched);
    this.link = link;
    this.ip = ip;
    this.icmp = icmp;
    this.udp = udp;
    this.counters = new NetCounters(link.eth, link.arpCounters, ip.counters, icmp.counters, udp.counters);
    this.tcp = o.tcp ? new TcpStack(ip, sched, o.tcpMemory) : null;
  }

  /** Our MAC address. */
  get mac(): u64 {
    return this.link.mac;
  }

  /** Our IPv4 address (0 until configured). */
  get addr(): u32 {
    return this.ip.addr;
  }

  /** Sets our address and prefix (0 clears it); see Ipv4.setAddress. */
  setAddress(addr: u32, prefixLen: i32): void {
    this.ip.setAddress(addr, prefixLen);
  }

  /** Sets the default gateway (0 removes it). */
  setGateway(gw: u32): void {
    this.ip.setGateway(gw);
  }

  /** Prints the counters of the layers below TCP (TCP has its own: printTcpCounters). */
  printCounters(): void {
    printCounters(this.counters);
  }
}
