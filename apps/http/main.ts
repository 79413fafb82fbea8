// http: a static-site server. The site is the folder baked into the image
// (`uniwasm image apps/http --files ./site`; this app's uniwasm.json names
// its own small site/ otherwise) and every response body is sent from there
// by reference (Connection.writeStatic), never copied into the connection. HTTP/1.1 (session.ts): keep-alive, pipelining, GET and HEAD,
// If-None-Match, single ranges, index.html for directories.
//
// Command line (all optional):
//   port=80  max_conns=1024  header_bytes=8192  header_count=100
//   header_timeout=10000 (ms: a started head must be complete by then: 408)
//   idle_timeout=5000 (ms: a keep-alive connection with nothing to do is closed)
//   log=1 (an access log line per request)  run=<s> (stop after s seconds)
// plus the network's ip=/gw=/dns= (DHCP otherwise). Counters at exit.

import { Net, App, Service, Handler, Connection, Bytes, Kernel, Task, Files, args, println, MS, SEC } from "uniwasm";
import { HttpConfig, HttpOutput, HttpSession, HttpStats } from "./session";

const stats = new HttpStats();
const cfg = new HttpConfig();
let port: u32 = 80;
let maxConns: u32 = 1024;
let active: u32 = 0;

/** A session's output: the connection, bodies by reference as far as TCP takes them now. */
class ConnectionOutput extends HttpOutput {
  private view: Bytes = new Bytes();
  constructor(readonly c: Connection) { super(); }

  room(): u32 {
    const s = this.c.sock;
    return s != null && this.c.queued == 0 ? s.staticWritable : 0;
  }

  write(p: usize, n: u32): void {
    this.view.ptr = p;
    this.view.length = n;
    if (!this.c.write(this.view)) this.c.abort(); // a head past the queue bound: the peer is not reading at all
  }

  writeStatic(p: usize, n: u32): void {
    // room() was free, so nothing waits in the queue and this is taken (by TCP, or as the queue's one reference)
    if (!this.c.writeStatic(p, n)) this.c.abort();
  }

  headRoom(): bool {
    return this.c.queueLimit - this.c.queued >= 2048;
  }

  wake(): void { this.c.requestWritable(); }

  close(): void { this.c.close(); }
}

class HttpHandler extends Handler {
  session: HttpSession | null = null;
  prev: HttpHandler | null = null;
  next: HttpHandler | null = null;

  onConnected(c: Connection): void {
    c.queueLimit = 16384; // heads and error answers; bodies go straight into TCP's buffer
    c.setNoDelay(true); // a head and its body are two writes: Nagle would hold the body for the head's ACK
    this.session = new HttpSession(new ConnectionOutput(c), cfg, stats, Kernel.now() / 1000);
    sessions.add(this);
  }

  onData(c: Connection, data: Bytes): u32 {
    return this.session!.input(data.ptr, data.length, Kernel.now() / 1000);
  }

  onWritable(c: Connection): void {
    this.session!.writable(Kernel.now() / 1000);
  }

  onEnd(c: Connection): void {
    this.session!.peerEnded(Kernel.now() / 1000);
  }

  onClosed(c: Connection, error: i32): void {
    sessions.remove(this);
    active--;
  }
}

class Site extends Service {
  accept(c: Connection): Handler | null {
    if (active >= maxConns) {
      stats.refused++;
      return null; // refused with a RST: the limit protects those already served
    }
    active++;
    return new HttpHandler();
  }
}

/** Every open session, for the time-outs. */
class Sessions extends Task {
  head: HttpHandler | null = null;
  constructor() { super("http-timeouts"); }

  add(h: HttpHandler): void {
    h.next = this.head;
    if (this.head) this.head!.prev = h;
    this.head = h;
  }

  remove(h: HttpHandler): void {
    if (h.prev) h.prev!.next = h.next;
    else if (this.head === h) this.head = h.next;
    if (h.next) h.next!.prev = h.prev;
    h.prev = null;
    h.next = null;
  }

  run(): void {
    const now = Kernel.now() / 1000;
    let h = this.head;
    while (h) {
      const next = h.next;
      h.session!.tick(now);
      h = next;
    }
    Kernel.after(100 * MS, this);
  }
}
const sessions = new Sessions();

class Stop extends Task {
  constructor() { super("http-run"); }
  run(): void { Kernel.exit(0); }
}

class HttpApp extends App {
  onUp(net: Net): void {
    if (!net.serve(port, new Site())) { Kernel.fail("port " + port.toString() + " is taken"); return; }
    println("http: " + net.describe() + ": port " + port.toString() + ", " + Files.count.toString() + " files (" + Files.blobBytes.toString() + " bytes)");
    if (Files.count == 0) println("http: warning: no files were baked in (uniwasm image apps/http --files <dir>): every request is 404");
  }
}

export function main(): i32 {
  port = args.u32("port", 80);
  maxConns = args.u32("max_conns", 1024);
  const l = cfg.limits;
  l.headerBytes = args.u32("header_bytes", l.headerBytes);
  l.headerCount = args.u32("header_count", l.headerCount);
  l.uriBytes = min(l.uriBytes, l.headerBytes);
  cfg.headerTimeoutUs = <u64>args.u32("header_timeout", 10000) * 1000;
  cfg.idleTimeoutUs = <u64>args.u32("idle_timeout", 5000) * 1000;
  cfg.log = args.bool("log", false);
  const run = args.u32("run", 0);
  if (Kernel.exiting) return Kernel.code; // a bad argument, already reported
  Net.up(new HttpApp());
  Kernel.after(100 * MS, sessions);
  if (run > 0) Kernel.after(<u64>run * SEC, new Stop());
  const code = Kernel.run();
  stats.print();
  return code;
}
