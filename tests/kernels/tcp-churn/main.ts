// tcp-churn: connection churn against one TCP stack, to show that memory
// comes back. Two stacks in one kernel over the in-memory link; `par`
// clients at a time each connect, send a 16-byte request, read a 612-byte
// answer and close when the server closes after answering (the server's
// side goes through TIME-WAIT). After the first `warm` connections and again
// after all `conns`, the kernel waits out TIME-WAIT, runs a full collection
// and reports the heap (kernel/mem/heap.ts) and both stacks' buffer memory,
// so a test can compare the two. Used by tests/tcp-churn.test.ts.
import { Scheduler, Task, MS } from "../../../kernel/sched/index";
import { print, println, printU64 } from "../../../kernel/console";
import { cmdlineValue } from "../../../kernel/cmdline";
import { HeapUsage, heapUsage } from "../../../kernel/mem/heap";
import { GC_INTERVAL_NS } from "../../../kernel/mem/gc";
import { TcpStack, TcpHandler, TcpSocket, TcpListener, TcpConfig, TcpError, Link, LinkConfig, tcpErrorName } from "../../../kernel/net/tcp/index";

const A: u32 = 0x0a000001;
const B: u32 = 0x0a000002;
const REQUEST: u32 = 16;
const ANSWER: u32 = 612;

function arg(k: string, d: u64): u64 {
  const v = cmdlineValue(k);
  return v != null ? U64.parseInt(v) : d;
}
function kv(k: string, v: u64): void { print(k); print("="); printU64(v); println(""); }

const CONNS: u64 = arg("conns", 100000);
const WARM: u64 = arg("warm", 1000);
const PAR: u64 = arg("par", 50);
const TW_MS: u64 = arg("tw_ms", 200);
const buf = heap.alloc(4096);

let started: u64 = 0;
let finished: u64 = 0;
let errors: u64 = 0;
let badAnswers: u64 = 0;
let peakOpen: u64 = 0;

class Server extends TcpHandler {
  got: u32 = 0;
  accepted(l: TcpListener, s: TcpSocket): void { s.handler = new Server(); }
  readable(s: TcpSocket): void {
    for (;;) {
      const n = s.recv(buf, 4096);
      if (n <= 0) break;
      this.got += <u32>n;
    }
    if (this.got >= REQUEST && this.got < u32.MAX_VALUE) {
      this.got = u32.MAX_VALUE; // answered
      memory.fill(buf, 0x61, ANSWER);
      if (s.send(buf, ANSWER) != <i32>ANSWER) badAnswers++;
      s.close();
    }
  }
  error(s: TcpSocket, e: TcpError): void { errors++; print("server error "); println(tcpErrorName(e)); }
}

class Client extends TcpHandler {
  got: u32 = 0;
  constructor(readonly driver: Driver) { super(); }
  connected(s: TcpSocket): void {
    memory.fill(buf, 0x71, REQUEST);
    s.send(buf, REQUEST);
  }
  readable(s: TcpSocket): void {
    for (;;) {
      const n = s.recv(buf, 4096);
      if (n == -1) { s.close(); return; }
      if (n <= 0) return;
      this.got += <u32>n;
    }
  }
  closed(s: TcpSocket): void {
    if (this.got != ANSWER) badAnswers++;
    finished++;
    this.driver.more();
  }
  error(s: TcpSocket, e: TcpError): void { errors++; finished++; print("client error "); println(tcpErrorName(e)); this.driver.more(); }
}

class Driver extends Task {
  phase: i32 = 0;
  limit: u64 = 0;
  readonly usage: HeapUsage = new HeapUsage();
  constructor(readonly loop: Scheduler, readonly client: TcpStack, readonly server: TcpStack, readonly cfg: TcpConfig) { super("churn"); }
  /** Starts connections while fewer than `par` are open and the phase's limit is not reached. */
  more(): void {
    const open = <u64>(this.client.connections + this.server.connections);
    if (open > peakOpen) peakOpen = open;
    while (started < this.limit && started - finished < PAR) {
      started++;
      if (!this.client.connect(B, 80, new Client(this), this.cfg)) { errors++; finished++; println("connect failed"); }
    }
    if (finished == this.limit) this.loop.wake(this);
  }
  run(): void {
    if (this.phase == 0) { this.phase = 1; this.limit = WARM; this.more(); return; }
    if (finished < this.limit) return; // woken early
    if (this.phase == 1) {
      // What the connections lingering in TIME-WAIT hold now (compared with "warm", after they ended).
      __collect();
      heapUsage(this.usage);
      print("lingering tw="); printU64(this.client.timeWaiting + this.server.timeWaiting);
      print(" tw_bytes="); printU64(this.client.timeWaitBytes + this.server.timeWaitBytes);
      print(" heap_used="); printU64(this.usage.usedBytes); println("");
    }
    if (this.phase == 1 || this.phase == 3) {
      this.phase++;
      this.sleep(TW_MS * MS * 3); // every TIME-WAIT over
      return;
    }
    __collect();
    heapUsage(this.usage);
    const tag = this.phase == 2 ? "warm" : "end";
    print(tag); print(" conns="); printU64(finished); print(" heap_used="); printU64(this.usage.usedBytes);
    print(" heap_blocks="); printU64(this.usage.usedBlocks); print(" linear="); printU64(this.usage.linearBytes);
    print(" valid="); printU64(this.usage.valid ? 1 : 0);
    print(" tcp_mem_client="); printU64(this.client.memUsed); print(" tcp_mem_server="); printU64(this.server.memUsed);
    print(" open_client="); printU64(this.client.connections); print(" open_server="); printU64(this.server.connections);
    print(" peak_open="); printU64(peakOpen); println("");
    if (this.phase == 2) { this.phase = 3; this.limit = CONNS; this.more(); return; }
    kv("tw_evicted", this.client.counters.timeWaitEvicted + this.server.counters.timeWaitEvicted);
    kv("errors", errors);
    kv("bad_answers", badAnswers);
    this.loop.stop();
  }
}

export function main(): i32 {
  const sched = new Scheduler(null, 4096);
  // 100,000 connections' garbage is collected as the loop runs (what it keeps hangs off the Driver task)
  sched.gc.intervalNs = GC_INTERVAL_NS;
  const lc = new LinkConfig();
  lc.rateBps = 1_000_000_000;
  lc.delayNs = 100_000;
  lc.seed = arg("seed", 1);
  const link = new Link(sched, lc, 8192);
  const client = new TcpStack(link.end(A), sched, 64 * 1024 * 1024);
  const server = new TcpStack(link.end(B), sched, 64 * 1024 * 1024);
  const cfg = new TcpConfig();
  cfg.timeWaitNs = TW_MS * MS;
  const twMax = arg("twmax", 0);
  if (twMax > 0) { client.timeWaitMax = <u32>twMax; server.timeWaitMax = <u32>twMax; }
  server.listen(80, new Server(), 1024, cfg);
  sched.spawn(new Driver(sched, client, server, cfg));
  sched.run();
  return errors == 0 && badAnswers == 0 ? 0 : 1;
}
