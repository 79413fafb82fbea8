// The level-1 app API (kernel/app/) from the other end, for the Node tests
// (tests/app-node.test.ts). Roles:
//   role=client peer=<ip> bytes=<n> conns=<k> udp=<m> [qlimit=<b>] [refused=<port>] [reset=<port>] [static=1]
//     k TCP connections to peer:7 each send n pattern bytes, written until
//     the output queue (bound qlimit) refuses, resumed on onWritable, and
//     check every byte of the echo (static=1: from an image of the stream
//     written once, 100 bytes copied with `write` and 400,000 by reference
//     with `writeStatic` in turn, so references wait in the queue with
//     copied bytes behind them); m UDP datagrams to peer:7 checked the
//     same way; a connection to `refused` must end Refused, one to `reset`
//     (a server that aborts) must end Reset.
//   role=server: a port-9 service that aborts each connection at its first
//     byte (the peer sees a RST).
//   role=watch ups=<u>: prints each onUp/onDown; exits after the u-th onUp.
// Prints name=value lines; exit 0 when everything checked out.
import { Net, App, Service, Handler, Connection, DatagramHandler, UdpPort, Bytes, Kernel, args, println, TcpError, tcpErrorName, ipString, Task, SEC } from "uniwasm";
import { outQueueMemory } from "uniwasm/kernel/app/outqueue";

const CHUNK: u32 = 16384;
const chunk = new Uint8Array(CHUNK);

function pattern(off: u64): u8 {
  return <u8>((off % 251) ^ ((off >> 16) & 255));
}

class Report {
  tcpOk: u32 = 0;
  tcpBad: u32 = 0;
  udpOk: u32 = 0;
  refusedWrites: u64 = 0;
  expectedDone: u32 = 0;
  done: u32 = 0;
  finish(what: string, ok: bool): void {
    if (!ok) println("FAIL " + what);
    this.done++;
    if (ok) this.tcpOk++;
    else this.tcpBad++;
    if (this.done == this.expectedDone) Kernel.after(100 * 1000000, new Summary(this));
  }
}

class Summary extends Task {
  constructor(readonly r: Report) { super("summary"); }
  run(): void {
    const r = this.r;
    println("tcp_ok=" + r.tcpOk.toString());
    println("tcp_bad=" + r.tcpBad.toString());
    println("udp_ok=" + r.udpOk.toString());
    println("refused_writes=" + r.refusedWrites.toString());
    println("queue_memory=" + outQueueMemory().toString());
    Kernel.exit(r.tcpBad == 0 ? 0 : 1);
  }
}

/** Sends n pattern bytes, checks they come back. */
class EchoCheck extends Handler {
  sent: u64 = 0;
  got: u64 = 0;
  bad: u64 = 0;
  /** static=1: the stream, written once and never again */
  image: usize = 0;
  piece: u32 = 0;
  view: Bytes = new Bytes();
  constructor(readonly r: Report, readonly n: u64, readonly qlimit: u32, byRef: bool) {
    super();
    if (byRef) {
      this.image = heap.alloc(<usize>n);
      for (let i: u64 = 0; i < n; i++) store<u8>(this.image + <usize>i, pattern(i));
    }
  }
  onConnected(c: Connection): void {
    c.queueLimit = this.qlimit;
    this.pump(c);
  }
  onWritable(c: Connection): void { this.pump(c); }
  pump(c: Connection): void {
    while (this.image != 0 && this.sent < this.n) {
      const byRef = (this.piece & 1) == 1;
      const k = <u32>min<u64>(byRef ? 400000 : 100, this.n - this.sent);
      const at = this.image + <usize>this.sent;
      this.view.ptr = at;
      this.view.length = k;
      if (!(byRef ? c.writeStatic(at, k) : c.write(this.view))) {
        this.r.refusedWrites++;
        return;
      }
      this.sent += k;
      this.piece++;
    }
    while (this.sent < this.n) {
      const k = <u32>min<u64>(CHUNK, this.n - this.sent);
      for (let i: u32 = 0; i < k; i++) chunk[i] = pattern(this.sent + i);
      if (!c.write(Bytes.of(chunk).slice(0, k))) {
        this.r.refusedWrites++;
        return;
      }
      this.sent += k;
    }
    c.end();
  }
  onData(c: Connection, d: Bytes): u32 {
    for (let i: u32 = 0; i < d.length; i++) if (d.at(i) != pattern(this.got + i)) this.bad++;
    this.got += d.length;
    return d.length;
  }
  onClosed(c: Connection, e: TcpError): void {
    this.r.finish("echo: got " + this.got.toString() + " of " + this.n.toString() + ", " + this.bad.toString() + " wrong, " + tcpErrorName(e),
      e == TcpError.None && this.got == this.n && this.bad == 0);
  }
}

/** A connection that must end with `want`. */
class ExpectEnd extends Handler {
  constructor(readonly r: Report, readonly want: TcpError) { super(); }
  onConnected(c: Connection): void { c.write("hello\n"); }
  onClosed(c: Connection, e: TcpError): void {
    println("closed_" + tcpErrorName(this.want) + "=" + tcpErrorName(e));
    this.r.finish("expected " + tcpErrorName(this.want) + ", got " + tcpErrorName(e), e == this.want);
  }
}

/** Ping-pong: each echoed datagram sends the next, up to `count`. */
class UdpCheck extends DatagramHandler {
  constructor(readonly r: Report, readonly count: u32) { super(); }
  onDatagram(port: UdpPort, data: Bytes, ip: u32, fromPort: u32): void {
    if (!data.equals("datagram " + this.r.udpOk.toString())) return;
    if (++this.r.udpOk < this.count) port.sendTo(ip, fromPort, "datagram " + this.r.udpOk.toString());
  }
}

class Client extends App {
  r: Report = new Report();
  // Read in main, before the network: a bad one ends the app before it runs.
  peer: u32 = args.ip("peer");
  conns: u32 = args.u32("conns", 1);
  n: u64 = args.u64("bytes", 100000);
  ql: u32 = args.u32("qlimit", 65536);
  refused: u32 = args.u32("refused", 0);
  reset: u32 = args.u32("reset", 0);
  udp: u32 = args.u32("udp", 0);
  byRef: bool = args.bool("static", false);
  onUp(net: Net): void {
    const peer = this.peer, conns = this.conns, n = this.n, ql = this.ql, refused = this.refused, reset = this.reset;
    this.r.expectedDone = conns + (refused ? 1 : 0) + (reset ? 1 : 0);
    for (let i: u32 = 0; i < conns; i++) if (!net.connect(peer, 7, new EchoCheck(this.r, n, ql, this.byRef))) Kernel.fail("connect");
    if (refused) net.connect(peer, refused, new ExpectEnd(this.r, TcpError.Refused));
    if (reset) net.connect(peer, reset, new ExpectEnd(this.r, TcpError.Reset));
    const u = net.bind(5007, new UdpCheck(this.r, this.udp))!;
    if (this.udp > 0) u.sendTo(peer, 7, "datagram 0");
  }
}

class Aborter extends Handler {
  onData(c: Connection, d: Bytes): u32 {
    c.abort();
    return d.length;
  }
  onClosed(c: Connection, e: TcpError): void { println("server_closed=" + tcpErrorName(e)); }
}
class AbortService extends Service {
  accept(c: Connection): Handler | null { return new Aborter(); }
}
class Server extends App {
  onUp(net: Net): void {
    net.serve(9, new AbortService());
    println("server: up " + net.describe());
  }
}

class Watch extends App {
  ups: u32 = 0;
  onUp(net: Net): void {
    println("up " + ipString(net.ip) + " at " + (Kernel.now() / SEC).toString() + " s");
    if (++this.ups == args.u32("ups", 1)) Kernel.exit(0);
  }
  onDown(reason: string): void {
    println("down " + reason + " at " + (Kernel.now() / SEC).toString() + " s");
  }
}

export function main(): i32 {
  const role = args.oneOf("role", ["client", "server", "watch"], "client");
  if (Kernel.exiting) return Kernel.run();
  if (role == "client") Net.up(new Client());
  else if (role == "server") Net.up(new Server());
  else Net.up(new Watch());
  return Kernel.run();
}
