// One kernel of the slow-client test (tests/tcp-memory.test.ts): what a few
// hundred clients that trickle never-finished requests cost a server, and
// whether a new client is still served at once.
//
// `role=server`: a line server on port 80 that reads each connection's bytes
// as they come (at most 256 bytes of request, kept by the app) and answers
// a request that ends in an empty line ("\r\n\r\n") with a 200 response,
// then closes. It reports, when it answers its first request, the TCP
// stack's buffer memory and connection count (`served_mem`, `served_conns`)
// and the kernel heap in use per open connection (`served_heap_per_conn`).
// `mem=<bytes>`: the stack's memory limit; `buf=<bytes>`: each ring's most;
// `lazy=<n>`: leave the bytes in TCP's receive ring until n are there (so
// the slow requests are held by the stack, not the app); `backlog=<n>`: the
// listener's SYN backlog (beyond it, SYN cookies answer). Prints
// `listening=80` once it listens.
//
// `role=client peer=<ip> slow=<k>`: opens k connections that each send one
// byte of a request every `every_ms` and never finish it; once all are
// established and have trickled for `trickle_ms`, opens one more connection,
// sends a whole request and reports how long the answer took
// (`fast_ms`, from connect to the response's last byte), and how many of the
// slow connections' bytes the server had acknowledged (`slow_sent`,
// `slow_acked`).
import { println } from "../../../kernel/console";
import { clock_ns } from "../../../kernel/hal";
import { packetPool } from "../../../kernel/mem/pktbuf";
import { Scheduler, Task, MS } from "../../../kernel/sched/index";
import { firstNetDevice, netUpError } from "../../../drivers/virtio/index";
import { NetStack, parseIp, parsedIp, parseNetConfig, applyStatic } from "../../../kernel/net/index";
import { TcpStack, TcpConfig, TcpHandler, TcpListener, TcpSocket, TcpError, printTcpCounters, tcpErrorName } from "../../../kernel/net/tcp/index";
import { HeapUsage, heapUsage } from "../../../kernel/mem/heap";
import { out, num, arg, commandLine } from "../common/report";

const REQ = "GET /index.html HTTP/1.1\r\nHost: server\r\nUser-Agent: slow\r\n\r\n";
const RESP = "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok";

let sched!: Scheduler;
let stack!: TcpStack;
const scratch = memory.data(4096);

// ---- server ----

let served: u32 = 0;
let servedAt: u64 = 0;
/** The connection that was served has closed (our FIN and the client's acknowledged both ways). */
let servedClosed: bool = false;
let lazy: u32 = 0;
const usage = new HeapUsage();
let heapBefore: u64 = 0;

/** Bytes of the kernel's heap in use after a full collection (GC objects and manual blocks). */
function heapInUse(): u64 {
  __collect();
  return heapUsage(usage).usedBytes;
}

class ServerConn extends TcpHandler {
  req: usize = heap.alloc(256);
  len: u32 = 0;
  answered: bool = false;
  readable(s: TcpSocket): void {
    if (s.readable < lazy && !s.peerClosed) return;
    for (;;) {
      const n = s.recv(scratch, 4096);
      if (n == -1) { s.close(); return; }
      if (n <= 0) return;
      for (let i = 0; i < n; i++) {
        if (this.len < 256) store<u8>(this.req + this.len++, load<u8>(scratch + i));
      }
      if (this.len >= 4 && load<u32>(this.req + this.len - 4) == 0x0a0d0a0d) {
        this.answered = true;
        if (served++ == 0) {
          servedAt = clock_ns();
          num("served_mem", stack.memUsed);
          num("served_conns", stack.connections);
          // Everything the open connections cost, TCP and this app (a 256-byte request buffer and its handler) together.
          num("served_heap_per_conn", (heapInUse() - heapBefore) / stack.connections);
        }
        const r = String.UTF8.encode(RESP);
        s.send(changetype<usize>(r), <u32>r.byteLength);
        s.close();
        return;
      }
    }
  }
  closed(s: TcpSocket): void {
    if (this.answered) servedClosed = true;
    this.free();
  }
  error(s: TcpSocket, e: TcpError): void { this.free(); }
  free(): void {
    if (this.req != 0) heap.free(this.req);
    this.req = 0;
  }
}

class Acceptor extends TcpHandler {
  accepted(l: TcpListener, s: TcpSocket): void {
    s.handler = new ServerConn();
  }
}

// ---- client ----

let established: u32 = 0;
let slowErrors: u32 = 0;

class SlowClient extends TcpHandler {
  sent: u32 = 0;
  sock: TcpSocket | null = null;
  connected(s: TcpSocket): void { established++; }
  error(s: TcpSocket, e: TcpError): void { slowErrors++; println("slow error " + tcpErrorName(e)); }
  /** One more byte of the request, never its end. */
  drip(): void {
    const s = this.sock;
    if (!s || this.sent >= <u32>REQ.length - 2) return;
    store<u8>(scratch, <u8>REQ.charCodeAt(this.sent));
    if (s.send(scratch, 1) == 1) this.sent++;
  }
}

let fastStart: u64 = 0;
let fastDone: u64 = 0;
let fastGot: u32 = 0;

class FastClient extends TcpHandler {
  connected(s: TcpSocket): void {
    const r = String.UTF8.encode(REQ);
    s.send(changetype<usize>(r), <u32>r.byteLength);
  }
  readable(s: TcpSocket): void {
    for (;;) {
      const n = s.recv(scratch, 4096);
      if (n == -1) { s.close(); return; }
      if (n <= 0) return;
      fastGot += <u32>n;
      if (fastGot >= <u32>RESP.length && fastDone == 0) fastDone = clock_ns();
    }
  }
  error(s: TcpSocket, e: TcpError): void { println("fast error " + tcpErrorName(e)); }
}

class Driver extends Task {
  slow: Array<SlowClient> = new Array<SlowClient>();
  phase: i32 = 0;
  trickleUntil: u64 = 0;
  constructor(readonly peer: u32, readonly cfg: TcpConfig, readonly count: i32, readonly every: u64, readonly trickle: u64, readonly giveUpAt: u64) {
    super("driver");
  }
  run(): void {
    const now = clock_ns();
    if (this.phase == 0) {
      for (let i = 0; i < this.count; i++) {
        const c = new SlowClient();
        c.sock = stack.connect(this.peer, 80, c, this.cfg);
        this.slow.push(c);
      }
      this.phase = 1;
    } else if (this.phase == 1) {
      for (let i = 0; i < this.slow.length; i++) this.slow[i].drip();
      if (established == <u32>this.count && this.trickleUntil == 0) this.trickleUntil = now + this.trickle;
      if (this.trickleUntil != 0 && now >= this.trickleUntil) {
        fastStart = now;
        stack.connect(this.peer, 80, new FastClient(), this.cfg);
        this.phase = 2;
      }
    } else {
      // (No more drips: what was sent is all in by the time the fast client is served.)
      if (fastDone != 0 || now >= this.giveUpAt) {
        this.report();
        sched.stop();
        return;
      }
    }
    if (now >= this.giveUpAt && this.phase < 2) {
      out("timeout", "slow clients not established");
      this.report();
      sched.stop();
      return;
    }
    this.sleep(this.phase == 2 ? MS : this.every);
  }
  report(): void {
    let sent: u64 = 0;
    let acked: u64 = 0;
    for (let i = 0; i < this.slow.length; i++) {
      const c = this.slow[i];
      sent += c.sent;
      const s = c.sock;
      if (s) acked += <u64>(s.conn.sndUna - s.conn.iss - 1);
    }
    num("slow_established", established);
    num("slow_errors", slowErrors);
    num("slow_sent", sent);
    num("slow_acked", acked);
    if (fastDone != 0) num("fast_ms", (fastDone - fastStart) / MS);
    else out("fast", "not served");
    printTcpCounters(stack.counters);
  }
}

class ServerWatch extends Task {
  constructor(readonly until: u64) { super("server-watch"); }
  run(): void {
    // Once a request was answered, it ends when that connection has closed (so the answer is
    // known to have arrived, not just queued for a NIC the machine's end would cut off), or 10 s on.
    const now = clock_ns();
    if (now >= this.until || (served > 0 && (servedClosed || now >= servedAt + 10_000 * MS))) {
      num("served", served);
      num("conns_end", stack.connections);
      printTcpCounters(stack.counters);
      sched.stop();
      return;
    }
    this.sleep(10 * MS);
  }
}

export function main(): i32 {
  sched = new Scheduler(null, 4096);
  const pool = packetPool(1024);
  const dev = firstNetDevice(sched, pool);
  if (!dev) { out("error", netUpError); return 2; }
  const net = new NetStack(dev, sched);
  const cfg = parseNetConfig(commandLine());
  if (cfg.error != "") { out("error", cfg.error); return 2; }
  applyStatic(net, cfg);
  stack = net.tcp!;
  stack.memLimit = U64.parseInt(arg("mem", "4194304"));
  const tc = new TcpConfig();
  const buf = <u32>I32.parseInt(arg("buf", "65536"));
  tc.sndBuf = buf;
  tc.rcvBuf = buf;
  const deadline = <u64>I32.parseInt(arg("deadline_ms", "30000")) * MS;
  if (arg("role", "client") == "server") {
    lazy = <u32>I32.parseInt(arg("lazy", "0"));
    if (!stack.listen(80, new Acceptor(), <u32>I32.parseInt(arg("backlog", "1024")), tc)) { out("error", "listen failed"); return 1; }
    num("listening", 80);
    heapBefore = heapInUse();
    sched.spawn(new ServerWatch(deadline));
  } else {
    parseIp(arg("peer", "10.0.0.2"));
    const every = <u64>I32.parseInt(arg("every_ms", "100")) * MS;
    const trickle = <u64>I32.parseInt(arg("trickle_ms", "2000")) * MS;
    sched.spawn(new Driver(parsedIp, tc, I32.parseInt(arg("slow", "200")), every, trickle, deadline));
  }
  sched.run();
  return 0;
}
