// netdemo: the network stack on a real (or emulated) NIC. Takes an address
// (`ip=dhcp`, the default, or `ip=10.0.2.15/24 gw=10.0.2.2 dns=10.0.2.3`),
// resolves `resolve=<name>` through its DNS server, pings `ping=<addr>`
// (default: the gateway), answers pings and echoes UDP on port 7 for
// `run=<seconds>` (default 10; 0 = forever), then prints the counters.
// Exit 0 on success; 3 without a network or if the name lookup failed.
import { App, Net, Kernel, Task, Bytes, UdpPort, DatagramHandler, NameHandler, PingHandler, args, println, ipString, SEC, MS } from "uniwasm";

class UdpEcho extends DatagramHandler {
  onDatagram(port: UdpPort, data: Bytes, ip: u32, fromPort: u32): void {
    println("netdemo: udp " + ipString(ip) + ":" + fromPort.toString() + " sent " + data.length.toString() + " bytes, echoed");
    port.sendTo(ip, fromPort, data);
  }
}

class Pinged extends PingHandler {
  replies: u32 = 0;
  onReply(from: u32, seq: u32, bytes: u32): void {
    if (this.replies++ == 0) println("netdemo: ping " + ipString(from) + ": reply seq " + seq.toString() + " (" + bytes.toString() + " bytes)");
  }
}

class Resolved extends NameHandler {
  failed: bool = false;
  constructor(readonly dns: u32) { super(); }
  onResolved(name: string, ip: u32, why: string): void {
    const via = "via " + ipString(this.dns) + ")";
    if (ip != 0) println("netdemo: resolve " + name + " -> " + ipString(ip) + " (" + via);
    else if (why.startsWith("not found (")) println("netdemo: resolve " + name + " -> " + why.substring(0, why.length - 1) + ", " + via);
    else {
      println("netdemo: error: resolve " + name + " " + why);
      this.failed = true;
    }
  }
}

class Stop extends Task {
  constructor() { super("stop"); }
  run(): void { Kernel.exit(0); }
}

class NetDemo extends App {
  readonly pingTo: u32 = args.ip("ping");
  readonly name: string = args.str("resolve");
  readonly runS: u64 = args.u64("run", 10);
  net: Net | null = null;
  resolved: Resolved = new Resolved(0);

  onUp(net: Net): void {
    this.net = net;
    const d = net.dhcp;
    if (d != null) println("netdemo: dhcp lease " + ipString(net.ip) + "/" + net.prefixLen.toString() + " from " + ipString(d.server) +
      " for " + d.lease.toString() + " s (" + (Kernel.now() / MS).toString() + " ms)");
    println("netdemo: address " + ipString(net.ip) + "/" + net.prefixLen.toString() + " gateway " + ipString(net.gateway) + " dns " + ipString(net.dns));
    const target = this.pingTo != 0 ? this.pingTo : net.gateway;
    if (target != 0) net.ping(target, new Pinged());
    if (this.name.length > 0) net.resolve(this.name, (this.resolved = new Resolved(net.dns)));
    if (!net.bind(7, new UdpEcho())) Kernel.fail("udp port 7 is taken");
    println("netdemo: ready: answering pings, udp echo on port 7");
    if (this.runS > 0) Kernel.after(this.runS * SEC, new Stop());
  }
}

export function main(): i32 {
  const app = new NetDemo();
  Net.up(app);
  let code = Kernel.run();
  const net = app.net;
  if (net != null) {
    net.printCounters();
    println("netdemo: packet buffers in use " + net.stack.pool.inUse.toString());
  }
  if (code == 0 && app.resolved.failed) code = 3;
  println(code == 0 ? "netdemo: ok" : "netdemo: FAILED");
  return code;
}
