// The listen side: a listening port with its SYN backlog, the SYN cookies
// that answer when the backlog is full, the accept queue, and all the
// bookkeeping of half-open connections (RFC 9293 3.10.7.2 for a segment
// that arrives at LISTEN). The stack hands it the segments for its port
// that belong to no connection.

import { clock_ns, mem_limit } from "../../hal";
import { heapCanAlloc } from "../../mem/heap";
import { heapRoom } from "../../mem/gc";
import { Scheduler } from "../../sched/loop";
import { Event } from "../../sched/event";
import { TcpRepr, TCP_SYN, TCP_ACK, TCP_RST } from "../wire/tcp";
import { TcpConfig } from "./config";
import { TcpCounters } from "./counters";
import { IsnGenerator } from "./isn";
import { BufferPool } from "./bufpool";
import { seqGt } from "./seq";
import { Tcb, TcpContext, TcpListenSide, wscaleFor, synWindow, EV_ACCEPTED } from "./tcb";
import { TcpSocket, TcpSocketHandler } from "./socket";
import { synArrives, cookieArrives, segmentArrives } from "./input";

/**
 * What the heap must be able to give in one block for a new connection to
 * be made: its TCB, socket, timer and the app's handler are about 2 KiB of
 * objects, and the connection table's growth (or shrinking) can take a few
 * tens of KiB at once.
 */
export const CONNECTION_HEAP_MARGIN: usize = 32 * 1024;

/**
 * What the heap keeps, at the least, for the connections it has: a
 * sixteenth of memory, at least 64 KiB (kernel/mem/gc.ts heapRoom). Below
 * it, or without CONNECTION_HEAP_MARGIN in one block, a new connection is
 * not made (its SYN, or a cookie's ACK, goes unanswered and the peer
 * retries) rather than the allocator ending the kernel out of memory while
 * the connections already made go on: on a small machine the heap is what
 * bounds the number of connections.
 */
export function connectionReserve(): u64 {
  return max<u64>(64 * 1024, mem_limit() / 16);
}

/** Whether the heap can hold one more connection and keep its reserve. */
function heapHasRoom(): bool {
  return heapRoom() >= connectionReserve() && heapCanAlloc(CONNECTION_HEAP_MARGIN);
}

/**
 * What an app hears: a listener's handler also hears `accepted` for each
 * new connection (which then uses the same handler unless given another).
 */
export class TcpHandler extends TcpSocketHandler {
  /** A listener completed a handshake; `sock` uses this handler unless changed here. */
  accepted(listener: TcpListener, sock: TcpSocket): void {}
}

/** What a listener needs of its stack beyond what a connection does. */
export abstract class ListenContext extends TcpContext {
  readonly isn: IsnGenerator;

  constructor(counters: TcpCounters, sched: Scheduler, pool: BufferPool, txBuf: usize, isn: IsnGenerator) {
    super(counters, sched, pool, txBuf);
    this.isn = isn;
  }
  /** A new connection goes into the stack's table. */
  abstract adopt(s: TcpSocket): void;
  /** The listener stopped listening. */
  abstract unlisten(l: TcpListener): void;
}

export class TcpListener extends TcpListenSide {
  readonly port: u32;
  /** Settings copied into each accepted connection. */
  readonly cfg: TcpConfig;
  handler: TcpHandler | null;
  /** Half-open connections (SYN-RECEIVED) allowed before SYN cookies take over. */
  synBacklog: u32;
  synCount: u32 = 0;
  /** Established connections waiting for `accept` (listeners without a handler). */
  acceptBacklog: u32;
  acceptCount: u32 = 0;
  private acceptHead: TcpSocket | null = null;
  private acceptTail: TcpSocket | null = null;
  /** Signalled when a connection is ready to `accept`. */
  readonly event: Event;
  private isOpen: bool = true;
  private readonly ctx: ListenContext;

  constructor(ctx: ListenContext, port: u32, cfg: TcpConfig, handler: TcpHandler | null, backlog: u32) {
    super();
    this.ctx = ctx;
    this.port = port;
    this.cfg = cfg;
    this.handler = handler;
    this.synBacklog = backlog;
    this.acceptBacklog = backlog;
    this.event = new Event(ctx.sched);
  }

  /** Whether it still listens (`close` not called). */
  get open(): bool {
    return this.isOpen;
  }

  /** The next established connection, or null (with a handler, connections go to `accepted` instead). */
  accept(): TcpSocket | null {
    const s = this.acceptHead;
    if (!s) return null;
    this.acceptHead = s.acceptNext;
    if (!this.acceptHead) this.acceptTail = null;
    s.acceptNext = null;
    s.conn.listener = null;
    this.acceptCount--;
    return s;
  }

  /** Stops listening; connections not yet accepted are reset. */
  close(): void {
    if (!this.isOpen) return;
    this.isOpen = false;
    this.ctx.unlisten(this);
    let s = this.accept();
    while (s) {
      s.abort();
      s = this.accept();
    }
  }

  // ---- segments for this port that belong to no connection ----

  /**
   * RFC 9293 3.10.7.2, plus the SYN backlog and cookies. `reuseAbove`: the
   * SYN reopens a TIME-WAIT connection whose last sequence number this is
   * (0: it does not), so our ISN must lie above it.
   */
  input(seg: TcpRepr, src: u32, dst: u32, payload: usize, reuse: bool, reuseAbove: u32): void {
    const ctx = this.ctx;
    const c = ctx.counters;
    if (seg.has(TCP_RST)) return;
    const now = clock_ns();
    if (seg.has(TCP_ACK)) {
      // Maybe the third step of a handshake we answered with a cookie.
      if (!seg.has(TCP_SYN)) {
        const mi = ctx.isn.checkCookie(dst, seg.dstPort, src, seg.srcPort, seg.seq - 1, seg.ack - 1, now);
        if (mi >= 0) {
          this.cookieAccept(seg, src, dst, payload, <u32>mi);
          return;
        }
        c.cookiesRejected++;
      }
      c.dropNoSocket++;
      ctx.sendReset(dst, seg.dstPort, src, seg.srcPort, seg.ack, 0, false);
      return;
    }
    if (!seg.has(TCP_SYN)) {
      c.dropBadFlags++;
      return;
    }
    c.synReceived++;
    const cfg = this.cfg;
    if (this.synCount >= this.synBacklog || this.acceptCount >= this.acceptBacklog) {
      this.sendCookie(seg, src, dst, now);
      return;
    }
    if (!heapHasRoom()) {
      c.memoryRefused++;
      return;
    }
    const s = this.newConnection(dst, seg.dstPort, src, seg.srcPort);
    if (!s.conn.reserveBuffers()) {
      // A stack at its limit does not promise memory: the SYN goes unanswered (the peer
      // retries it), and the half-open connections already admitted hold what they need.
      c.memoryRefused++;
      return;
    }
    this.admit(s);
    c.passiveOpens++;
    let iss = ctx.isn.isn(dst, seg.dstPort, src, seg.srcPort, now);
    if (reuse && !seqGt(iss, reuseAbove + 65536)) iss = reuseAbove + 131072;
    synArrives(s.conn, seg, iss);
  }

  private newConnection(lip: u32, lport: u32, rip: u32, rport: u32): TcpSocket {
    const s = new TcpSocket(this.ctx, this.cfg.clone(), lip, lport, rip, rport);
    s.handler = this.handler;
    return s;
  }

  /** The connection is ours until the app has it: in the backlog, in the stack's table. */
  private admit(s: TcpSocket): void {
    s.conn.listener = this;
    s.conn.halfOpen = true;
    this.synCount++; // released by `established` or `released`
    this.ctx.adopt(s);
  }

  private sendCookie(seg: TcpRepr, src: u32, dst: u32, now: u64): void {
    const ctx = this.ctx;
    const cfg = this.cfg;
    const peerMss = seg.mss != 0 ? seg.mss : 536;
    const mss = ctx.mssFor(src, cfg.mss);
    const mi = IsnGenerator.mssIndex(min<u32>(peerMss, mss));
    const cookie = ctx.isn.cookie(dst, seg.dstPort, src, seg.srcPort, seg.seq, mi, now);
    const r = ctx.tx;
    r.clearOptions();
    r.srcPort = seg.dstPort;
    r.dstPort = seg.srcPort;
    r.seq = cookie;
    r.ack = seg.seq + 1;
    r.flags = TCP_SYN | TCP_ACK;
    r.window = synWindow(cfg.rcvBuf);
    r.urgent = 0;
    r.payloadLen = 0;
    r.mss = mss;
    if (cfg.timestamps && seg.hasTimestamp) {
      // Options the cookie cannot hold ride in the timestamp's low 5 bits:
      // 4 bits of window scale (15: none), 1 bit SACK-permitted.
      const ws: u32 = cfg.windowScale && seg.wscale >= 0 ? wscaleFor(cfg.rcvBuf) : 15;
      const sack: u32 = cfg.sack && seg.sackPermitted ? 1 : 0;
      r.hasTimestamp = true;
      r.tsVal = ((ctx.tsNow() - 32) & ~31) | (ws << 1) | sack;
      r.tsEcr = seg.tsVal;
      if (ws != 15) r.wscale = <i32>ws;
      r.sackPermitted = sack != 0;
    }
    const n = r.emit(ctx.txBuf, dst, src);
    ctx.counters.cookiesSent++;
    ctx.counters.txSegments++;
    ctx.send(dst, src, n);
  }

  private cookieAccept(seg: TcpRepr, src: u32, dst: u32, payload: usize, mi: u32): void {
    const c = this.ctx.counters;
    let ws: i32 = -1;
    let sack = false;
    if (seg.hasTimestamp) {
      const enc = seg.tsEcr & 31;
      const w = enc >> 1;
      ws = w == 15 ? -1 : <i32>w;
      sack = (enc & 1) != 0;
    }
    if (!heapHasRoom()) {
      c.memoryRefused++;
      return; // as below: the peer retransmits, and memory may be back then
    }
    if (this.acceptCount >= this.acceptBacklog) {
      c.acceptQueueFull++;
      return; // the peer retransmits its ACK or data; maybe there is room then
    }
    const s = this.newConnection(dst, seg.dstPort, src, seg.srcPort);
    cookieArrives(s.conn, seg, IsnGenerator.mssOf(mi), ws, sack);
    this.admit(s);
    c.cookiesAccepted++;
    c.passiveOpens++;
    segmentArrives(s.conn, seg, payload);
  }

  // ---- what its connections tell it (TcpListenSide) ----

  /** A passive connection finished its handshake: to the app's handler, or the accept queue. */
  established(t: Tcb): void {
    if (t.halfOpen) {
      t.halfOpen = false;
      this.synCount--;
    }
    if (!this.isOpen) {
      t.listener = null;
      return;
    }
    if (this.handler) {
      t.post(EV_ACCEPTED);
    } else {
      if (this.acceptCount >= this.acceptBacklog) this.ctx.counters.acceptQueueFull++;
      this.enqueue(<TcpSocket>t.endpoint);
    }
  }

  /** A connection ended: a half-open one frees its backlog slot. */
  released(t: Tcb): void {
    if (t.halfOpen) {
      t.halfOpen = false;
      this.synCount--;
    }
  }

  announce(t: Tcb): void {
    const h = this.handler;
    if (h) h.accepted(this, <TcpSocket>t.endpoint);
  }

  private enqueue(s: TcpSocket): void {
    s.acceptNext = null;
    if (this.acceptTail) this.acceptTail!.acceptNext = s;
    else this.acceptHead = s;
    this.acceptTail = s;
    this.acceptCount++;
    this.event.broadcast();
  }
}
