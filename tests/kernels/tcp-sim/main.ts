// tcp-sim: two TCP stacks in one kernel over a lossy in-memory link
// (kernel/net/tcp/pipe.ts): N connections each send `bytes` of a known pattern
// that the receiver checks byte by byte. Parameters are key=value words on the
// command line (loss/dup/reorder/corrupt in parts per million, rate in bit/s,
// delay_us one way, cc=newreno|cubic, trace=1 prints every cwnd decision).
// static=1 sends the stream as copied pieces and pieces by reference
// (sendStatic) in turn, of many sizes; static=2 sends all of it by reference;
// static=3 alternates references of 50 bytes with copied pieces of 10, so the
// reference table fills; refmax=N sets TcpConfig.sndRefMax. pause_ms=N: the receiver stops reading for N ms
// after each 64 KB it reads (its window closes: zero-window probes).
// Used by tests/tcp-sim.test.ts and bench/tcp.ts.
import { Scheduler, MS, SEC, Task } from "../../../kernel/sched/index";
import { print, println, printU64 } from "../../../kernel/console";
import { clock_ns } from "../../../kernel/hal";
import { cmdlineArg, cmdlineValue } from "../../../kernel/cmdline";
import { TcpStack, TcpHandler, TcpSocket, TcpListener, TcpConfig, TcpTracer, Tcb, TcpError, Link, LinkConfig,
  NewReno, Cubic, printTcpCounters, tcpStateName, tcpErrorName, SEND_REFS } from "../../../kernel/net/tcp/index";

const A: u32 = 0x0a000001;
const B: u32 = 0x0a000002;
/** A numeric setting from the command line. */
function arg(k: string, d: u64): u64 {
  const v = cmdlineValue(k);
  return v != null ? U64.parseInt(v) : d;
}
function kv(k: string, v: u64): void { print(k); print("="); printU64(v); println(""); }

const TOTAL: u64 = arg("bytes", 1000000);
const CONNS: i32 = <i32>arg("conns", 1);
const TRACE = arg("trace", 0) != 0;
const STATIC = <i32>arg("static", 0);
const PAUSE_NS = arg("pause_ms", 0) * MS;
const buf = heap.alloc(65536);
const rbuf = heap.alloc(65536);
@inline function pattern(conn: i32, off: u64): u8 { return <u8>((off * 7 + (off >> 11) + <u64>conn * 13) & 255); }
/** Piece sizes of static=1, in turn (odd pieces go by reference). */
const PIECES: StaticArray<u32> = [1, 1448, 7, 65536, 3000, 100, 20000, 2896, 1, 1];
// the sender's side, sampled after every send
let peakMemA: u64 = 0;
let maxRefs: i32 = 0;
let maxRefBytes: u32 = 0;
let slotRefusals: u64 = 0;
let senderStack: TcpStack | null = null;

let doneSenders = 0;
let doneReceivers = 0;
let badBytes: u64 = 0;
let gotBytes: u64 = 0;
let errors = 0;
let closedA = 0;
let lastDoneNs: u64 = 0;
let firstByteNs: u64 = 0;

class Sender extends TcpHandler {
  sent: u64 = 0;
  /** static modes: the whole stream, written once and never again (what sendStatic may point at) */
  image: usize = 0;
  piece: i32 = 0;
  constructor(public id: i32) {
    super();
    if (STATIC != 0) {
      this.image = heap.alloc(<usize>TOTAL);
      for (let i: u64 = 0; i < TOTAL; i++) store<u8>(this.image + <usize>i, pattern(id, i));
    }
  }
  connected(s: TcpSocket): void { this.pump(s); }
  writable(s: TcpSocket): void { this.pump(s); }
  pump(s: TcpSocket): void {
    while (this.sent < TOTAL) {
      const k = STATIC == 0 ? this.copy(s) : this.mixed(s);
      const mem = senderStack!.memUsed;
      if (mem > peakMemA) peakMemA = mem;
      const refs = s.conn.sndBuf.refCount;
      if (refs > maxRefs) maxRefs = refs;
      if (s.conn.sndBuf.refBytes > maxRefBytes) maxRefBytes = s.conn.sndBuf.refBytes;
      if (k <= 0) return;
      this.sent += <u64>k;
    }
    s.close();
  }
  copy(s: TcpSocket): i32 {
    const n = <u32>min<u64>(TOTAL - this.sent, 65536);
    for (let i: u32 = 0; i < n; i++) store<u8>(buf + i, pattern(this.id, this.sent + i));
    return s.send(buf, n);
  }
  mixed(s: TcpSocket): i32 {
    const p = this.piece;
    const byRef = STATIC == 2 || (p & 1) == 1;
    const size: u32 = STATIC == 2 ? 65536 : STATIC == 3 ? ((p & 1) ? 50 : 10) : unchecked(PIECES[p % PIECES.length]);
    const n = <u32>min<u64>(TOTAL - this.sent, <u64>size);
    const at = this.image + <usize>this.sent;
    const k = byRef ? s.sendStatic(at, n) : s.send(at, n);
    if (k == 0 && byRef && s.conn.sndBuf.refCount == SEND_REFS) slotRefusals++;
    // a piece goes whole before the next kind, so references and copies really alternate
    if (k > 0 && <u32>k == n) this.piece = p + 1;
    return k;
  }
  readable(s: TcpSocket): void {
    // the receiver closes after EOF: read its FIN
    for (;;) { const n = s.recv(rbuf, 65536); if (n <= 0) return; }
  }
  closed(s: TcpSocket): void { closedA++; doneSenders++; }
  error(s: TcpSocket, e: TcpError): void { errors++; print("sender error "); print(tcpErrorName(e)); print(" port="); printU64(s.localPort); print(" sent="); printU64(this.sent); print(" una="); printU64(s.conn.sndUna - s.conn.iss); print(" "); printU64(clock_ns()/MS); println(""); }
}
/** pause_ms: wakes a paused receiver. */
class Resume extends Task {
  constructor(public r: Receiver, public s: TcpSocket) { super("resume"); }
  run(): void { this.r.pausedUntil = 0; this.r.readable(this.s); }
}
let simSched: Scheduler | null = null;
class Receiver extends TcpHandler {
  got: u64 = 0;
  id: i32 = -1;
  pausedUntil: u64 = 0;
  sincePause: u64 = 0;
  accepted(l: TcpListener, s: TcpSocket): void {
    const r = new Receiver();
    r.id = <i32>(s.remotePort) ; // sender id is encoded in its port (see main)
    s.handler = r;
  }
  readable(s: TcpSocket): void {
    const id = <i32>(s.remotePort - 20000);
    for (;;) {
      if (this.pausedUntil != 0) return;
      if (PAUSE_NS > 0 && this.sincePause >= 65536) {
        this.sincePause = 0;
        this.pausedUntil = clock_ns() + PAUSE_NS;
        simSched!.after(new Resume(this, s), PAUSE_NS);
        return;
      }
      const n = s.recv(rbuf, 65536);
      if (n == -1) {
        s.close();
        if (this.got != TOTAL) { print("short "); printU64(this.got); println(""); }
        doneReceivers++;
        lastDoneNs = clock_ns();
        return;
      }
      if (n <= 0) return;
      if (firstByteNs == 0) firstByteNs = clock_ns();
      for (let i = 0; i < n; i++) if (load<u8>(rbuf + i) != pattern(id, this.got + <u64>i)) badBytes++;
      this.got += <u64>n;
      this.sincePause += <u64>n;
      gotBytes += <u64>n;
    }
  }
  error(s: TcpSocket, e: TcpError): void { errors++; print("receiver error "); println(tcpErrorName(e)); }
}
class Trace extends TcpTracer {
  cwnd(conn: Tcb, what: string, now: u64, cwnd: u32, ssthresh: u32, flight: u32, acked: u32): void {
    print("T "); print(what); print(" "); printU64(now); print(" "); printU64(cwnd); print(" ");
    printU64(ssthresh == u32.MAX_VALUE ? 0 : ssthresh); print(" "); printU64(flight); print(" "); printU64(acked);
    print(" "); printU64(conn.rtt.srttNs); print(" "); printU64(conn.mss); println("");
  }
}

export function main(): i32 {
  const sched = new Scheduler(null, 4096);
  simSched = sched;
  const lc = new LinkConfig();
  lc.lossPpm = <u32>arg("loss", 0);
  lc.dupPpm = <u32>arg("dup", 0);
  lc.reorderPpm = <u32>arg("reorder", 0);
  lc.corruptPpm = <u32>arg("corrupt", 0);
  lc.rateBps = arg("rate", 100_000_000);
  lc.delayNs = arg("delay_us", 10_000) * 1000;
  lc.queueBytes = <u32>arg("queue", 256 * 1024);
  lc.seed = arg("seed", 1);
  const link = new Link(sched, lc, 8192);
  const ea = link.end(A), eb = link.end(B);
  const sa = new TcpStack(ea, sched, 512 * 1024 * 1024), sb = new TcpStack(eb, sched, 512 * 1024 * 1024);
  senderStack = sa;
  const cfg = new TcpConfig();
  cfg.sndBuf = <u32>arg("sndbuf", 256 * 1024);
  cfg.rcvBuf = <u32>arg("rcvbuf", 256 * 1024);
  cfg.sndRefMax = <u32>arg("refmax", cfg.sndRefMax);
  cfg.timeWaitNs = arg("tw_ms", 1000) * MS;
  cfg.sack = arg("sack", 1) != 0;
  cfg.timestamps = arg("ts", 1) != 0;
  if (cmdlineArg("cc", "newreno") == "cubic") cfg.cc = new Cubic();
  sb.listen(80, new Receiver(), <u32>arg("backlog", 1024), cfg);
  for (let i = 0; i < CONNS; i++) {
    const s = sa.connect(B, 80, new Sender(i), cfg, 0, <u32>(20000 + i));
    if (!s) { println("connect failed"); return 1; }
    if (TRACE) s.tracer = new Trace();
  }
  sched.run();
  kv("done_senders", doneSenders);
  kv("done_receivers", doneReceivers);
  kv("bytes", gotBytes);
  kv("bad", badBytes);
  kv("errors", errors);
  kv("conns_a", sa.connections);
  kv("conns_b", sb.connections);
  kv("mem_a", sa.memUsed);
  kv("mem_b", sb.memUsed);
  kv("transfer_us", (lastDoneNs - firstByteNs) / 1000);
  kv("goodput_kbps", lastDoneNs > firstByteNs ? gotBytes * 8 * 1_000_000 / (lastDoneNs - firstByteNs) : 0);
  kv("peak_mem_a", peakMemA);
  kv("max_refs", maxRefs);
  kv("max_ref_bytes", maxRefBytes);
  kv("slot_refusals", slotRefusals);
  kv("link_lost", link.stats.lost);
  kv("link_dup", link.stats.duplicated);
  kv("link_reordered", link.stats.reordered);
  kv("link_corrupted", link.stats.corrupted);
  kv("link_queue_drops", link.stats.queueDrops);
  sa.dump(); sb.dump();
  println("-- A"); printTcpCounters(sa.counters);
  println("-- B"); printTcpCounters(sb.counters);
  return 0;
}
