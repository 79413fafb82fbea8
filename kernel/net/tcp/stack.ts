// The TCP stack: demultiplexes segments to connections and listeners,
// answers what belongs to nobody with RSTs, owns the limits (total buffer
// memory, challenge-ACK rate) and dispatches events to the apps' handlers.
// It talks to the IP layer only through the seam in ip.ts, and to its
// connections and listeners only through the context they are given
// (TcpContext, ListenContext): they hold no reference to the stack.

import { clock_ns, mem_limit } from "../../hal";
import { print, println } from "../../console";
import { Scheduler } from "../../sched/loop";
import { WireError } from "../wire/error";
import { TcpRepr, TCP_SYN, TCP_FIN, TCP_RST, TCP_ACK } from "../wire/tcp";
import { IpService } from "../ip-protocol";
import { EphemeralPorts } from "../ports";
import { IP_PROTO_TCP } from "../wire/ipv4";
import { TcpOutput, TcpInput, TcpReceiver } from "./ip";
import { TcpConfig } from "./config";
import { TcpCounters } from "./counters";
import { IsnGenerator } from "./isn";
import { BufferPool } from "./bufpool";
import { seqGt, seqGe, seqLt } from "./seq";
import { Tcb, TcpState, TcpError, tcpStateName, EV_WRITABLE } from "./tcb";
import { TcpSocket, TcpSocketHandler } from "./socket";
import { TcpListener, TcpHandler, ListenContext } from "./listener";
import { segmentArrives, icmpErrorArrives } from "./input";
import { ackSeq, output } from "./output";
import { Task } from "../../sched/task";
import { TimeWaitTable, TimeWaitOwner, TIME_WAIT_RECORD_BYTES } from "./timewait";

const TX_BUF: u32 = 65536 + 256;
/** TIME-WAIT connections allowed at once by default: a sixty-fourth of the machine's memory in records, at least 16, at most 2^20. */
function defaultTimeWaitMax(): u32 {
  return <u32>max<u64>(16, min<u64>(mem_limit() / 64 / <u64>TIME_WAIT_RECORD_BYTES, 1 << 20));
}

export class TcpStack extends TcpInput {
  readonly out: TcpOutput;
  readonly sched: Scheduler;
  readonly counters: TcpCounters = new TcpCounters();
  /** Defaults for `listen` and `connect` without a config. */
  readonly defaults: TcpConfig = new TcpConfig();
  /** All connections' ring memory, within the stack's limit (bufpool.ts). */
  readonly pool: BufferPool;
  /** Challenge ACKs allowed per second, stack-wide (RFC 5961 7). */
  challengeAckLimit: u32 = 1000;
  /** Connections with a TCB in the table (every state but CLOSED, LISTEN and TIME-WAIT). */
  private tcbs: u32 = 0;
  /** Verify checksums on input (off when the device already did). */
  verifyChecksums: bool = true;
  /** ISNs, cookies and the clock origin (RFC 6528; a test kernel may give its own). */
  readonly isn: IsnGenerator;
  /** Origin of our timestamp clock (random, RFC 7323 5.4). */
  readonly tsOffset: u32;

  /** What its connections and listeners see of it (made in the constructor, which passes `this`). */
  private readonly ctx!: StackContext;
  private readonly table: Map<u64, Tcb> = new Map<u64, Tcb>();
  private readonly listeners: Map<u32, TcpListener> = new Map<u32, TcpListener>();
  private readonly rx: TcpRepr = new TcpRepr();
  private readonly ports: EphemeralPorts;
  /** The connection `connect` looks for a free port for (what `portInUse` checks against). */
  private probeSrc: u32 = 0;
  private probeDst: u32 = 0;
  private probePort: u32 = 0;
  private challengeWindow: u64 = 0;
  private challengeCount: u32 = 0;
  private memWaitHead: Tcb | null = null;
  /** Connections whose output waits for a packet buffer, first come first served (pktNext links them). */
  private pktWaitHead: Tcb | null = null;
  private pktWaitTail: Tcb | null = null;
  /** Runs their output once buffers come back (woken from `sendable`, which may be deep in a driver). */
  private readonly pktTask!: ResumeHeld;
  /**
   * Connections in TIME-WAIT, as compact records (timewait.ts: about 100
   * bytes each, no TCB, socket or timer of their own), for TIME-WAIT's whole
   * 60 s; at most `timeWaitMax` at once, past which the oldest ends early,
   * as Linux's tw_buckets do. The default gives them at most a sixty-fourth
   * of the machine's memory (mem_limit).
   */
  private readonly timeWait!: TimeWaitTable;
  /** A connection that entered TIME-WAIT during the segment being processed: retired into a record after it. */
  private retiring: Tcb | null = null;
  private evHead: Tcb | null = null;
  private evTail: Tcb | null = null;
  private dispatching: bool = false;

  /**
   * A stack on `ip`: it registers there for protocol 6 (one TCP stack per IP
   * layer). `isn`: the source of ISNs, cookie keys and the clock origin.
   */
  constructor(ip: IpService, sched: Scheduler, memLimit: u64 = 32 * 1024 * 1024, isn: IsnGenerator = new IsnGenerator()) {
    super();
    this.out = new TcpOutput(ip);
    this.sched = sched;
    this.pool = new BufferPool(memLimit);
    this.isn = isn;
    // Timestamps start at a random offset (RFC 7323 5.4); ports come from the IP layer's one allocator.
    this.tsOffset = isn.origin();
    this.ports = ip.ports;
    this.ctx = new StackContext(this, heap.alloc(TX_BUF));
    this.timeWait = new TimeWaitTable(new StackTimeWait(this), this.counters, sched, defaultTimeWaitMax());
    this.pktTask = new ResumeHeld(this);
    ip.register(IP_PROTO_TCP, new TcpReceiver(this, this.counters));
  }

  /** Connections (every state but CLOSED and LISTEN; TIME-WAIT included). */
  get connections(): u32 {
    return this.tcbs + this.timeWait.count;
  }

  /** Connections in TIME-WAIT now. */
  get timeWaiting(): u32 {
    return this.timeWait.count;
  }

  /** Most connections in TIME-WAIT at once (lowering it takes effect as the next one enters). */
  get timeWaitMax(): u32 {
    return this.timeWait.max;
  }
  set timeWaitMax(n: u32) {
    this.timeWait.max = n;
  }

  /** Heap bytes the TIME-WAIT records take now (timewait.ts). */
  get timeWaitBytes(): usize {
    return this.timeWait.bytes;
  }

  /** Our timestamp clock: milliseconds, from a random origin. */
  @inline tsNow(): u32 {
    return <u32>(clock_ns() / 1_000_000) + this.tsOffset;
  }

  /**
   * The MSS to advertise toward `dst`: the config's, capped by the path.
   * `mtuFor` is the largest IP payload (the link MTU less the IP header), so
   * the MSS is that less the fixed TCP header: MTU - 40, 1460 on Ethernet
   * (RFC 6691: options are not counted; a connection that uses timestamps
   * takes their 12 bytes out of each segment itself).
   */
  mssFor(dst: u32, want: u32): u32 {
    const path = this.out.mtuFor(dst);
    const m = path > 20 + 64 ? path - 20 : 536;
    return max<u32>(min<u32>(want, m), 64);
  }

  // ---- memory ----

  /** Limit on all connections' buffers together (bytes). */
  get memLimit(): u64 {
    return this.pool.limit;
  }
  set memLimit(v: u64) {
    this.pool.limit = v;
  }
  /** Buffer memory in use (rings and half-open reservations). */
  /** Connections not lingering in TIME-WAIT: open, or still closing (a FIN of ours or the peer's yet to be acknowledged). */
  get live(): u32 {
    return this.connections - this.timeWaiting;
  }

  get memUsed(): u64 {
    return this.pool.used;
  }

  // ---- table ----

  @inline private key(lport: u32, rip: u32, rport: u32): u64 {
    return ((<u64>rip) << 32) | (<u64>lport << 16) | rport;
  }

  /** The connection lip:lport <- rip:rport, or null. */
  find(lip: u32, lport: u32, rip: u32, rport: u32): TcpSocket | null {
    const t = this.findTcb(lip, lport, rip, rport);
    return t ? <TcpSocket>t.endpoint : null;
  }

  private findTcb(lip: u32, lport: u32, rip: u32, rport: u32): Tcb | null {
    const k = this.key(lport, rip, rport);
    if (!this.table.has(k)) return null;
    let t: Tcb | null = this.table.get(k);
    while (t) {
      if (t.localIp == lip || t.localIp == 0) return t;
      t = t.hashNext;
    }
    return null;
  }

  insert(t: Tcb): void {
    const k = this.key(t.localPort, t.remoteIp, t.remotePort);
    t.hashNext = this.table.has(k) ? this.table.get(k) : null;
    this.table.set(k, t);
    t.inTable = true;
    this.tcbs++;
  }

  /** `t` entered TIME-WAIT: once the segment that took it there is processed (its ACK sent), it becomes a record. */
  lingering(t: Tcb): void {
    this.retiring = t;
  }

  /** Moves a connection in TIME-WAIT into a record: its TCB leaves the table and the scheduler. */
  private retire(t: Tcb): void {
    if (t.state != TcpState.TimeWait || !t.inTable) return;
    const expiry = t.timers.lingerAt;
    t.timers.disarm();
    const l = t.listener;
    if (l) l.released(t);
    this.remove(t);
    t.retired = true;
    this.timeWait.enter(t, ackSeq(t), expiry);
  }

  /** Whether the connection of retired `t` still lingers in TIME-WAIT (TcpSocket.state). */
  lingers(t: Tcb): bool {
    return this.timeWait.find(t.localIp, t.localPort, t.remoteIp, t.remotePort) >= 0;
  }

  /** Takes a finished connection out of the table. */
  remove(t: Tcb): void {
    if (!t.inTable) return;
    t.inTable = false;
    this.tcbs--;
    const k = this.key(t.localPort, t.remoteIp, t.remotePort);
    let head: Tcb | null = this.table.get(k);
    if (head == t) {
      if (t.hashNext) this.table.set(k, t.hashNext!);
      else this.table.delete(k);
    } else {
      while (head) {
        if (head.hashNext == t) {
          head.hashNext = t.hashNext;
          break;
        }
        head = head.hashNext;
      }
    }
    t.hashNext = null;
  }

  // ---- app API ----

  /**
   * Listens on `port`. `handler` hears `accepted` for each new connection
   * (or, with null, connections wait for `accept()`). `backlog` bounds both
   * the half-open and the accept queue; beyond it SYN cookies answer.
   */
  listen(port: u32, handler: TcpHandler | null = null, backlog: u32 = 128, cfg: TcpConfig | null = null): TcpListener | null {
    if (port == 0 || port > 65535 || this.listeners.has(port)) return null;
    const l = new TcpListener(this.ctx, port, cfg ? cfg : this.defaults, handler, max<u32>(backlog, 1));
    this.listeners.set(port, l);
    return l;
  }

  unlisten(l: TcpListener): void {
    if (this.listeners.has(l.port) && this.listeners.get(l.port) == l) this.listeners.delete(l.port);
  }

  /**
   * Opens a connection to `dst`:`port` from `src` (0: what the output says).
   * Returns null if no port is left (buffers come later, as data needs them). `connected` (or `error`) follows.
   */
  connect(dst: u32, port: u32, handler: TcpSocketHandler | null = null, cfg: TcpConfig | null = null, src: u32 = 0, srcPort: u32 = 0): TcpSocket | null {
    if (src == 0) src = this.out.sourceFor(dst);
    if (src == 0 || dst == 0 || port == 0 || port > 65535) return null;
    let lport = srcPort;
    if (lport == 0) {
      this.probeSrc = src;
      this.probeDst = dst;
      this.probePort = port;
      lport = this.ports.allocate<TcpStack>(this);
      if (lport == 0) return null;
    } else if (this.inUse(src, lport, dst, port)) return null;
    const c = (cfg ? cfg : this.defaults).clone();
    const s = new TcpSocket(this.ctx, c, src, lport, dst, port);
    s.handler = handler;
    s.conn.startBuffers();
    this.insert(s.conn);
    this.counters.activeOpens++;
    s.openActive(this.isn.isn(src, lport, dst, port, clock_ns()));
    return s;
  }

  /** For the port allocator: whether `port` is taken for the connection `connect` is opening. */
  portInUse(port: u32): bool {
    return this.inUse(this.probeSrc, port, this.probeDst, this.probePort) || this.listeners.has(port);
  }

  /** Whether a connection (a TCB, or a TIME-WAIT record) holds the 4-tuple. */
  private inUse(lip: u32, lport: u32, rip: u32, rport: u32): bool {
    return this.findTcb(lip, lport, rip, rport) != null || this.timeWait.find(lip, lport, rip, rport) >= 0;
  }

  // ---- input ----

  /**
   * A segment from the IP layer: `src` -> `dst`, [ptr, ptr+len) is the TCP
   * header and payload (IP already validated; the TCP checksum is checked here).
   */
  input(src: u32, dst: u32, ptr: usize, len: u32): void {
    const c = this.counters;
    c.rxSegments++;
    if (!unicast(src) || !unicast(dst)) {
      c.dropBadAddress++;
      return;
    }
    const seg = this.rx;
    const e = seg.parse(ptr, len, src, dst, this.verifyChecksums);
    if (e != WireError.Ok) {
      if (e == WireError.Truncated) c.dropTruncated++;
      else if (e == WireError.BadChecksum) c.dropBadChecksum++;
      else if (e == WireError.BadHeaderLen) c.dropBadHeaderLen++;
      else c.dropBadOption++;
      return;
    }
    c.unknownOptions += seg.unknownOptions;
    const f = seg.flags;
    // Impossible combinations: SYN with FIN or RST, or no control bit at all.
    if (((f & TCP_SYN) != 0 && (f & (TCP_FIN | TCP_RST)) != 0) || (f & (TCP_SYN | TCP_FIN | TCP_RST | TCP_ACK)) == 0) {
      c.dropBadFlags++;
      return;
    }
    if (seg.srcPort == 0 || seg.dstPort == 0) {
      c.dropBadAddress++;
      return;
    }
    const payload = ptr + seg.payloadOff;
    const t = this.findTcb(dst, seg.dstPort, src, seg.srcPort);
    let reuseAbove: u32 = 0;
    let reuse = false;
    if (t) {
      segmentArrives(t, seg, payload);
      this.retireLingering();
      this.dispatch();
      return;
    }
    const w = this.timeWait.find(dst, seg.dstPort, src, seg.srcPort);
    if (w >= 0) {
      // RFC 6191 / RFC 1122 4.2.2.13: a new SYN may reopen a TIME-WAIT connection if it is
      // provably newer (a later timestamp, or a sequence number past the old one).
      if ((f & (TCP_SYN | TCP_ACK | TCP_RST)) == TCP_SYN && this.listeners.has(seg.dstPort) && this.timeWait.newerSyn(w, seg.seq, seg.hasTimestamp, seg.tsVal)) {
        reuseAbove = this.timeWait.sndMax(w);
        reuse = true;
        c.timeWaitReused++;
        this.timeWait.reopen(w);
      } else {
        this.timeWait.input(w, seg, clock_ns());
        return;
      }
    }
    const l = this.listeners.has(seg.dstPort) ? this.listeners.get(seg.dstPort) : null;
    if (l && l.open) l.input(seg, src, dst, payload, reuse, reuseAbove);
    else {
      c.dropNoSocket++;
      this.resetFor(seg, src, dst);
    }
    this.retireLingering();
    this.dispatch();
  }

  private retireLingering(): void {
    const r = this.retiring;
    if (r == null) return;
    this.retiring = null;
    this.retire(r);
  }

  /**
   * An ICMP error quoting a segment we sent from lip:lport to rip:rport with
   * sequence number `seq` (the IP layer found TCP in the quote). Only a
   * quote of a sequence number in flight, [SND.UNA, SND.MAX), is believed:
   * a blind attacker would have to guess one (RFC 5927 4.1). Returns
   * whether it concerned a connection.
   */
  icmpError(lip: u32, lport: u32, rip: u32, rport: u32, seq: u32, hard: bool, mtu: u32): bool {
    const t = this.findTcb(lip, lport, rip, rport);
    if (!t) {
      // In TIME-WAIT nothing is in flight: no quote can be believed.
      if (this.timeWait.find(lip, lport, rip, rport) < 0) return false;
      this.counters.icmpIgnored++;
      return true;
    }
    if (!(seqGe(seq, t.sndUna) && seqLt(seq, t.sndMax))) {
      this.counters.icmpIgnored++;
      return true;
    }
    this.counters.icmpErrors++;
    icmpErrorArrives(t, hard, mtu);
    this.dispatch();
    return true;
  }

  /** RFC 9293 3.10.7.1: the answer to a segment for no connection (never to a RST). */
  private resetFor(seg: TcpRepr, src: u32, dst: u32): void {
    if (seg.has(TCP_RST)) return;
    if (seg.has(TCP_ACK)) this.sendReset(dst, seg.dstPort, src, seg.srcPort, seg.ack, 0, false);
    else this.sendReset(dst, seg.dstPort, src, seg.srcPort, 0, seg.seq + seg.segLen, true);
  }

  sendReset(lip: u32, lport: u32, rip: u32, rport: u32, seq: u32, ack: u32, withAck: bool): void {
    const r = this.ctx.tx;
    r.clearOptions();
    r.srcPort = lport;
    r.dstPort = rport;
    r.seq = seq;
    r.ack = withAck ? ack : 0;
    r.flags = TCP_RST | (withAck ? TCP_ACK : 0);
    r.window = 0;
    r.urgent = 0;
    r.payloadLen = 0;
    const n = r.emit(this.ctx.txBuf, lip, rip);
    this.counters.resetsSent++;
    this.counters.txSegments++;
    this.out.send(lip, rip, this.ctx.txBuf, n);
  }

  /** Prints one line per connection (allocates: for debugging, not per packet). */
  dump(): void {
    const all = this.table.values();
    for (let i = 0; i < all.length; i++) {
      let t: Tcb | null = all[i];
      while (t) {
        print("tcp ");
        print(tcpStateName(t.state));
        print(" lport=" + t.localPort.toString() + " rport=" + t.remotePort.toString());
        print(" una=" + t.sndUna.toString() + " nxt=" + t.sndNxt.toString() + " max=" + t.sndMax.toString());
        print(" rcvnxt=" + t.rcvNxt.toString() + " snd=" + t.sndBuf.len.toString() + " rcv=" + t.rcvBuf.len.toString());
        println(" fin=" + (t.finQueued ? "1" : "0") + " peerfin=" + (t.peerFinReceived ? "1" : "0") + " wnd=" + t.sndWnd.toString());
        t = t.hashNext;
      }
    }
  }

  // ---- limits ----

  takeChallengeAck(): bool {
    const now = clock_ns();
    if (now - this.challengeWindow >= 1_000_000_000) {
      this.challengeWindow = now;
      this.challengeCount = 0;
    }
    if (this.challengeCount >= this.challengeAckLimit) return false;
    this.challengeCount++;
    return true;
  }

  /** `t` waits for pool memory (its send took nothing and nothing is queued). */
  waitForMemory(t: Tcb): void {
    if (t.memWaiting) return;
    t.memWaiting = true;
    t.memNext = this.memWaitHead;
    this.memWaitHead = t;
    this.pool.waiters++;
  }

  /** Memory came back: every waiting connection hears `writable` (and tries again). */
  memoryFreed(): void {
    let t = this.memWaitHead;
    this.memWaitHead = null;
    this.pool.waiters = 0;
    while (t) {
      const next = t.memNext;
      t.memNext = null;
      t.memWaiting = false;
      if (t.wantWrite && t.canSend()) {
        t.wantWrite = false;
        t.post(EV_WRITABLE);
      }
      t = next;
    }
  }

  // ---- packet buffers ----

  /** `t` held a segment back: no packet buffer was free. It sends once `sendable` says one is. */
  waitForPacket(t: Tcb): void {
    if (t.pktWaiting) return;
    this.counters.sndBufferWaits++;
    t.pktWaiting = true;
    t.pktNext = null;
    if (this.pktWaitTail) this.pktWaitTail!.pktNext = t;
    else this.pktWaitHead = t;
    this.pktWaitTail = t;
  }

  /** Packet buffers came back (TcpInput.sendable): the held output goes from the stack's task. */
  sendable(): void {
    if (this.pktWaitHead) this.sched.wake(this.pktTask);
  }

  /**
   * The held output goes, in the order it was held, as far as the buffers
   * reach: a connection that runs short again waits again (at the back).
   */
  resumeHeld(): void {
    let t = this.pktWaitHead;
    this.pktWaitHead = null;
    this.pktWaitTail = null;
    while (t) {
      const next = t.pktNext;
      t.pktNext = null;
      t.pktWaiting = false;
      if (!t.retired && t.state != TcpState.Closed) output(t);
      t = next;
    }
    this.dispatch();
  }

  // ---- events ----

  post(t: Tcb): void {
    if (t.inEvList) return;
    t.inEvList = true;
    t.evNext = null;
    if (this.evTail) this.evTail!.evNext = t;
    else this.evHead = t;
    this.evTail = t;
  }

  /** Calls the handlers for every event posted, until none is left. */
  dispatch(): void {
    if (this.dispatching) return;
    this.dispatching = true;
    for (;;) {
      const t = this.evHead;
      if (!t) break;
      this.evHead = t.evNext;
      if (!this.evHead) this.evTail = null;
      t.evNext = null;
      t.inEvList = false;
      const ev = t.pendingEv;
      t.pendingEv = 0;
      t.endpoint.deliver(ev);
    }
    this.dispatching = false;
  }
}

/** The stack's task for output held back for want of a packet buffer. */
class ResumeHeld extends Task {
  constructor(private readonly stack: TcpStack) {
    super("tcp-held");
  }
  run(): void {
    this.stack.resumeHeld();
  }
}

/** The stack as its TIME-WAIT records see it. */
class StackTimeWait extends TimeWaitOwner {
  constructor(private readonly stack: TcpStack) {
    super();
  }
  tsNow(): u32 {
    return this.stack.tsNow();
  }
  takeChallengeAck(): bool {
    return this.stack.takeChallengeAck();
  }
  sendSegment(src: u32, dst: u32, p: usize, len: u32): void {
    this.stack.out.send(src, dst, p, len);
  }
}

/** The stack as its connections and listeners see it. */
class StackContext extends ListenContext {
  constructor(private readonly stack: TcpStack, txBuf: usize) {
    super(stack.counters, stack.sched, stack.pool, txBuf, stack.isn);
  }
  tsNow(): u32 {
    return this.stack.tsNow();
  }
  mssFor(dst: u32, want: u32): u32 {
    return this.stack.mssFor(dst, want);
  }
  takeChallengeAck(): bool {
    return this.stack.takeChallengeAck();
  }
  send(src: u32, dst: u32, len: u32): void {
    this.stack.out.send(src, dst, this.txBuf, len);
  }
  canSend(): bool {
    return this.stack.out.canSend();
  }
  waitForPacket(t: Tcb): void {
    this.stack.waitForPacket(t);
  }
  largeMax(dst: u32): u32 {
    return this.stack.out.largeMax(dst);
  }
  largeBegin(dst: u32): usize {
    return this.stack.out.largeBegin(dst);
  }
  largeSend(src: u32, dst: u32, len: u32, hdrLen: u32, mss: u32): bool {
    return this.stack.out.largeSend(src, dst, len, hdrLen, mss);
  }
  sendReset(lip: u32, lport: u32, rip: u32, rport: u32, seq: u32, ack: u32, withAck: bool): void {
    this.stack.sendReset(lip, lport, rip, rport, seq, ack, withAck);
  }
  post(t: Tcb): void {
    this.stack.post(t);
  }
  waitForMemory(t: Tcb): void {
    this.stack.waitForMemory(t);
  }
  memoryFreed(): void {
    this.stack.memoryFreed();
  }
  dispatch(): void {
    this.stack.dispatch();
  }
  ended(t: Tcb): void {
    this.stack.remove(t);
  }
  lingering(t: Tcb): void {
    this.stack.lingering(t);
  }
  lingers(t: Tcb): bool {
    return this.stack.lingers(t);
  }
  adopt(s: TcpSocket): void {
    this.stack.insert(s.conn);
  }
  unlisten(l: TcpListener): void {
    this.stack.unlisten(l);
  }
}

/** Not zero, broadcast, multicast (224/4) or class E. */
function unicast(ip: u32): bool {
  return ip != 0 && ip != 0xffffffff && (ip >>> 28) < 14;
}
