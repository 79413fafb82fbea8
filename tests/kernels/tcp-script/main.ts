// tcp-script: one TCP stack driven by a script of literal segments, for the
// state-machine tests (tests/tcp-state.test.ts). The command line is a list
// of steps separated by ';':
//   listen PORT | connect PORT LPORT | in HEX (a segment from 10.0.0.2) |
//   send N | close | abort | read [N] | readtext | wait MS | state | counters | mem | opt NAME VALUE
// (opt echo 1: the app sends back what it reads, from its readable handler.)
// After each `in` the scheduler runs what is due at that instant, as the
// kernel's loop does after a frame (a quick ACK deferred past the app's turn).
// Every segment the stack sends is printed as one line:
//   > FLAGS seq=S ack=A win=W len=L [mss=M ws=W sackok ts=V,E sack=L-R,...]
// with FLAGS as tcpdump writes them (S F R P and '.' for ACK). The stack's
// ISN is fixed at 1000 and its timestamp clock starts at 0 (FixedIsn), so output is exact.
import { Scheduler, Task, MS } from "../../../kernel/sched/index";
import { print, println, printU64 } from "../../../kernel/console";
import { cmdline } from "../../../kernel/hal";
import { unhex } from "../common/hex";
import { TcpStack, TcpHandler, TcpSocket, TcpListener, TcpConfig, TcpError,
  IsnGenerator, tcpStateName, tcpErrorName, printTcpCounters } from "../../../kernel/net/tcp/index";
import { IpService, IpProtocol } from "../../../kernel/net/ip-protocol";
import { TcpRepr, TCP_SYN, TCP_FIN, TCP_RST, TCP_PSH, TCP_ACK } from "../../../kernel/net/wire/tcp";
import { WireError, wireErrorName } from "../../../kernel/net/wire/error";

const US_IP: u32 = 0x0a000001;
const PEER_IP: u32 = 0x0a000002;

const seg = new TcpRepr();
/** The IP layer under the stack: prints what it sends; the script's segments go straight to `input`. */
class Capture extends IpService {
  register(protocol: u32, p: IpProtocol): void {}
  output(protocol: u32, src: u32, dst: u32, ptr: usize, len: u32, data: usize, dataLen: u32, dontFrag: bool): i32 {
    const e = seg.parse(ptr, len, src, dst, true);
    if (e != WireError.Ok) { println("> unparsable " + wireErrorName(e)); return 0; }
    let f = "";
    if (seg.has(TCP_SYN)) f += "S";
    if (seg.has(TCP_FIN)) f += "F";
    if (seg.has(TCP_RST)) f += "R";
    if (seg.has(TCP_PSH)) f += "P";
    if (seg.has(TCP_ACK)) f += ".";
    let s = "> " + f + " seq=" + seg.seq.toString() + " ack=" + seg.ack.toString() + " win=" + seg.window.toString() + " len=" + seg.payloadLen.toString();
    if (seg.mss) s += " mss=" + seg.mss.toString();
    if (seg.wscale >= 0) s += " ws=" + seg.wscale.toString();
    if (seg.sackPermitted) s += " sackok";
    if (seg.hasTimestamp) s += " ts=" + seg.tsVal.toString() + "," + seg.tsEcr.toString();
    if (seg.sackCount > 0) {
      s += " sack=";
      for (let i = 0; i < seg.sackCount; i++) s += (i ? "," : "") + seg.sackLeft[i].toString() + "-" + seg.sackRight[i].toString();
    }
    println(s);
    return 0;
  }
  mtuFor(dst: u32): u32 { return 1480; }
  sourceFor(dst: u32): u32 { return US_IP; }
}

/** Every ISN is 1000 and the timestamp clock starts at 0: RFC 6528 bypassed, for exact output. */
class FixedIsn extends IsnGenerator {
  isn(lip: u32, lport: u32, rip: u32, rport: u32, nowNs: u64): u32 { return 1000; }
  origin(): u32 { return 0; }
}

let sock: TcpSocket | null = null;
/** opt echo 1: the app answers what it reads with the same bytes, from its readable handler. */
let echo = false;
const echoBuf = heap.alloc(65536);
class App extends TcpHandler {
  accepted(l: TcpListener, s: TcpSocket): void { println("event accepted"); sock = s; }
  connected(s: TcpSocket): void { println("event connected"); }
  readable(s: TcpSocket): void {
    println("event readable " + s.readable.toString() + (s.peerClosed ? " fin" : ""));
    if (!echo) return;
    const n = s.recv(echoBuf, 65536);
    if (n > 0) s.send(echoBuf, <u32>n);
  }
  writable(s: TcpSocket): void { println("event writable"); }
  closed(s: TcpSocket): void { println("event closed"); }
  error(s: TcpSocket, e: TcpError): void { println("event error " + tcpErrorName(e)); }
}

class Stopper extends Task {
  run(): void { this.sched.stop(); }
}


export function main(): i32 {
  const sched = new Scheduler();
  const stack = new TcpStack(new Capture(), sched, 32 * 1024 * 1024, new FixedIsn());
  const cfg = new TcpConfig();
  cfg.timestamps = false;
  cfg.sndBuf = 8192;
  cfg.rcvBuf = 8192;
  cfg.timeWaitNs = 2000 * MS;
  cfg.finWait2Ns = 5000 * MS;
  const app = new App();
  const stopper = new Stopper("stop");
  const buf = heap.alloc(65536);
  const line = heap.alloc(65536);
  const text = String.UTF8.decodeUnsafe(line, cmdline(line, 65536));
  const steps = text.split(";");
  let listener: TcpListener | null = null;
  for (let i = 0; i < steps.length; i++) {
    const w = steps[i].trim().split(" ");
    const cmd = w[0];
    if (cmd == "") continue;
    println("# " + steps[i].trim().substr(0, 60));
    if (cmd == "opt") {
      const v = U64.parseInt(w[2]);
      if (w[1] == "ts") cfg.timestamps = v != 0;
      else if (w[1] == "sack") cfg.sack = v != 0;
      else if (w[1] == "ws") cfg.windowScale = v != 0;
      else if (w[1] == "rcvbuf") cfg.rcvBuf = <u32>v;
      else if (w[1] == "sndbuf") cfg.sndBuf = <u32>v;
      else if (w[1] == "nodelay") cfg.noDelay = v != 0;
      else if (w[1] == "backlog") { if (listener) { listener!.synBacklog = <u32>v; } }
      else if (w[1] == "quickacks") cfg.quickAcks = <u32>v;
      else if (w[1] == "echo") echo = v != 0;
      else if (w[1] == "keepalive") { cfg.keepAlive = v != 0; cfg.keepIdleNs = 10000 * MS; cfg.keepIntvlNs = 1000 * MS; cfg.keepCount = 3; }
      else if (w[1] == "challenge") stack.challengeAckLimit = <u32>v;
      else if (w[1] == "memlimit") stack.memLimit = v;
    } else if (cmd == "listen") {
      listener = stack.listen(<u32>U64.parseInt(w[1]), app, 4, cfg);
    } else if (cmd == "connect") {
      sock = stack.connect(PEER_IP, <u32>U64.parseInt(w[1]), app, cfg, 0, <u32>U64.parseInt(w[2]));
    } else if (cmd == "in") {
      stack.input(PEER_IP, US_IP, buf, unhex(w[1], buf));
      // The kernel's loop turns after a frame: what is due now (a deferred quick ACK) runs.
      sched.after(stopper, 0);
      sched.run();
    } else if (cmd == "send") {
      const n = <u32>U64.parseInt(w[1]);
      for (let k: u32 = 0; k < n; k++) store<u8>(buf + k, <u8>(97 + k % 26));
      if (sock) println("sent " + sock!.send(buf, n).toString());
    } else if (cmd == "read") {
      if (sock) println("read " + sock!.recv(buf, w.length > 1 ? <u32>U64.parseInt(w[1]) : 65536).toString());
    } else if (cmd == "readtext") {
      if (sock) {
        const n = sock!.recv(buf, 65536);
        println("text " + (n > 0 ? String.UTF8.decodeUnsafe(buf, <usize>n) : n.toString()));
      }
    } else if (cmd == "close") {
      if (sock) sock!.close();
    } else if (cmd == "abort") {
      if (sock) sock!.abort();
    } else if (cmd == "wait") {
      sched.after(stopper, U64.parseInt(w[1]) * MS);
      sched.run();
    } else if (cmd == "state") {
      println("state " + (sock ? tcpStateName(sock!.state) : "none") + " conns=" + stack.connections.toString());
    } else if (cmd == "mem") {
      println("mem " + stack.memUsed.toString());
    } else if (cmd == "counters") {
      printTcpCounters(stack.counters);
    }
  }
  return 0;
}
