// netdemo: the network stack on a real (or emulated) NIC. Brings up the first
// virtio-net NIC, configures it from the command line (`ip=dhcp`, the
// default, or `ip=10.0.2.15/24 gw=10.0.2.2 dns=10.0.2.3`), resolves
// `resolve=<name>` through its DNS server, pings `ping=<addr>` (default: the
// gateway), then answers pings and echoes UDP on port 7 for `run=<seconds>`
// (default 10; 0 = forever) and prints the counters.
// Exit 0 on success; 2 without a NIC; 3 if DHCP or the name lookup failed.

import { print, println, printU64 } from "../../kernel/console";
import { clock_ns } from "../../kernel/hal";
import { cmdlineArg } from "../../kernel/cmdline";
import { packetPool } from "../../kernel/mem/pktbuf";
import { Scheduler, Task, MS, SEC } from "../../kernel/sched/index";
import { firstNetDevice, netUpError } from "../../drivers/virtio/index";
import {
  NetStack, EchoHandler, UdpSocket, AddressWait, Addressing, DnsResolver, DnsStatus, printCounters, ipString,
  parseNetConfig, applyStatic, parseIp, parsedIp,
} from "../../kernel/net/index";
import { NetStackOptions } from "../../kernel/net/stack";

let sched!: Scheduler;
let iface!: NetStack;
let failed = 0;

class Pinger extends EchoHandler {
  replies: i32 = 0;
  reply(from: u32, ident: u32, seq: u32, dataLen: u32): void {
    if (this.replies++ == 0) println("netdemo: ping " + ipString(from) + ": reply seq " + seq.toString() + " (" + dataLen.toString() + " bytes)");
  }
}

class UdpEcho extends Task {
  buf: usize = heap.alloc(2048);
  constructor(readonly sock: UdpSocket) { super("udp-echo"); }
  run(): void {
    const s = this.sock;
    for (;;) {
      const n = s.recvFrom(this.buf, 2048);
      if (n < 0) break;
      println("netdemo: udp " + ipString(s.srcIp) + ":" + s.srcPort.toString() + " sent " + n.toString() + " bytes, echoed");
      s.sendTo(s.srcIp, s.srcPort, this.buf, <u32>min(n, 2048));
    }
    this.waitOn(s.event);
  }
}

class Main extends Task {
  step: i32 = 0;
  t0: u64 = 0;
  addressing: AddressWait | null = null;
  dns: DnsResolver | null = null;
  pinger: Pinger = new Pinger();
  constructor(readonly useDhcp: bool, readonly runNs: u64) { super("netdemo"); }
  run(): void {
    const now = clock_ns();
    if (this.step == 0) {
      this.t0 = now;
      this.addressing = new AddressWait(iface, this.useDhcp, now);
      this.step = 1;
    }
    if (this.step == 1) {
      const a = this.addressing!.poll(this, now);
      if (a == Addressing.TimedOut) { println("netdemo: error: no DHCP lease within 30 s"); failed = 3; sched.stop(); return; }
      if (a == Addressing.Waiting) return;
      const dhcp = this.addressing!.dhcp;
      if (dhcp != null) println("netdemo: dhcp lease " + ipString(iface.addr) + "/" + iface.ip.prefixLen.toString() + " from " + ipString(dhcp.server) +
        " for " + dhcp.lease.toString() + " s (" + ((now - this.t0) / MS).toString() + " ms)");
      println("netdemo: address " + ipString(iface.addr) + "/" + iface.ip.prefixLen.toString() + " gateway " + ipString(iface.ip.gateway) + " dns " + ipString(iface.dns0));
      const pingTo = cmdlineArg("ping", "");
      const target = pingTo.length > 0 && parseIp(pingTo) ? parsedIp : iface.ip.gateway;
      if (target) {
        iface.icmp.echoHandler = this.pinger;
        iface.icmp.ping(target, 0x4e44, 1, 56);
      }
      const name = cmdlineArg("resolve", "");
      if (name.length > 0) {
        const r = new DnsResolver(iface);
        this.dns = r;
        r.resolve(name);
        this.step = 2;
      } else this.step = 3;
    }
    if (this.step == 2) {
      const r = this.dns!;
      if (r.status == DnsStatus.Pending) { this.waitOn(r.done, 1 * SEC); return; }
      const name = cmdlineArg("resolve", "");
      if (r.status == DnsStatus.Ok) println("netdemo: resolve " + name + " -> " + ipString(r.addr) + " (via " + ipString(iface.dns0) + ")");
      else if (r.status == DnsStatus.NotFound) println("netdemo: resolve " + name + " -> not found (rcode " + r.rcode.toString() + ", via " + ipString(iface.dns0) + ")");
      else { println("netdemo: error: resolve " + name + " failed (status " + (<i32>r.status).toString() + ")"); failed = 3; }
      this.step = 3;
    }
    if (this.step == 3) {
      println("netdemo: ready: answering pings, udp echo on port 7");
      this.step = 4;
      if (this.runNs) this.sleepUntil(now + this.runNs);
      return;
    }
    sched.stop();
  }
}

export function main(): i32 {
  const pool = packetPool(512);
  sched = new Scheduler();
  const dev = firstNetDevice(sched, pool);
  if (!dev) { println("netdemo: error: " + netUpError); return 2; }
  iface = new NetStack(dev, sched, noTcp());
  println("netdemo: " + dev.name + " mac " + dev.macString() + " mtu " + dev.mtu.toString());
  const cfg = parseNetConfig();
  if (cfg.error.length > 0) { println("netdemo: error: " + cfg.error); return 2; }
  const useDhcp = !cfg.present || cfg.dhcp;
  applyStatic(iface, cfg);
  sched.spawn(new UdpEcho(iface.udp.bind(7, 16, 2048)!));
  const runS = I32.parseInt(cmdlineArg("run", "10"));
  sched.spawn(new Main(useDhcp, <u64>runS * SEC));
  sched.run();
  printCounters(iface.counters);
  print("netdemo: packet buffers in use ");
  printU64(pool.inUse);
  println("");
  println(failed == 0 ? "netdemo: ok" : "netdemo: FAILED");
  return failed;
}

/** This kernel speaks no TCP. */
function noTcp(): NetStackOptions {
  const o = new NetStackOptions();
  o.tcp = false;
  return o;
}
