// The state of one TCP connection (RFC 9293 3.3.1's TCB) and the narrow
// context it reaches the rest of the stack through.
//
// The TCB is data plus the few operations that only touch its own state
// (buffers, endings, events). The engine is in the modules that take a TCB:
// input.ts (a segment arrives, RFC 9293 3.10.7), output.ts (what to send),
// timeouts.ts (a deadline is due); its parts are sack.ts (RFC 6675), rtt.ts
// (RFC 6298) and timer.ts (the deadlines). The app sees a connection as a
// TcpSocket (socket.ts), the listen side is listener.ts, and the stack
// (stack.ts) implements TcpContext. Nothing here imports any of those.
//
// Memory: a TCB is made when the connection is created (a SYN that fits the
// backlog, a valid cookie, or `connect`). Its rings take blocks from the
// stack's BufferPool as the data they hold grows (up to TcpConfig's sizes)
// and give them back when they empty; everything is returned when it
// closes or enters TIME-WAIT. Nothing per segment touches the GC heap.

import { Scheduler } from "../../sched/loop";
import { traceEvent, traceConn } from "../../trace";
import { TcpRepr } from "../wire/tcp";
import { Ring } from "./ring";
import { SendQueue } from "./sendq";
import { SeqRanges } from "./ranges";
import { CongestionControl } from "./cc";
import { TcpConfig } from "./config";
import { TcpCounters } from "./counters";
import { RttEstimator } from "./rtt";
import { TcpTimers, TcpTimerOwner } from "./timer";
import { SackRecovery } from "./sack";
import { BufferPool, FIRST_BUF } from "./bufpool";

export enum TcpState {
  Closed = 0,
  Listen = 1,
  SynSent = 2,
  SynReceived = 3,
  Established = 4,
  FinWait1 = 5,
  FinWait2 = 6,
  CloseWait = 7,
  Closing = 8,
  LastAck = 9,
  TimeWait = 10,
}

export function tcpStateName(s: TcpState): string {
  switch (s) {
    case TcpState.Closed: return "CLOSED";
    case TcpState.Listen: return "LISTEN";
    case TcpState.SynSent: return "SYN-SENT";
    case TcpState.SynReceived: return "SYN-RECEIVED";
    case TcpState.Established: return "ESTABLISHED";
    case TcpState.FinWait1: return "FIN-WAIT-1";
    case TcpState.FinWait2: return "FIN-WAIT-2";
    case TcpState.CloseWait: return "CLOSE-WAIT";
    case TcpState.Closing: return "CLOSING";
    case TcpState.LastAck: return "LAST-ACK";
    case TcpState.TimeWait: return "TIME-WAIT";
  }
  return "?";
}

/** Why a connection ended abnormally; also the negative results of send/recv. */
export enum TcpError {
  None = 0,
  /** The peer answered our SYN with a RST (nobody listening). */
  Refused = 1,
  /** The peer reset an established connection. */
  Reset = 2,
  /** Retransmissions or keep-alive probes went unanswered. */
  TimedOut = 3,
  /** This side aborted. */
  Aborted = 4,
  /** The connection is closed (or closing, for send). */
  Closed = 6,
}

export function tcpErrorName(e: TcpError): string {
  switch (e) {
    case TcpError.None: return "none";
    case TcpError.Refused: return "refused";
    case TcpError.Reset: return "reset";
    case TcpError.TimedOut: return "timed-out";
    case TcpError.Aborted: return "aborted";
    case TcpError.Closed: return "closed";
  }
  return "?";
}

/** Events a connection posts for its app (bits of Tcb.pendingEv). */
export const EV_ACCEPTED: u32 = 1;
export const EV_CONNECTED: u32 = 2;
export const EV_READABLE: u32 = 4;
export const EV_WRITABLE: u32 = 8;
export const EV_ERROR: u32 = 16;
export const EV_CLOSED: u32 = 32;

/**
 * What a connection needs from its stack, and all it may use of it. The
 * stack implements it; tests can implement it around one connection.
 */
export abstract class TcpContext {
  readonly counters: TcpCounters;
  readonly sched: Scheduler;
  /** Where the connections' rings come from, within the stack's memory limit. */
  readonly pool: BufferPool;
  /** The one segment being built for output (connections take turns: output never nests). */
  readonly tx: TcpRepr = new TcpRepr();
  /** Where it is built: a header and the largest payload. */
  readonly txBuf: usize;

  constructor(counters: TcpCounters, sched: Scheduler, pool: BufferPool, txBuf: usize) {
    this.counters = counters;
    this.sched = sched;
    this.pool = pool;
    this.txBuf = txBuf;
  }

  /** Our timestamp clock (RFC 7323): milliseconds, from a random origin. */
  abstract tsNow(): u32;
  /** The MSS to advertise toward `dst`: `want`, capped by the path. */
  abstract mssFor(dst: u32, want: u32): u32;
  /** Whether one more challenge ACK may go this second (RFC 5961 7, stack-wide). */
  abstract takeChallengeAck(): bool;
  /** Hands the segment built at txBuf (`len` bytes) to the IP layer. */
  abstract send(src: u32, dst: u32, len: u32): void;
  /** Whether a segment can go now: a packet buffer is free (TcpOutput.canSend). */
  abstract canSend(): bool;
  /** `t` held a segment back because none could go: its output runs again once one can. */
  abstract waitForPacket(t: Tcb): void;
  /**
   * Segmentation offload (TcpOutput.largeMax): the largest segment, header
   * included, that may go to `dst` as one for the device to cut into
   * MSS-sized ones; 0 (this default) when the path cannot.
   */
  largeMax(dst: u32): u32 {
    return 0;
  }
  /** Where to build one large segment to `dst` now, or 0: none free (TcpOutput.largeBegin). Always followed by `largeSend`. */
  largeBegin(dst: u32): usize {
    return 0;
  }
  /** Sends the large segment built at `largeBegin`'s address (`len` bytes, header `hdrLen`), in pieces of `mss` payload bytes; false if not sent. */
  largeSend(src: u32, dst: u32, len: u32, hdrLen: u32, mss: u32): bool {
    return false;
  }
  /** Sends a RST that belongs to no connection's sequence space. */
  abstract sendReset(lip: u32, lport: u32, rip: u32, rport: u32, seq: u32, ack: u32, withAck: bool): void;
  /** `t` could queue nothing for want of memory: post its EV_WRITABLE when some is given back. */
  abstract waitForMemory(t: Tcb): void;
  /** Memory went back to the pool while connections wait for it (BufferPool.waiters). */
  abstract memoryFreed(): void;
  /** `t.pendingEv` gained bits: queue it for the next dispatch. */
  abstract post(t: Tcb): void;
  /** Runs the handlers of every posted connection (unless already running). */
  abstract dispatch(): void;
  /** The connection is over: out of the stack's tables. */
  abstract ended(t: Tcb): void;
  /**
   * `t` entered TIME-WAIT: once the segment that took it there is processed,
   * the stack keeps a compact record of it and lets go of `t` (`retired`).
   */
  abstract lingering(t: Tcb): void;
  /** Whether retired `t`'s record still lingers (its TIME-WAIT is not over). */
  lingers(t: Tcb): bool {
    return false;
  }
}

/** The app's side of a connection: hears its events and its timer (socket.ts). */
export abstract class TcpEndpoint extends TcpTimerOwner {
  /** Delivers the events `ev` (EV_* bits) to the app. */
  abstract deliver(ev: u32): void;
}

/** The listener that created a passive connection, as the connection sees it (listener.ts). */
export abstract class TcpListenSide {
  /** The connection finished its handshake. */
  abstract established(t: Tcb): void;
  /** The connection ended (maybe before the app took it). */
  abstract released(t: Tcb): void;
  /** Dispatch of EV_ACCEPTED: tells the listener's handler; the app has the connection from now on. */
  abstract announce(t: Tcb): void;
}

/** Sees congestion-control decisions (for traces and experiments). */
export class TcpTracer {
  /** `what`: "init", "ack", "loss", "rto", "exit", "idle". */
  cwnd(conn: Tcb, what: string, nowNs: u64, cwnd: u32, ssthresh: u32, flight: u32, acked: u32): void {}
}

export class Tcb {
  readonly ctx: TcpContext;
  readonly cfg: TcpConfig;
  state: TcpState = TcpState.Closed;
  /** Why the connection ended, if abnormally. */
  error: TcpError = TcpError.None;
  /** Who hears this connection's events and timer (its TcpSocket). */
  readonly endpoint: TcpEndpoint;
  tracer: TcpTracer | null = null;
  /** The listener that created this connection (passive open), until the app has it. */
  listener: TcpListenSide | null = null;

  localIp: u32;
  localPort: u32;
  remoteIp: u32;
  remotePort: u32;

  // ---- send sequence space ----
  iss: u32 = 0;
  sndUna: u32 = 0;
  sndNxt: u32 = 0;
  /** Highest sequence number sent + 1 (sndNxt goes back to sndUna on RTO). */
  sndMax: u32 = 0;
  sndWnd: u32 = 0;
  maxSndWnd: u32 = 0;
  sndWl1: u32 = 0;
  sndWl2: u32 = 0;
  /** Shift applied to the peer's window field (its WS option; 0 without). */
  sndWscale: u32 = 0;
  /** Sequence number of the first byte in sndBuf. */
  sndBufSeq: u32 = 0;
  finQueued: bool = false;
  finSeq: u32 = 0;
  /** Payload bytes per segment we send (peer's MSS, path MTU, our limit). */
  mss: u32 = 536;

  // ---- receive sequence space ----
  irs: u32 = 0;
  rcvNxt: u32 = 0;
  /** rcvNxt + the window we last advertised: never moved backwards. */
  rcvAdvEdge: u32 = 0;
  rcvWscale: u32 = 0;
  advMss: u32 = 536;
  lastAckSent: u32 = 0;
  peerFinReceived: bool = false;
  peerFinPending: bool = false;
  peerFinSeq: u32 = 0;

  // ---- options ----
  wsOk: bool = false;
  sackOk: bool = false;
  tsOk: bool = false;
  tsRecent: u32 = 0;
  tsRecentNs: u64 = 0;

  // ---- buffers ----
  /** What is queued to send: bytes in the send ring and references to immutable memory (sendq.ts). */
  readonly sndBuf: SendQueue = new SendQueue();
  readonly rcvBuf: Ring = new Ring();
  /** Out-of-order data held in rcvBuf past the readable bytes. */
  readonly ooo: SeqRanges = new SeqRanges(8);
  /** The out-of-order range that changed last: the first SACK block (RFC 2018 4). */
  lastOooLeft: u32 = 0;
  /** The connection holds data (established or after; an active open from `connect`): its rings take pool memory as they need it. */
  buffersOn: bool = false;
  /** A half-open connection's first buffer is charged to the pool (reserveBuffers). */
  memReserved: bool = false;

  // ---- congestion and recovery ----
  cc: CongestionControl;
  readonly sack: SackRecovery = new SackRecovery();
  inRecovery: bool = false;
  /** RecoveryPoint (RFC 6675) / recover (RFC 6582). */
  recover: u32 = 0;
  dupAcks: u32 = 0;
  /** NewReno (no SACK) window inflation during recovery, on top of cc.cwnd. */
  inflate: u32 = 0;
  lastSendNs: u64 = 0;
  readonly rtt: RttEstimator;
  /** Retransmissions of the same thing in a row (SYN, SYN-ACK, RTO). */
  retries: u32 = 0;

  // ---- ACK policy ----
  ackNow: bool = false;
  ackPendingBytes: u32 = 0;
  quickAcks: u32;
  noDelay: bool;
  /** A send came up short: post EV_WRITABLE when there is room. */
  wantWrite: bool = false;
  /** `send` and `close` queue without transmitting until the socket is uncorked (TcpSocket.cork). */
  corked: bool = false;

  // ---- timers ----
  readonly timers: TcpTimers;
  persistBackoff: u32 = 0;
  /** The persist timer fired on an open but small window: send into it despite sender SWS avoidance (RFC 1122 4.2.3.4). */
  sendShort: bool = false;
  keepProbes: u32 = 0;
  lastRecvNs: u64 = 0;

  // ---- the stack's bookkeeping ----
  hashNext: Tcb | null = null;
  /** The stack's list of connections in TIME-WAIT, oldest first (stack.ts). */
  /** In TIME-WAIT, and retired into the stack's compact record (TcpContext.lingers says until when). */
  retired: bool = false;
  evNext: Tcb | null = null;
  pendingEv: u32 = 0;
  inEvList: bool = false;
  inTable: bool = false;
  /** Born from a SYN cookie: no SYN-ACK of its own was sent (or timed). */
  fromCookie: bool = false;
  /** In the stack's list of connections waiting for memory (memNext links it). */
  memWaiting: bool = false;
  memNext: Tcb | null = null;
  /** In the stack's list of connections whose output waits for a packet buffer (pktNext links it). */
  pktWaiting: bool = false;
  pktNext: Tcb | null = null;
  /** Counted in its listener's SYN backlog (listener.ts). */
  halfOpen: bool = false;

  // ---- per-connection statistics ----
  bytesSent: u64 = 0;
  bytesReceived: u64 = 0;
  retransmits: u64 = 0;
  fastRecoveries: u64 = 0;
  timeouts: u64 = 0;

  constructor(ctx: TcpContext, cfg: TcpConfig, endpoint: TcpEndpoint, localIp: u32, localPort: u32, remoteIp: u32, remotePort: u32) {
    this.ctx = ctx;
    this.cfg = cfg;
    this.endpoint = endpoint;
    this.localIp = localIp;
    this.localPort = localPort;
    this.remoteIp = remoteIp;
    this.remotePort = remotePort;
    this.cc = cfg.cc.fresh();
    this.rtt = new RttEstimator(cfg.initialRtoNs, cfg.minRtoNs, cfg.maxRtoNs);
    this.timers = new TcpTimers(ctx.sched, endpoint);
    this.quickAcks = cfg.quickAcks;
    this.noDelay = cfg.noDelay;
  }

  @inline get counters(): TcpCounters {
    return this.ctx.counters;
  }

  isSynchronized(): bool {
    return this.state >= TcpState.Established || this.state == TcpState.SynReceived;
  }

  /** Whether the app may still queue data. */
  canSend(): bool {
    const s = this.state;
    return !this.finQueued && (s == TcpState.Established || s == TcpState.CloseWait || s == TcpState.SynSent || s == TcpState.SynReceived);
  }

  @inline finSent(): bool {
    return this.finQueued && <i32>(this.sndNxt - this.finSeq) > 0;
  }

  @inline finAcked(): bool {
    return this.finQueued && <i32>(this.sndUna - this.finSeq) > 0;
  }

  /** Sequence number just past the last data byte queued. */
  @inline dataEnd(): u32 {
    return this.sndBufSeq + this.sndBuf.len;
  }

  /** Bytes sent and not yet acknowledged (sequence space). */
  @inline get inFlight(): u32 {
    return this.sndNxt - this.sndUna;
  }

  /** Our window-scale shift: the smallest that lets the whole receive buffer be advertised. */
  chooseWscale(): u32 {
    return wscaleFor(this.cfg.rcvBuf);
  }

  queueFin(): void {
    if (this.finQueued) return;
    this.finQueued = true;
    this.finSeq = this.sndBufSeq + this.sndBuf.len;
  }

  // ---- buffers ----

  /** Bytes the receive side may still take in: its configured size less what is unread. */
  @inline rcvSpace(): u32 {
    const l = this.rcvBuf.len;
    return this.cfg.rcvBuf > l ? this.cfg.rcvBuf - l : 0;
  }

  /**
   * The window the receive side offers now: rcvSpace, but no more than the
   * ring could grow to in the pool as it is (BufferPool.growable), so the
   * windows of a stack short of memory shrink before data has to be dropped.
   */
  rcvOffer(): u32 {
    const space = this.rcvSpace();
    const room = this.ctx.pool.growable(this.rcvBuf.cap);
    const l = this.rcvBuf.len;
    return room > l ? min(room - l, space) : 0;
  }

  /** Bytes the app may still copy into the send ring: the configured send size less what the ring holds. */
  @inline sndSpace(): u32 {
    const l = this.sndBuf.ring.len;
    return this.cfg.sndBuf > l ? this.cfg.sndBuf - l : 0;
  }

  /** Bytes the app may still queue by reference: TcpConfig.sndRefMax less what references hold. */
  @inline refSpace(): u32 {
    const l = this.sndBuf.refBytes;
    return this.cfg.sndRefMax > l ? this.cfg.sndRefMax - l : 0;
  }

  /**
   * A half-open connection's claim on the pool (from its SYN on): its first
   * buffer, so handshakes cannot promise more memory than there is. False
   * (nothing charged) at the limit.
   */
  reserveBuffers(): bool {
    if (this.memReserved) return true;
    if (!this.ctx.pool.charge(FIRST_BUF, true)) return false;
    this.memReserved = true;
    return true;
  }

  /** The connection may hold data from now on (established, or an active open); the reservation is over. */
  startBuffers(): void {
    this.buffersOn = true;
    this.unreserve();
  }

  /** Makes the receive ring hold at least `need` bytes from its head; false if the pool has no room. */
  @inline growRcv(need: u32): bool {
    return need <= this.rcvBuf.cap || this.grow(this.rcvBuf, need);
  }

  /** Makes the send ring hold at least `need` bytes; false if the pool has no room. */
  @inline growSnd(need: u32): bool {
    const w = this.sndBuf.ring;
    return need <= w.cap || this.grow(w, need);
  }

  private grow(r: Ring, need: u32): bool {
    const size = BufferPool.sizeFor(need);
    const pool = this.ctx.pool;
    // A ring's first block (one segment's worth) may use the headroom kept for new connections.
    const p = pool.take(size, r.cap == 0 && size <= FIRST_BUF);
    if (p == 0) return false;
    const oldCap = r.cap;
    const old = r.move(p, size);
    if (old != 0) pool.give(old, oldCap);
    return true;
  }

  /**
   * Gives back the rings that hold nothing (an idle connection costs no
   * ring memory), and, while the pool is past half full, moves a ring that
   * holds a quarter of its block or less to one twice what it holds.
   */
  trimBuffers(): void {
    const pool = this.ctx.pool;
    const r = this.rcvBuf;
    if (r.cap != 0 && r.len == 0 && this.ooo.count == 0) {
      const cap = r.cap;
      pool.give(r.drop(), cap);
    }
    // Referenced bytes take no ring: the block goes back once the copied ones are acknowledged.
    const w = this.sndBuf.ring;
    if (w.cap != 0 && w.len == 0) {
      const cap = w.cap;
      pool.give(w.drop(), cap);
    }
    if (pool.pressed()) {
      // The receive ring's extent includes what is held out of order past the readable bytes.
      const o = this.ooo;
      const rx = o.count > 0 ? r.len + (o.right(o.count - 1) - this.rcvNxt) : r.len;
      this.shrink(r, rx);
      this.shrink(w, w.len);
    }
    if (pool.waiters != 0) this.ctx.memoryFreed();
  }

  private shrink(r: Ring, extent: u32): void {
    if (r.cap <= FIRST_BUF || extent == 0 || extent > r.cap / 4) return;
    const size = BufferPool.sizeFor(extent * 2);
    const pool = this.ctx.pool;
    const p = pool.takeSmaller(size);
    if (p == 0) return;
    const oldCap = r.cap;
    pool.give(r.move(p, size), oldCap);
  }

  /** Returns both rings and any reservation to the pool. */
  freeBuffers(): void {
    const pool = this.ctx.pool;
    const r = this.rcvBuf;
    const rc = r.cap;
    if (rc != 0) pool.give(r.drop(), rc);
    else r.drop();
    const w = this.sndBuf;
    const wc = w.ring.cap;
    if (wc != 0) pool.give(w.drop(), wc);
    else w.drop();
    this.buffersOn = false;
    this.unreserve();
    if (pool.waiters != 0) this.ctx.memoryFreed();
  }

  private unreserve(): void {
    if (!this.memReserved) return;
    this.ctx.pool.uncharge(FIRST_BUF);
    this.memReserved = false;
  }

  /** Frees the buffers once nothing in them matters: closed or TIME-WAIT, and nothing left to read. */
  maybeFreeBuffers(): void {
    const s = this.state;
    if ((s == TcpState.Closed || s == TcpState.TimeWait) && (this.rcvBuf.len == 0 || this.error != TcpError.None)) this.freeBuffers();
  }

  // ---- endings and events ----

  /** The connection is over: out of the tables, timers off, buffers freed, the app told. */
  finish(err: TcpError, notify: bool): void {
    if (this.state == TcpState.Closed) return;
    if (this.retired) {
      // Its TIME-WAIT is the stack's record now, which ends (and is counted) on its own.
      this.state = TcpState.Closed;
      return;
    }
    const wasSync = this.isSynchronized() && this.state != TcpState.TimeWait;
    this.error = err;
    this.state = TcpState.Closed;
    this.timers.disarm();
    const l = this.listener;
    if (l) l.released(this);
    this.ctx.ended(this);
    this.counters.closed++;
    if (notify) {
      if (err != TcpError.None) this.post(EV_ERROR);
      else if (wasSync || this.state == TcpState.Closed) this.post(EV_CLOSED);
    }
    // The app may still read what arrived before a graceful end; otherwise free now.
    this.maybeFreeBuffers();
  }

  post(ev: u32): void {
    this.pendingEv |= ev;
    this.ctx.post(this);
  }

  /** A congestion-control decision: to the tracer, and as `kind` (kernel/trace.ts) to the kernel trace. */
  trace(what: string, kind: u32, now: u64, acked: u32): void {
    traceEvent(kind, traceConn(this.localPort, this.remotePort), this.cc.cwnd, this.cc.ssthresh, this.sndMax - this.sndUna);
    const t = this.tracer;
    if (t) t.cwnd(this, what, now, this.cc.cwnd, this.cc.ssthresh, this.sndMax - this.sndUna, acked);
  }
}

/** The window a SYN or SYN-ACK offers (never scaled: RFC 7323 2.2). */
export function synWindow(rcvBuf: u32): u32 {
  return min<u32>(rcvBuf, 65535);
}

/** The smallest window-scale shift that lets a `rcvBuf`-byte window be advertised. */
export function wscaleFor(rcvBuf: u32): u32 {
  let s: u32 = 0;
  while (s < 14 && (rcvBuf >> s) > 65535) s++;
  return s;
}
