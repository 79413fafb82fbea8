// A TCP connection: the TCB and its state machine (RFC 9293 3.10), with
// RFC 7323 (window scale, timestamps, PAWS), RFC 2018/6675 (SACK and
// SACK-based recovery), RFC 6582 (NewReno recovery without SACK), RFC 6298
// (RTO), RFC 5961 (challenge ACKs), RFC 3042 (limited transmit) and the
// sender and receiver silly-window rules. Congestion control is delegated
// (cc.ts).
//
// Each socket owns a scheduler Task (TcpTimer) that is its timer. It keeps one
// scheduler timer armed at the earliest of its deadlines (RTO, delayed ACK,
// persist, keep-alive, TIME_WAIT/FIN_WAIT_2), and moving a deadline later
// does not touch the timer queue: the timer fires early and re-arms. So an
// ACK that restarts the RTO costs a store, not a heap operation.
//
// Memory: the TCB is allocated when the connection is created (a SYN that
// fits the backlog, or `connect`), its buffers (rings in manually managed
// memory, sized by TcpConfig) when it becomes established, and both are
// released when it closes; nothing per segment.

import { clock_ns } from "../../hal";
import { Task } from "../../sched/task";
import { Event } from "../../sched/event";
import { TcpRepr, TCP_SYN, TCP_FIN, TCP_RST, TCP_ACK, TCP_PSH, TCP_HEADER_LEN } from "../wire/tcp";
import { seqLt, seqLe, seqGt, seqGe, seqMax, seqMin, seqInRange } from "./seq";
import { Ring } from "./ring";
import { SeqRanges } from "./ranges";
import { CongestionControl } from "./cc";
import { TcpConfig } from "./config";
import { TcpCounters } from "./counters";
import { TcpStack, TcpListener } from "./stack";

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

/**
 * What an app hears about its connections. Override what you need; the
 * calls come from the stack's event dispatch, never from the middle of
 * segment processing, so a handler may call any socket method.
 */
export class TcpHandler {
  /** A listener completed a handshake; `sock` uses this handler unless changed here. */
  accepted(listener: TcpListener, sock: TcpSocket): void {}
  /** An active open completed. */
  connected(sock: TcpSocket): void {}
  /** Data arrived, or the peer closed its side (recv then returns EOF). */
  readable(sock: TcpSocket): void {}
  /** A send that came up short can continue: buffer space was freed. */
  writable(sock: TcpSocket): void {}
  /** The connection finished: both sides closed (or it was reset: `error` first). */
  closed(sock: TcpSocket): void {}
  error(sock: TcpSocket, err: TcpError): void {}
}

export const EV_ACCEPTED: u32 = 1;
export const EV_CONNECTED: u32 = 2;
export const EV_READABLE: u32 = 4;
export const EV_WRITABLE: u32 = 8;
export const EV_ERROR: u32 = 16;
export const EV_CLOSED: u32 = 32;

/** Sees congestion-control decisions (for traces and experiments). */
export class TcpTracer {
  /** `what`: "ack", "loss", "rto", "exit", "idle". */
  cwnd(sock: TcpSocket, what: string, nowNs: u64, cwnd: u32, ssthresh: u32, flight: u32, acked: u32): void {}
}

const NEVER: u64 = u64.MAX_VALUE;
/** RFC 7323 5.5: a timestamp not refreshed for 24 days is no longer trusted for PAWS. */
const PAWS_IDLE_NS: u64 = 24 * 24 * 3600 * 1_000_000_000;
/** Duplicate ACKs that trigger fast retransmit. */
const DUP_THRESH: u32 = 3;
const CLOCK_GRANULARITY_NS: u64 = 1_000_000;

/** The socket's scheduler task: runs when the socket's earliest deadline is due. */
class TcpTimer extends Task {
  sock: TcpSocket | null = null;
  constructor() {
    super("tcp");
  }
  run(): void {
    const s = this.sock;
    if (s) s.onTimer();
  }
}

export class TcpSocket {
  readonly stack: TcpStack;
  readonly cfg: TcpConfig;
  state: TcpState = TcpState.Closed;
  handler: TcpHandler | null = null;
  tracer: TcpTracer | null = null;
  /** The listener that created this connection (passive open), until it is accepted. */
  listener: TcpListener | null = null;
  /** Why the connection ended, if abnormally. */
  error: TcpError = TcpError.None;
  /** Signalled on every event (for tasks that wait instead of using a handler). */
  readonly event: Event;

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
  readonly sndBuf: Ring = new Ring();
  readonly rcvBuf: Ring = new Ring();
  /** Out-of-order data held in rcvBuf past the readable bytes. */
  readonly ooo: SeqRanges = new SeqRanges(8);
  /** The out-of-order range that changed last: the first SACK block (RFC 2018 4). */
  lastOooLeft: u32 = 0;
  /** SACK scoreboard (RFC 6675). */
  readonly scoreboard: SeqRanges = new SeqRanges(16);
  buffersAllocated: bool = false;
  memCharged: u32 = 0;

  // ---- congestion and recovery ----
  cc: CongestionControl;
  inRecovery: bool = false;
  recover: u32 = 0;
  highRxt: u32 = 0;
  dupAcks: u32 = 0;
  /** NewReno (no SACK) window inflation during recovery, on top of cc.cwnd. */
  inflate: u32 = 0;
  lastSendNs: u64 = 0;

  // ---- RTT (RFC 6298) ----
  srttNs: u64 = 0;
  rttvarNs: u64 = 0;
  rtoNs: u64;
  rttTiming: bool = false;
  rttSeq: u32 = 0;
  rttStartNs: u64 = 0;
  retries: u32 = 0;

  // ---- ACK policy ----
  ackNow: bool = false;
  ackPendingBytes: u32 = 0;
  quickAcks: u32;
  noDelay: bool;
  wantWrite: bool = false;

  // ---- timers: absolute deadlines, NEVER when off ----
  rtoAt: u64 = NEVER;
  delackAt: u64 = NEVER;
  persistAt: u64 = NEVER;
  keepAt: u64 = NEVER;
  /** TIME_WAIT end, FIN_WAIT_2 limit. */
  lingerAt: u64 = NEVER;
  persistBackoff: u32 = 0;
  keepProbes: u32 = 0;
  lastRecvNs: u64 = 0;
  private armedAt: u64 = NEVER;
  private timerId: u64 = 0;
  private readonly timer: TcpTimer = new TcpTimer();

  // ---- stack bookkeeping ----
  hashNext: TcpSocket | null = null;
  evNext: TcpSocket | null = null;
  pendingEv: u32 = 0;
  inEvList: bool = false;
  inTable: bool = false;
  /** Accept-queue link (listener without a handler). */
  acceptNext: TcpSocket | null = null;

  // ---- per-connection statistics ----
  bytesSent: u64 = 0;
  bytesReceived: u64 = 0;
  retransmits: u64 = 0;
  fastRecoveries: u64 = 0;
  timeouts: u64 = 0;

  constructor(stack: TcpStack, cfg: TcpConfig, localIp: u32, localPort: u32, remoteIp: u32, remotePort: u32) {
    this.stack = stack;
    this.cfg = cfg;
    this.event = new Event(stack.sched);
    this.localIp = localIp;
    this.localPort = localPort;
    this.remoteIp = remoteIp;
    this.remotePort = remotePort;
    this.cc = cfg.cc.fresh();
    this.rtoNs = cfg.initialRtoNs;
    this.quickAcks = cfg.quickAcks;
    this.noDelay = cfg.noDelay;
    this.timer.sock = this;
  }

  @inline get counters(): TcpCounters {
    return this.stack.counters;
  }

  // =====================================================================
  // App API
  // =====================================================================

  /** Bytes ready to read. */
  @inline get readable(): u32 {
    return this.rcvBuf.len;
  }

  /** Bytes `send` would accept now. */
  get writable(): u32 {
    if (!this.canSend()) return 0;
    return this.buffersAllocated ? this.sndBuf.free : 0;
  }

  /** Whether the peer closed its side and every byte it sent was read. */
  get eof(): bool {
    return this.peerFinReceived && this.rcvBuf.len == 0;
  }

  private canSend(): bool {
    const s = this.state;
    return !this.finQueued && (s == TcpState.Established || s == TcpState.CloseWait || s == TcpState.SynSent || s == TcpState.SynReceived);
  }

  /**
   * Queues up to `len` bytes from `ptr`; returns how many were taken (0 when
   * the buffer is full: `writable` fires when there is room again), or a
   * negative TcpError when the connection cannot send.
   */
  send(ptr: usize, len: u32): i32 {
    if (!this.canSend()) return -<i32>(this.error != TcpError.None ? this.error : TcpError.Closed);
    if (!this.buffersAllocated) {
      // Passive connections get buffers when they become established.
      this.wantWrite = true;
      return 0;
    }
    const n = this.sndBuf.write(ptr, len);
    if (n < len) this.wantWrite = true;
    if (this.state == TcpState.Established || this.state == TcpState.CloseWait) this.output();
    this.stack.dispatch();
    return <i32>n;
  }

  /**
   * Reads up to `len` bytes into `ptr`. Returns the count, 0 when nothing is
   * there yet (`readable` fires later), -1 at end of stream, or another
   * negative TcpError after a reset.
   */
  recv(ptr: usize, len: u32): i32 {
    if (this.rcvBuf.len == 0) {
      if (this.error != TcpError.None && this.error != TcpError.Aborted) return -<i32>this.error;
      return this.peerFinReceived ? -1 : 0;
    }
    const n = this.rcvBuf.read(ptr, len);
    this.bytesReceived += n;
    this.maybeWindowUpdate();
    this.maybeFreeBuffers();
    this.stack.dispatch();
    return <i32>n;
  }

  /** Discards up to `len` readable bytes (a sink that does not need them). */
  discard(len: u32): u32 {
    const n = min(len, this.rcvBuf.len);
    this.rcvBuf.consume(n);
    this.bytesReceived += n;
    this.maybeWindowUpdate();
    this.maybeFreeBuffers();
    this.stack.dispatch();
    return n;
  }

  /**
   * Graceful close of our direction: a FIN follows the data already queued.
   * Reading stays possible until the peer closes too (half-close).
   */
  close(): void {
    switch (this.state) {
      case TcpState.SynSent:
        this.finish(TcpError.None, false);
        break;
      case TcpState.SynReceived:
      case TcpState.Established:
        this.queueFin();
        this.setState(TcpState.FinWait1);
        this.output();
        break;
      case TcpState.CloseWait:
        this.queueFin();
        this.setState(TcpState.LastAck);
        this.output();
        break;
      default:
        break;
    }
    this.stack.dispatch();
  }

  /** Ends the connection at once with a RST; queued data is dropped. No handler call follows. */
  abort(): void {
    const s = this.state;
    if (s == TcpState.Closed) return;
    if (s != TcpState.SynSent && s != TcpState.TimeWait && s != TcpState.Listen) {
      this.transmit(this.sndNxt, 0, TCP_RST | TCP_ACK);
      this.counters.resetsSent++;
    }
    this.handler = null;
    this.finish(TcpError.Aborted, false);
    this.stack.dispatch();
  }

  /**
   * An ICMP error about this connection, already matched to a sequence
   * number in flight by the stack. `hard`: protocol or port unreachable,
   * which ends a connection still in SYN-SENT (as Linux does; later, like
   * the soft errors, it is ignored: RFC 1122 4.2.3.9 lets TCP ride out
   * routing trouble). `mtu`: a fragmentation-needed error's next-hop MTU
   * (RFC 1191), else 0.
   */
  icmpError(hard: bool, mtu: u32): void {
    if (hard && this.state == TcpState.SynSent) {
      this.finish(TcpError.Refused, true);
      return;
    }
    if (mtu == 0 || !this.isSynchronized()) return;
    // Below 576 (the datagram every host takes, RFC 791) is not believed: a
    // forged tiny MTU would otherwise cut a connection to a trickle (RFC 5927 7.2).
    let m = max<u32>(mtu, 576) - 40;
    if (this.tsOk) m -= 12;
    if (m >= this.mss) return;
    this.mss = m;
    this.counters.pmtuUpdates++;
    // What is in flight was sent at the old size and is gone: send it again
    // at the new one. Not a congestion signal, so the window stays (Linux's
    // tcp_simple_retransmit); Karn: no RTT sample from the resent data.
    if (this.buffersAllocated && seqLt(this.sndUna, this.sndMax)) {
      this.sndNxt = this.sndUna;
      this.rttTiming = false;
      this.output();
    }
  }

  /** Switches the congestion controller (a fresh instance, starting from the current window). */
  setCongestion(proto: CongestionControl): void {
    const c = proto.fresh();
    c.init(this.mss, clock_ns());
    c.cwnd = this.cc.cwnd;
    c.ssthresh = this.cc.ssthresh;
    this.cc = c;
  }

  setNoDelay(on: bool): void {
    this.noDelay = on;
    if (on) this.output();
  }

  /** Keep-alive probes after `idleNs` without traffic, every `intvlNs`, `count` of them before giving up. */
  setKeepAlive(on: bool, idleNs: u64 = 0, intvlNs: u64 = 0, count: u32 = 0): void {
    this.cfg.keepAlive = on;
    if (idleNs) this.cfg.keepIdleNs = idleNs;
    if (intvlNs) this.cfg.keepIntvlNs = intvlNs;
    if (count) this.cfg.keepCount = count;
    this.keepAt = on && this.isSynchronized() ? clock_ns() + this.cfg.keepIdleNs : NEVER;
    this.armTimer();
  }

  /** Bytes sent and not yet acknowledged (sequence space). */
  @inline get inFlight(): u32 {
    return this.sndNxt - this.sndUna;
  }

  // =====================================================================
  // Setup
  // =====================================================================

  /** Allocates the buffers (charged to the stack's memory limit). */
  allocBuffers(): bool {
    if (this.buffersAllocated) return true;
    const need = this.cfg.sndBuf + this.cfg.rcvBuf;
    if (!this.stack.charge(need)) return false;
    if (!this.sndBuf.allocate(this.cfg.sndBuf)) {
      this.stack.uncharge(need);
      return false;
    }
    if (!this.rcvBuf.allocate(this.cfg.rcvBuf)) {
      this.sndBuf.release();
      this.stack.uncharge(need);
      return false;
    }
    this.memCharged = need;
    this.buffersAllocated = true;
    return true;
  }

  freeBuffers(): void {
    if (!this.buffersAllocated) return;
    this.sndBuf.release();
    this.rcvBuf.release();
    this.stack.uncharge(this.memCharged);
    this.memCharged = 0;
    this.buffersAllocated = false;
  }

  /** Our window-scale shift: the smallest that lets the whole receive buffer be advertised. */
  private chooseWscale(): u32 {
    let s: u32 = 0;
    while (s < 14 && (this.cfg.rcvBuf >> s) > 65535) s++;
    return s;
  }

  /** Active open: sends the SYN. */
  openActive(iss: u32): void {
    this.iss = iss;
    this.sndUna = iss;
    this.sndNxt = iss;
    this.sndMax = iss;
    this.sndBufSeq = iss + 1;
    this.recover = iss;
    this.highRxt = iss;
    this.advMss = this.stack.mssFor(this.remoteIp, this.cfg.mss);
    this.rcvWscale = this.cfg.windowScale ? this.chooseWscale() : 0;
    this.setState(TcpState.SynSent);
    this.sendSyn();
  }

  /** Passive open: `seg` is the SYN that arrived for a listener. Sends the SYN-ACK. */
  openPassive(seg: TcpRepr, iss: u32): void {
    this.irs = seg.seq;
    this.rcvNxt = seg.seq + 1;
    this.rcvAdvEdge = this.rcvNxt;
    this.iss = iss;
    this.sndUna = iss;
    this.sndNxt = iss;
    this.sndMax = iss;
    this.sndBufSeq = iss + 1;
    this.recover = iss;
    this.highRxt = iss;
    this.advMss = this.stack.mssFor(this.remoteIp, this.cfg.mss);
    this.takeSynOptions(seg);
    this.sndWnd = seg.window; // never scaled in a SYN
    this.maxSndWnd = this.sndWnd;
    this.sndWl1 = seg.seq;
    this.sndWl2 = 0;
    this.setState(TcpState.SynReceived);
    this.sendSyn();
  }

  /** Negotiates options from the peer's SYN (or SYN-ACK). */
  takeSynOptions(seg: TcpRepr): void {
    const cfg = this.cfg;
    this.wsOk = cfg.windowScale && seg.wscale >= 0;
    this.sndWscale = this.wsOk ? <u32>seg.wscale : 0;
    this.rcvWscale = this.wsOk ? this.chooseWscale() : 0;
    this.sackOk = cfg.sack && seg.sackPermitted;
    this.tsOk = cfg.timestamps && seg.hasTimestamp;
    if (this.tsOk) {
      this.tsRecent = seg.tsVal;
      this.tsRecentNs = clock_ns();
    }
    // RFC 9293 3.7.1: no MSS option means 536.
    const peerMss = seg.mss != 0 ? seg.mss : 536;
    this.mss = max<u32>(min<u32>(peerMss, this.advMss), 64);
    // Timestamps take 12 bytes of every segment (RFC 7323: the MSS excludes options).
    if (this.tsOk) this.mss -= 12;
  }

  /**
   * A connection born from a valid SYN cookie: the handshake completes with
   * the ACK `seg`; `mss` and the options come from the cookie.
   */
  openFromCookie(seg: TcpRepr, mss: u32, ws: i32, sackOk: bool): void {
    this.irs = seg.seq - 1;
    this.rcvNxt = seg.seq;
    this.rcvAdvEdge = this.rcvNxt;
    this.iss = seg.ack - 1;
    this.sndUna = this.iss;
    this.sndNxt = seg.ack;
    this.sndMax = seg.ack;
    this.sndBufSeq = seg.ack;
    this.recover = seg.ack;
    this.highRxt = seg.ack;
    this.advMss = this.stack.mssFor(this.remoteIp, this.cfg.mss);
    this.wsOk = ws >= 0 && this.cfg.windowScale;
    this.sndWscale = this.wsOk ? <u32>ws : 0;
    this.rcvWscale = this.wsOk ? this.chooseWscale() : 0;
    this.sackOk = sackOk && this.cfg.sack;
    this.tsOk = seg.hasTimestamp && this.cfg.timestamps;
    if (this.tsOk) {
      this.tsRecent = seg.tsVal;
      this.tsRecentNs = clock_ns();
    }
    this.mss = max<u32>(min<u32>(mss, this.advMss), 64);
    if (this.tsOk) this.mss -= 12;
    this.sndWl1 = seg.seq - 1;
    this.sndWl2 = this.iss;
    this.setState(TcpState.SynReceived);
  }

  private sendSyn(): void {
    const flags = this.state == TcpState.SynSent ? TCP_SYN : TCP_SYN | TCP_ACK;
    this.rttStartNs = clock_ns();
    this.transmit(this.iss, 0, flags);
    if (seqLe(this.sndNxt, this.iss)) this.sndNxt = this.iss + 1;
    this.sndMax = seqMax(this.sndMax, this.sndNxt);
    if (this.rtoAt == NEVER) this.rtoAt = clock_ns() + this.rtoNs;
    this.armTimer();
  }

  private queueFin(): void {
    if (this.finQueued) return;
    this.finQueued = true;
    this.finSeq = this.sndBufSeq + this.sndBuf.len;
  }

  @inline private finSent(): bool {
    return this.finQueued && seqGt(this.sndNxt, this.finSeq);
  }

  @inline private finAcked(): bool {
    return this.finQueued && seqGt(this.sndUna, this.finSeq);
  }

  isSynchronized(): bool {
    return this.state >= TcpState.Established || this.state == TcpState.SynReceived;
  }

  setState(s: TcpState): void {
    this.state = s;
  }

  // =====================================================================
  // Segment arrives (RFC 9293 3.10.7)
  // =====================================================================

  /** Processes `seg` (parsed, checksum verified) whose payload is at `payload`. */
  input(seg: TcpRepr, payload: usize): void {
    const now = clock_ns();
    this.lastRecvNs = now;
    this.keepProbes = 0;
    if (this.cfg.keepAlive && this.isSynchronized()) this.keepAt = now + this.cfg.keepIdleNs;
    if (this.state == TcpState.SynSent) this.synSentInput(seg, payload, now);
    else if (this.state != TcpState.Closed && this.state != TcpState.Listen) this.syncInput(seg, payload, now);
    if (this.state != TcpState.Closed) this.armTimer();
  }

  private synSentInput(seg: TcpRepr, payload: usize, now: u64): void {
    const c = this.counters;
    // 1. the ACK
    if (seg.has(TCP_ACK)) {
      if (seqLe(seg.ack, this.iss) || seqGt(seg.ack, this.sndMax)) {
        if (!seg.has(TCP_RST)) this.sendReset(seg.ack);
        c.dropBadAck++;
        return;
      }
    }
    // 2. RST: only with an acceptable ACK (RFC 5961 3: the ACK must acknowledge our SYN).
    if (seg.has(TCP_RST)) {
      if (seg.has(TCP_ACK)) {
        c.resetsReceived++;
        c.rstAccepted++;
        this.finish(TcpError.Refused, true);
      } else {
        c.rstIgnored++;
      }
      return;
    }
    // 4. SYN
    if (!seg.has(TCP_SYN)) {
      c.dropBadFlags++;
      return;
    }
    this.irs = seg.seq;
    this.rcvNxt = seg.seq + 1;
    this.rcvAdvEdge = this.rcvNxt;
    const savedWscale = this.rcvWscale;
    this.takeSynOptions(seg);
    if (!this.wsOk) this.rcvWscale = 0;
    else this.rcvWscale = savedWscale;
    if (seg.has(TCP_ACK)) {
      // Our SYN is acknowledged: established.
      this.sndUna = seg.ack;
      this.sndWnd = seg.window; // SYN-ACK windows are never scaled
      this.maxSndWnd = this.sndWnd;
      this.sndWl1 = seg.seq;
      this.sndWl2 = seg.ack;
      if (this.rttTiming || this.retries == 0) this.rttSample(now - this.rttStartNs);
      this.rttTiming = false;
      this.becomeEstablished(now);
      this.post(EV_CONNECTED);
      this.post(EV_WRITABLE);
      this.wantWrite = false;
      // Data in the SYN-ACK is unusual but legal: accept it after the SYN.
      if (seg.payloadLen > 0 || seg.has(TCP_FIN)) {
        seg.seq += 1;
        seg.flags &= ~TCP_SYN;
        this.syncInput(seg, payload, now);
        return;
      }
      this.ackNow = true;
      this.output();
    } else {
      // Simultaneous open (RFC 9293 3.5, figure 8): SYN-RECEIVED, SYN-ACK out.
      this.sndWnd = seg.window;
      this.maxSndWnd = this.sndWnd;
      this.sndWl1 = seg.seq;
      this.setState(TcpState.SynReceived);
      this.transmit(this.iss, 0, TCP_SYN | TCP_ACK);
    }
  }

  private becomeEstablished(now: u64): void {
    this.setState(TcpState.Established);
    this.counters.established++;
    this.retries = 0;
    this.rtoAt = NEVER;
    this.sndBufSeq = this.iss + 1;
    this.cc.init(this.mss, now);
    this.trace("init", now, 0);
    this.lastSendNs = now;
    if (this.cfg.keepAlive) this.keepAt = now + this.cfg.keepIdleNs;
  }

  /** RFC 9293 3.10.7.4: segment acceptability for synchronized states. */
  private acceptable(seq: u32, segLen: u32, wnd: u32): bool {
    if (segLen == 0) {
      if (wnd == 0) return seq == this.rcvNxt;
      return seqInRange(seq, this.rcvNxt, this.rcvNxt + wnd);
    }
    // RFC 9293 3.10.7.4 asks for "special allowance" for the ACK of a segment
    // at RCV.NXT when the window is zero: a zero-window probe (ours carry a
    // segment of data) must still deliver its ACK, or two peers whose windows
    // are both full never learn that either drained. Its data is cut below.
    if (wnd == 0) return seq == this.rcvNxt;
    return seqInRange(seq, this.rcvNxt, this.rcvNxt + wnd) || seqInRange(seq + segLen - 1, this.rcvNxt, this.rcvNxt + wnd);
  }

  /** The receive window the peer may fill: what we advertised, bounded by real space. */
  private rcvWindow(): u32 {
    const adv = seqGt(this.rcvAdvEdge, this.rcvNxt) ? this.rcvAdvEdge - this.rcvNxt : 0;
    if (!this.buffersAllocated) return adv;
    return min(adv, this.rcvBuf.free);
  }

  private syncInput(seg: TcpRepr, payload: usize, now: u64): void {
    const c = this.counters;
    let seq = seg.seq;
    let plen = seg.payloadLen;
    let syn = seg.has(TCP_SYN);
    let fin = seg.has(TCP_FIN);

    // RFC 7323 5.3 PAWS: an old timestamp marks an old duplicate.
    if (this.tsOk && seg.hasTimestamp && !seg.has(TCP_RST)) {
      if (seqLt(seg.tsVal, this.tsRecent)) {
        if (now - this.tsRecentNs > PAWS_IDLE_NS) {
          this.tsRecent = seg.tsVal; // idle so long the old value is meaningless
        } else {
          c.dropPaws++;
          this.ackNow = true;
          this.output();
          return;
        }
      }
    }

    // 1. sequence number check
    let wnd = this.rcvWindow();
    // SYN-RECEIVED advertised no scaled window yet; the SYN-ACK's is unscaled.
    const segLen = plen + (syn ? 1 : 0) + (fin ? 1 : 0);
    if (!this.acceptable(seq, segLen, wnd)) {
      if (seg.has(TCP_RST)) {
        c.rstIgnored++;
        return;
      }
      if (syn && this.state != TcpState.SynReceived) {
        // RFC 5961 4: any SYN on a synchronized connection draws a challenge ACK.
        c.synInSync++;
        this.challengeAck();
        return;
      }
      if (segLen > 0 && seqLt(seq + segLen, this.rcvNxt + 1)) c.duplicateSegments++;
      c.dropOutOfWindow++;
      if (this.state == TcpState.TimeWait && fin) this.lingerAt = now + this.cfg.timeWaitNs;
      this.ackNow = true;
      this.output();
      return;
    }
    // Trim to the window: bytes before rcvNxt were had already, bytes past the window are not taken.
    if (seqLt(seq, this.rcvNxt)) {
      let d = this.rcvNxt - seq;
      if (syn) {
        syn = false;
        seq++;
        d--;
      }
      if (d > plen) d = plen; // only a FIN could be left, handled below
      payload += d;
      plen -= d;
      seq += d;
      if (d > 0) c.duplicateSegments++;
    }
    if (plen > 0 && seqGt(seq + plen, this.rcvNxt + wnd)) {
      const keep = seqGt(this.rcvNxt + wnd, seq) ? this.rcvNxt + wnd - seq : 0;
      plen = keep;
      fin = false;
      this.ackNow = true; // the sender is probing or overran: tell it where the window is
    }

    // RFC 7323 4.3: remember the timestamp of a segment covering lastAckSent.
    if (this.tsOk && seg.hasTimestamp && seqLe(seg.seq, this.lastAckSent) && seqGe(seg.tsVal, this.tsRecent)) {
      this.tsRecent = seg.tsVal;
      this.tsRecentNs = now;
    }

    // 2. RST (RFC 5961 3.2): exact match resets, anything else in window is challenged.
    if (seg.has(TCP_RST)) {
      if (seg.seq != this.rcvNxt) {
        c.rstIgnored++;
        this.challengeAck();
        return;
      }
      c.rstAccepted++;
      c.resetsReceived++;
      if (this.state == TcpState.SynReceived && this.listener != null) {
        // Passive open reset by the peer: the half-open connection just goes away.
        this.finish(TcpError.None, false);
        return;
      }
      const s = this.state;
      if (s == TcpState.Closing || s == TcpState.LastAck || s == TcpState.TimeWait) this.finish(TcpError.None, true);
      else this.finish(s == TcpState.SynReceived ? TcpError.Refused : TcpError.Reset, true);
      return;
    }

    // 4. SYN in window (RFC 5961 4.2): challenge ACK, drop.
    if (syn) {
      c.synInSync++;
      this.challengeAck();
      return;
    }

    // 5. ACK
    if (!seg.has(TCP_ACK)) {
      c.dropBadFlags++;
      return;
    }
    if (this.state == TcpState.SynReceived) {
      if (!(seqGt(seg.ack, this.sndUna) && seqLe(seg.ack, this.sndMax))) {
        c.dropBadAck++;
        this.sendReset(seg.ack);
        return;
      }
      if (!this.allocBuffers()) {
        // The stack is at its memory limit (several handshakes passed the SYN
        // check before any of them took its buffers). Like Linux with a full
        // accept queue: ignore the ACK and stay half-open; the SYN-ACK
        // retransmission draws the ACK again, by when memory may be free, and
        // the half-open connection gives up as usual if it never is.
        c.memoryRefused++;
        return;
      }
      this.sndWnd = seg.window << this.sndWscale;
      this.maxSndWnd = max(this.maxSndWnd, this.sndWnd);
      this.sndWl1 = seg.seq;
      this.sndWl2 = seg.ack;
      if (this.retries == 0 && !this.tsOk) this.rttSample(now - this.rttStartNs);
      this.sndUna = seg.ack;
      if (seqLt(this.sndNxt, this.sndUna)) this.sndNxt = this.sndUna;
      this.becomeEstablished(now);
      this.stack.established(this);
    }
    if (!this.processAck(seg, now)) return;
    if (this.state == TcpState.Closed) return;

    // 7. segment text
    if (plen > 0) {
      const s = this.state;
      if (s == TcpState.Established || s == TcpState.FinWait1 || s == TcpState.FinWait2) {
        this.receiveData(seq, payload, plen, now);
      } else {
        // After the peer's FIN no more data can be legitimate.
        c.dropDataAfterClose++;
        this.ackNow = true;
      }
    }

    // 8. FIN
    if (fin) {
      const finAt = seq + plen;
      if (finAt == this.rcvNxt) this.receiveFin(now);
      else if (seqGt(finAt, this.rcvNxt) && !this.peerFinReceived) {
        this.peerFinPending = true;
        this.peerFinSeq = finAt;
        this.ackNow = true;
      }
    }
    if (this.state != TcpState.Closed) this.output();
  }

  /** Step 5 of segment processing. Returns false if the segment must be dropped. */
  private processAck(seg: TcpRepr, now: u64): bool {
    const c = this.counters;
    const ack = seg.ack;
    // RFC 5961 5.2: acceptable ACKs lie in [SND.UNA - MAX.SND.WND, SND.NXT].
    if (seqGt(ack, this.sndMax)) {
      c.dropBadAck++;
      this.challengeAck();
      return false;
    }
    if (seqLt(ack, this.sndUna - this.maxSndWnd)) {
      c.dropBadAck++;
      this.challengeAck();
      return false;
    }
    const win = seg.window << this.sndWscale;
    const s = this.state;
    if (s == TcpState.TimeWait) {
      return true;
    }
    // SACK blocks first: a duplicate ACK is one that brings new SACK information.
    let newSack = false;
    if (this.sackOk && seg.sackCount > 0) newSack = this.takeSack(seg);

    const flightBefore = this.sndMax - this.sndUna;
    if (seqGt(ack, this.sndUna)) {
      this.newAck(ack, seg, flightBefore, now);
    } else if (ack == this.sndUna) {
      const isDup = this.sndMax != this.sndUna && seg.payloadLen == 0 && !seg.has(TCP_FIN) &&
        (this.sackOk ? newSack || (seg.sackCount == 0 && win == this.sndWnd) : win == this.sndWnd);
      if (isDup) this.dupAck(now);
    }
    // Window update (RFC 9293 3.10.7.4 fifth check).
    if (seqLt(this.sndWl1, seg.seq) || (this.sndWl1 == seg.seq && seqLe(this.sndWl2, ack))) {
      const opened = this.sndWnd == 0 && win > 0;
      this.sndWnd = win;
      if (win > this.maxSndWnd) this.maxSndWnd = win;
      this.sndWl1 = seg.seq;
      this.sndWl2 = ack;
      if (opened) {
        this.persistAt = NEVER;
        this.persistBackoff = 0;
      }
    }
    // Our FIN acknowledged?
    if (this.finAcked()) {
      if (s == TcpState.FinWait1) {
        this.setState(TcpState.FinWait2);
        this.lingerAt = now + this.cfg.finWait2Ns;
      } else if (s == TcpState.Closing) {
        this.enterTimeWait(now);
      } else if (s == TcpState.LastAck) {
        this.finish(TcpError.None, true);
        return false;
      }
    }
    return true;
  }

  /** Reads SACK blocks into the scoreboard. Returns whether they added anything. */
  private takeSack(seg: TcpRepr): bool {
    const before = this.scoreboard.bytes();
    for (let i = 0; i < seg.sackCount; i++) {
      let l = unchecked(seg.sackLeft[i]);
      const r = unchecked(seg.sackRight[i]);
      // Blocks must lie within what we sent; D-SACKs (below SND.UNA) carry nothing for recovery.
      if (!seqLt(l, r) || seqLe(r, this.sndUna) || seqGt(r, this.sndMax)) continue;
      if (seqLt(l, this.sndUna)) l = this.sndUna;
      this.scoreboard.addLossy(l, r);
    }
    return this.scoreboard.bytes() > before;
  }

  private newAck(ack: u32, seg: TcpRepr, flightBefore: u32, now: u64): void {
    const c = this.counters;
    let acked = ack - this.sndUna;
    // RTT: from the echoed timestamp (valid even for retransmissions), else Karn's timed segment.
    if (this.tsOk && seg.hasTimestamp && seg.tsEcr != 0) {
      const ms = this.stack.tsNow() - seg.tsEcr;
      if (<i32>ms >= 0) this.rttSample(<u64>ms * 1_000_000);
    } else if (this.rttTiming && seqGt(ack, this.rttSeq)) {
      this.rttSample(now - this.rttStartNs);
      this.rttTiming = false;
    }
    // Free acknowledged bytes (SYN and FIN occupy sequence space but no buffer).
    if (seqGt(ack, this.sndBufSeq) && this.buffersAllocated) {
      const n = min<u32>(ack - this.sndBufSeq, this.sndBuf.len);
      this.sndBuf.consume(n);
      this.sndBufSeq += n;
      this.bytesSent += n;
    }
    this.sndUna = ack;
    if (seqLt(this.sndNxt, ack)) this.sndNxt = ack;
    if (seqLt(this.highRxt, ack)) this.highRxt = ack;
    this.scoreboard.trimBelow(ack);
    this.retries = 0;
    this.dupAcks = 0;
    if (this.inRecovery) {
      if (seqGe(ack, this.recover)) {
        this.inRecovery = false;
        this.inflate = 0;
        this.cc.onRecoveryEnd(this.sndMax - this.sndUna, now);
        this.trace("exit", now, acked);
      } else if (!this.sackOk) {
        // RFC 6582 partial ACK: retransmit the next hole, deflate by what was acked.
        this.retransmitUna();
        this.inflate = this.inflate > acked ? this.inflate - acked : 0;
        if (acked >= this.mss) this.inflate += this.mss;
      }
    } else {
      // Grow only when the window, not the app, limited the sender.
      const cwnd = this.cc.cwnd;
      const limited = this.cc.inSlowStart() ? flightBefore * 2 > cwnd : flightBefore + 3 * this.mss >= cwnd;
      if (limited) {
        this.cc.onAck(acked, flightBefore, this.srttNs, now);
        this.trace("ack", now, acked);
      }
    }
    // RFC 6298 5.2/5.3: stop the timer when all is acked, else restart it.
    this.rtoAt = this.sndUna == this.sndMax ? NEVER : now + this.rtoNs;
    if (this.wantWrite && this.buffersAllocated && this.sndBuf.free >= this.sndBuf.cap / 4 && this.canSend()) {
      this.wantWrite = false;
      this.post(EV_WRITABLE);
    }
    void c;
  }

  private dupAck(now: u64): void {
    const c = this.counters;
    c.dupAcks++;
    this.dupAcks++;
    if (this.inRecovery) {
      if (!this.sackOk) this.inflate += this.mss; // RFC 6582 / 5681: each dup ACK means a segment left
      return;
    }
    // RFC 6582 4.1 (and 6675 after an RTO): no new recovery until everything sent before the last one is acked.
    if (seqLt(this.sndUna, this.recover)) return;
    const lost = this.dupAcks >= DUP_THRESH || (this.sackOk && this.sackedAbove(this.sndUna) > (DUP_THRESH - 1) * this.mss);
    if (lost) this.enterRecovery(now);
  }

  private enterRecovery(now: u64): void {
    const c = this.counters;
    const flight = this.sndMax - this.sndUna;
    this.inRecovery = true;
    this.recover = this.sndMax;
    this.fastRecoveries++;
    this.cc.onLoss(flight, now);
    this.trace("loss", now, 0);
    this.rttTiming = false;
    if (this.sackOk) {
      c.sackRecoveries++;
      this.highRxt = this.sndUna;
      // The first retransmission goes out whatever pipe says (RFC 6675 5 step 4.3).
      this.retransmitUna();
      this.highRxt = seqMax(this.highRxt, this.sndUna + min(this.mss, this.holeEnd(this.sndUna) - this.sndUna));
    } else {
      c.fastRetransmits++;
      this.retransmitUna();
      this.inflate = DUP_THRESH * this.mss;
    }
  }

  /** End of the unsacked run that starts at `x` (the next SACK block's left edge, or sndMax). */
  private holeEnd(x: u32): u32 {
    const sb = this.scoreboard;
    for (let i = 0; i < sb.count; i++) if (seqGt(sb.left(i), x)) return sb.left(i);
    return this.sndMax;
  }

  private sackedAbove(x: u32): u32 {
    const sb = this.scoreboard;
    let n: u32 = 0;
    for (let i = 0; i < sb.count; i++) {
      if (seqGe(sb.left(i), x)) n += sb.right(i) - sb.left(i);
      else if (seqGt(sb.right(i), x)) n += sb.right(i) - x;
    }
    return n;
  }

  /** Sends one segment from sndUna (fast retransmit, partial ACK). */
  private retransmitUna(): void {
    const end = this.finQueued ? this.finSeq + 1 : this.sndBufSeq + this.sndBuf.len;
    let len = min<u32>(this.mss, this.dataEnd() - this.sndUna);
    if (this.sackOk) len = min<u32>(len, this.holeEnd(this.sndUna) - this.sndUna);
    let flags = TCP_ACK;
    if (this.finQueued && this.sndUna + len == this.finSeq && seqLt(this.finSeq, this.sndMax)) flags |= TCP_FIN;
    if (len == 0 && !(flags & TCP_FIN)) {
      if (this.finQueued && this.sndUna == this.finSeq) flags |= TCP_FIN;
      else return;
    }
    this.noteRetransmit(len);
    this.transmit(this.sndUna, len, flags);
    void end;
  }

  private noteRetransmit(len: u32): void {
    this.retransmits++;
    this.counters.retransSegments++;
    this.counters.retransBytes += len;
    if (this.rttTiming && !this.tsOk) this.rttTiming = false; // Karn
  }

  /** Sequence number just past the last data byte queued. */
  @inline private dataEnd(): u32 {
    return this.sndBufSeq + this.sndBuf.len;
  }

  private receiveData(seq: u32, p: usize, n: u32, now: u64): void {
    const c = this.counters;
    const rb = this.rcvBuf;
    if (!this.buffersAllocated) return;
    if (seq == this.rcvNxt) {
      rb.writeAt(rb.len, p, n);
      rb.commit(n);
      this.rcvNxt += n;
      c.rxBytes += n;
      let filled = false;
      const o = this.ooo;
      if (o.count > 0 && seqLe(o.left(0), this.rcvNxt)) {
        // The segment reached held out-of-order data: it becomes readable in place.
        const r = o.right(0);
        if (seqGt(r, this.rcvNxt)) {
          rb.commit(r - this.rcvNxt);
          this.rcvNxt = r;
        }
        o.trimBelow(this.rcvNxt);
        filled = true;
      }
      if (this.peerFinPending && this.peerFinSeq == this.rcvNxt) {
        this.peerFinPending = false;
        this.receiveFin(now);
      }
      this.post(EV_READABLE);
      this.ackPendingBytes += n;
      if (filled || o.count > 0 || this.quickAcks > 0 || this.ackPendingBytes >= 2 * this.advMss) {
        if (this.quickAcks > 0) this.quickAcks--;
        this.ackNow = true;
      } else if (this.delackAt == NEVER) {
        this.delackAt = now + this.cfg.delAckNs;
        c.delayedAcks++;
      }
    } else {
      // Out of order: place it where it will be read, remember the range, ACK at once (RFC 5681 4.2).
      c.oooSegments++;
      const off = rb.len + (seq - this.rcvNxt);
      if (off + n > rb.cap) {
        c.dropOutOfWindow++;
      } else if (this.ooo.add(seq, seq + n)) {
        rb.writeAt(off, p, n);
        this.lastOooLeft = seq;
      } else c.dropOooFull++;
      this.ackNow = true;
    }
  }

  private receiveFin(now: u64): void {
    if (this.peerFinReceived) return;
    this.peerFinReceived = true;
    this.peerFinPending = false;
    this.rcvNxt += 1;
    this.ackNow = true;
    this.post(EV_READABLE);
    switch (this.state) {
      case TcpState.SynReceived:
      case TcpState.Established:
        this.setState(TcpState.CloseWait);
        break;
      case TcpState.FinWait1:
        if (this.finAcked()) this.enterTimeWait(now);
        else this.setState(TcpState.Closing);
        break;
      case TcpState.FinWait2:
        this.enterTimeWait(now);
        break;
      default:
        break;
    }
  }

  private enterTimeWait(now: u64): void {
    this.setState(TcpState.TimeWait);
    this.rtoAt = NEVER;
    this.persistAt = NEVER;
    this.keepAt = NEVER;
    this.delackAt = NEVER;
    this.lingerAt = now + this.cfg.timeWaitNs;
    // The app is done with it: only the TCB lingers, its buffers go back now.
    this.post(EV_CLOSED);
    this.maybeFreeBuffers();
  }

  /** Frees the buffers once nothing in them matters: closed or TIME-WAIT, and nothing left to read. */
  maybeFreeBuffers(): void {
    const s = this.state;
    if ((s == TcpState.Closed || s == TcpState.TimeWait) && (this.rcvBuf.len == 0 || this.error != TcpError.None)) this.freeBuffers();
  }

  // =====================================================================
  // Output
  // =====================================================================

  /** Sends what the windows, Nagle and the ACK policy allow. */
  output(): void {
    const s = this.state;
    if (s == TcpState.Closed || s == TcpState.Listen || s == TcpState.SynSent) return;
    if (s == TcpState.SynReceived) {
      if (this.ackNow) this.transmit(this.iss, 0, TCP_SYN | TCP_ACK);
      return;
    }
    const now = clock_ns();
    let sent = false;
    if (s != TcpState.TimeWait && this.buffersAllocated) {
      if (this.sndMax == this.sndUna && now - this.lastSendNs > this.rtoNs && this.cc.cwnd > 0) {
        this.cc.onIdle(now);
        this.trace("idle", now, 0);
      }
      sent = this.inRecovery && this.sackOk ? this.sendSackRecovery(now) : this.sendNormal(now);
      // A FIN alone (no data left to carry it).
      if (this.finQueued && !this.finSent() && this.sndNxt == this.finSeq && !this.inRecovery) {
        this.transmit(this.sndNxt, 0, TCP_FIN | TCP_ACK);
        this.advance(this.sndNxt + 1, now);
        sent = true;
      }
      this.checkPersist(now);
    }
    if (!sent && (this.ackNow || this.ackPendingBytes >= 2 * this.advMss)) this.transmit(this.ackSeq(), 0, TCP_ACK);
    // Called from app calls too, outside segment processing: deadlines set here must be armed here.
    this.armTimer();
  }

  /** New data, and go-back-N retransmission after an RTO. */
  private sendNormal(now: u64): bool {
    let sent = false;
    const end = this.dataEnd();
    for (;;) {
      // After an RTO, skip what the peer already SACKed again.
      if (seqLt(this.sndNxt, this.sndMax) && this.sackOk) {
        const i = this.scoreboard.find(this.sndNxt);
        if (i >= 0) {
          this.sndNxt = seqMin(this.scoreboard.right(i), this.sndMax);
          continue;
        }
      }
      const flight = this.sndNxt - this.sndUna;
      const extra = !this.inRecovery && this.dupAcks > 0 && this.dupAcks < DUP_THRESH ? this.dupAcks * this.mss : 0; // RFC 3042
      const cw = this.cc.cwnd + this.inflate + extra;
      const win = min(cw, this.sndWnd + (seqGt(this.sndNxt, this.sndUna) ? 0 : 0));
      if (!seqLt(this.sndNxt, end)) break;
      if (flight >= win) break;
      const avail = end - this.sndNxt;
      let len = min(min(this.mss, win - flight), avail);
      if (seqLt(this.sndNxt, this.sndMax)) len = min(len, this.sndMax - this.sndNxt);
      const retx = seqLt(this.sndNxt, this.sndMax);
      if (len < this.mss && !retx) {
        // Sender SWS avoidance and Nagle (RFC 9293 3.8.6.2.1): a short segment only if it is
        // everything queued and nothing is in flight (or Nagle is off), or half the peer's max window.
        const all = len == avail;
        const nagleOk = this.noDelay || flight == 0 || this.finQueued;
        if (!(all && nagleOk) && len < this.maxSndWnd / 2) break;
        if (len == 0) break;
      }
      let flags = TCP_ACK;
      if (this.sndNxt + len == end) flags |= TCP_PSH;
      if (this.finQueued && this.sndNxt + len == this.finSeq) flags |= TCP_FIN;
      if (retx) this.noteRetransmit(len);
      else if (!this.rttTiming && !this.tsOk) {
        this.rttTiming = true;
        this.rttSeq = this.sndNxt;
        this.rttStartNs = now;
      }
      this.transmit(this.sndNxt, len, flags);
      this.advance(this.sndNxt + len + (flags & TCP_FIN ? 1 : 0), now);
      sent = true;
    }
    return sent;
  }

  /** RFC 6675 5 step (C): retransmit lost data, else send new data, while cwnd - pipe >= 1 SMSS. */
  private sendSackRecovery(now: u64): bool {
    let sent = false;
    const end = this.dataEnd();
    for (let guard = 0; guard < 1024; guard++) {
      const lostEdge = this.lostEdge();
      const pipe = this.pipe(lostEdge);
      if (pipe + this.mss > this.cc.cwnd) break;
      // Rule 1: the first lost, unsacked byte at or above HighRxt.
      let seq = seqMax(this.highRxt, this.sndUna);
      let len: u32 = 0;
      let found = false;
      for (;;) {
        if (!seqLt(seq, lostEdge)) break;
        const i = this.scoreboard.find(seq);
        if (i >= 0) {
          seq = this.scoreboard.right(i);
          continue;
        }
        len = min<u32>(this.mss, this.holeEnd(seq) - seq);
        found = len > 0;
        break;
      }
      if (found) {
        len = min<u32>(len, this.dataEnd() - seq);
        let flags = TCP_ACK;
        if (len == 0) {
          if (this.finQueued && seq == this.finSeq) flags |= TCP_FIN;
          else break;
        } else if (this.finQueued && seq + len == this.finSeq && seqLt(this.finSeq, this.sndMax)) flags |= TCP_FIN;
        this.noteRetransmit(len);
        this.transmit(seq, len, flags);
        this.highRxt = seq + len + (flags & TCP_FIN ? 1 : 0);
        sent = true;
        continue;
      }
      // Rule 2: new data, within the peer's window.
      if (seqLt(this.sndNxt, end)) {
        const flight = this.sndNxt - this.sndUna;
        if (flight < this.sndWnd) {
          let n = min(min(this.mss, end - this.sndNxt), this.sndWnd - flight);
          if (n > 0) {
            let flags = TCP_ACK;
            if (this.finQueued && this.sndNxt + n == this.finSeq) flags |= TCP_FIN;
            this.transmit(this.sndNxt, n, flags);
            this.advance(this.sndNxt + n + (flags & TCP_FIN ? 1 : 0), now);
            sent = true;
            continue;
          }
        }
      }
      // Rule 3: the first unsacked byte above HighRxt even if not yet deemed lost.
      let s3 = seqMax(this.highRxt, this.sndUna);
      let ok = false;
      while (seqLt(s3, this.sndMax)) {
        const i = this.scoreboard.find(s3);
        if (i < 0) {
          ok = true;
          break;
        }
        s3 = this.scoreboard.right(i);
      }
      if (!ok || this.scoreboard.count == 0) break;
      let n3 = min<u32>(this.mss, this.holeEnd(s3) - s3);
      n3 = min<u32>(n3, this.dataEnd() - s3);
      if (n3 == 0) break;
      this.noteRetransmit(n3);
      this.transmit(s3, n3, TCP_ACK);
      this.highRxt = s3 + n3;
      sent = true;
    }
    return sent;
  }

  /** Unsacked bytes below the returned sequence number are lost (RFC 6675 IsLost). */
  private lostEdge(): u32 {
    const sb = this.scoreboard;
    let above: u32 = 0;
    for (let i = sb.count - 1; i >= 0; i--) {
      above += sb.right(i) - sb.left(i);
      if (above > (DUP_THRESH - 1) * this.mss || sb.count - i >= <i32>DUP_THRESH) return sb.left(i);
    }
    return this.sndUna;
  }

  /** RFC 6675 SetPipe: bytes believed in the network. */
  pipe(lostEdge: u32): u32 {
    const sb = this.scoreboard;
    let pipe: u32 = 0;
    let a = this.sndUna;
    for (let i = 0; i <= sb.count; i++) {
      const b = i < sb.count ? sb.left(i) : this.sndMax;
      if (seqLt(a, b)) {
        // the hole [a, b)
        const lostEnd = seqMin(b, seqMax(lostEdge, a));
        pipe += b - lostEnd; // not lost: in flight
        const rxEnd = seqMin(b, seqMax(this.highRxt, a));
        pipe += rxEnd - a; // retransmitted
      }
      if (i < sb.count) a = seqMax(a, sb.right(i));
    }
    return pipe;
  }

  private advance(nxt: u32, now: u64): void {
    this.sndNxt = nxt;
    if (seqGt(nxt, this.sndMax)) this.sndMax = nxt;
    if (this.rtoAt == NEVER) this.rtoAt = now + this.rtoNs;
    this.lastSendNs = now;
  }

  /** Zero window with data waiting and nothing in flight: probe (persist timer). */
  private checkPersist(now: u64): void {
    if (this.sndWnd == 0 && this.sndUna == this.sndMax && seqLt(this.sndNxt, this.dataEnd())) {
      if (this.persistAt == NEVER) {
        const base = max<u64>(this.rtoNs, this.cfg.minRtoNs);
        this.persistAt = now + min<u64>(base << min<u32>(this.persistBackoff, 16), this.cfg.maxRtoNs);
      }
    } else if (this.sndWnd != 0) this.persistAt = NEVER;
  }

  /** Builds and sends one segment: `len` bytes from the send buffer at `seq`. */
  transmit(seq: u32, len: u32, flags: u32): void {
    const st = this.stack;
    const r = st.txRepr;
    r.srcPort = this.localPort;
    r.dstPort = this.remotePort;
    r.seq = seq;
    r.flags = flags;
    r.urgent = 0;
    r.clearOptions();
    const syn = (flags & TCP_SYN) != 0;
    if (syn) {
      r.mss = this.advMss;
      const active = this.state == TcpState.SynSent;
      if (active ? this.cfg.windowScale : this.wsOk) r.wscale = <i32>this.rcvWscale;
      r.sackPermitted = active ? this.cfg.sack : this.sackOk;
    }
    if (syn ? (this.state == TcpState.SynSent ? this.cfg.timestamps : this.tsOk) : this.tsOk) {
      r.hasTimestamp = true;
      r.tsVal = st.tsNow();
      r.tsEcr = this.state == TcpState.SynSent ? 0 : this.tsRecent;
    }
    if ((flags & TCP_ACK) != 0) {
      r.ack = this.rcvNxt;
      if (this.sackOk && this.ooo.count > 0 && !syn) this.fillSack(r);
    } else r.ack = 0;
    // Window
    if (syn) {
      r.window = min<u32>(this.cfg.rcvBuf, 65535);
      // The SYN-ACK's window is the first the peer may fill.
      if ((flags & TCP_ACK) != 0 && seqGt(this.rcvNxt + r.window, this.rcvAdvEdge)) this.rcvAdvEdge = this.rcvNxt + r.window;
    }
    else if (flags & TCP_RST) r.window = 0;
    else r.window = this.windowField();
    r.payloadLen = len;
    const buf = st.txBuf;
    const hl = TCP_HEADER_LEN + r.optionsLen();
    if (len > 0) this.sndBuf.readAt(seq - this.sndBufSeq, buf + hl, len);
    const n = r.emit(buf, this.localIp, this.remoteIp);
    st.counters.txSegments++;
    st.counters.txBytes += len;
    st.out.send(this.localIp, this.remoteIp, buf, n);
    if ((flags & TCP_ACK) != 0) {
      this.lastAckSent = this.rcvNxt;
      this.ackNow = false;
      this.ackPendingBytes = 0;
      this.delackAt = NEVER;
    }
  }

  /** SACK blocks (RFC 2018 4): the most recently changed range first, then the others. */
  private fillSack(r: TcpRepr): void {
    const o = this.ooo;
    const maxBlocks = r.hasTimestamp ? 3 : 4;
    let k = 0;
    const first = o.find(this.lastOooLeft);
    if (first >= 0) {
      unchecked((r.sackLeft[k] = o.left(first)));
      unchecked((r.sackRight[k] = o.right(first)));
      k++;
    }
    for (let i = o.count - 1; i >= 0 && k < maxBlocks; i--) {
      if (i == first) continue;
      unchecked((r.sackLeft[k] = o.left(i)));
      unchecked((r.sackRight[k] = o.right(i)));
      k++;
    }
    r.sackCount = k;
  }

  /** The window field to advertise, with receiver SWS avoidance (RFC 9293 3.8.6.2.2). */
  private windowField(): u32 {
    const cap = this.buffersAllocated ? this.rcvBuf.cap : this.cfg.rcvBuf;
    const space = this.buffersAllocated ? this.rcvBuf.free : this.cfg.rcvBuf;
    const cur = seqGt(this.rcvAdvEdge, this.rcvNxt) ? this.rcvAdvEdge - this.rcvNxt : 0;
    let wnd = space;
    // Raise the right edge only by a worthwhile amount.
    if (wnd > cur && wnd - cur < min(cap / 2, this.advMss)) wnd = cur;
    let field = wnd >> this.rcvWscale;
    if (field > 65535) field = 65535;
    const edge = this.rcvNxt + (field << this.rcvWscale);
    if (seqGt(edge, this.rcvAdvEdge)) this.rcvAdvEdge = edge;
    return field;
  }

  /** After the app read: tell the peer if the window opened a worthwhile amount. */
  private maybeWindowUpdate(): void {
    if (!this.isSynchronized() || this.peerFinReceived || !this.buffersAllocated) return;
    const cur = seqGt(this.rcvAdvEdge, this.rcvNxt) ? this.rcvAdvEdge - this.rcvNxt : 0;
    const space = this.rcvBuf.free;
    const step = min(this.rcvBuf.cap / 2, 2 * this.advMss);
    if (space > cur && space - cur >= step) {
      this.ackNow = true;
      this.output();
    }
  }

  /**
   * The sequence number of a pure ACK: SND.NXT, unless a probe or a shrunk
   * window put SND.NXT past the peer's right edge. A peer with a zero window
   * accepts only SEG.SEQ = RCV.NXT, so an ACK sent from SND.NXT would be
   * dropped unread, and each side would keep answering the other's
   * unacceptable ACKs while neither learns anything (Linux:
   * tcp_acceptable_seq).
   */
  private ackSeq(): u32 {
    const edge = this.sndUna + this.sndWnd;
    return seqGt(this.sndNxt, edge) ? edge : this.sndNxt;
  }

  /** RFC 5961 challenge ACK, rate-limited stack-wide. */
  private challengeAck(): void {
    if (this.stack.takeChallengeAck()) {
      this.counters.challengeAcks++;
      this.transmit(this.ackSeq(), 0, TCP_ACK);
    } else this.counters.challengeAcksLimited++;
  }

  private sendReset(seq: u32): void {
    this.stack.sendReset(this.localIp, this.localPort, this.remoteIp, this.remotePort, seq, 0, false);
  }

  // =====================================================================
  // RTT and timers
  // =====================================================================

  private rttSample(r: u64): void {
    if (this.srttNs == 0) {
      this.srttNs = max<u64>(r, 1);
      this.rttvarNs = r / 2;
    } else {
      const d = this.srttNs > r ? this.srttNs - r : r - this.srttNs;
      this.rttvarNs = (3 * this.rttvarNs + d) / 4;
      this.srttNs = max<u64>((7 * this.srttNs + r) / 8, 1);
    }
    let rto = this.srttNs + max<u64>(CLOCK_GRANULARITY_NS, 4 * this.rttvarNs);
    if (rto < this.cfg.minRtoNs) rto = this.cfg.minRtoNs;
    if (rto > this.cfg.maxRtoNs) rto = this.cfg.maxRtoNs;
    this.rtoNs = rto;
  }

  /** Arms the one scheduler timer at the earliest deadline, if that moved earlier. */
  armTimer(): void {
    let t = this.rtoAt;
    if (this.delackAt < t) t = this.delackAt;
    if (this.persistAt < t) t = this.persistAt;
    if (this.keepAt < t) t = this.keepAt;
    if (this.lingerAt < t) t = this.lingerAt;
    if (t >= this.armedAt) return;
    const sched = this.stack.sched;
    if (this.armedAt != NEVER) sched.cancelTimer(this.timerId);
    this.armedAt = t;
    this.timerId = sched.at(this.timer, t);
  }

  disarm(): void {
    if (this.armedAt != NEVER) this.stack.sched.cancelTimer(this.timerId);
    this.armedAt = NEVER;
    this.rtoAt = NEVER;
    this.delackAt = NEVER;
    this.persistAt = NEVER;
    this.keepAt = NEVER;
    this.lingerAt = NEVER;
  }

  /** The timer fired: handle every deadline that is due. */
  onTimer(): void {
    this.armedAt = NEVER;
    if (this.state == TcpState.Closed) return;
    const now = clock_ns();
    if (this.lingerAt <= now) {
      this.lingerAt = NEVER;
      if (this.state == TcpState.TimeWait) {
        this.finish(TcpError.None, false);
        this.stack.dispatch();
        return;
      }
      if (this.state == TcpState.FinWait2) {
        this.counters.timeouts++;
        this.finish(TcpError.TimedOut, true);
        this.stack.dispatch();
        return;
      }
    }
    if (this.rtoAt <= now) this.onRto(now);
    if (this.state != TcpState.Closed && this.delackAt <= now) {
      this.delackAt = NEVER;
      this.ackNow = true;
      this.output();
    }
    if (this.state != TcpState.Closed && this.persistAt <= now) this.onPersist(now);
    if (this.state != TcpState.Closed && this.keepAt <= now) this.onKeepAlive(now);
    if (this.state != TcpState.Closed) this.armTimer();
    this.stack.dispatch();
  }

  private onRto(now: u64): void {
    const c = this.counters;
    this.rtoAt = NEVER;
    const s = this.state;
    if (s == TcpState.SynSent || s == TcpState.SynReceived) {
      const limit = s == TcpState.SynSent ? this.cfg.synRetries : this.cfg.synAckRetries;
      if (++this.retries > limit) {
        c.timeouts++;
        this.finish(TcpError.TimedOut, this.listener == null);
        return;
      }
      if (s == TcpState.SynReceived) c.synAckRetransmits++;
      this.rtoNs = min<u64>(this.rtoNs * 2, this.cfg.maxRtoNs);
      this.rttTiming = false;
      this.transmit(this.iss, 0, s == TcpState.SynSent ? TCP_SYN : TCP_SYN | TCP_ACK);
      this.rtoAt = now + this.rtoNs;
      return;
    }
    if (this.sndUna == this.sndMax) return;
    c.rtoExpirations++;
    this.timeouts++;
    if (++this.retries > this.cfg.maxRetries) {
      c.timeouts++;
      this.transmit(this.sndNxt, 0, TCP_RST | TCP_ACK);
      c.resetsSent++;
      this.finish(TcpError.TimedOut, true);
      return;
    }
    // RFC 6298 5.5-5.7: back off, retransmit the earliest unacknowledged segment.
    this.rtoNs = min<u64>(this.rtoNs * 2, this.cfg.maxRtoNs);
    this.cc.onTimeout(this.sndMax - this.sndUna, this.retries == 1, now);
    this.trace("rto", now, 0);
    this.inRecovery = false;
    this.inflate = 0;
    this.dupAcks = 0;
    this.recover = this.sndMax;
    // RFC 2018 8: the receiver may have reneged; forget SACK state.
    this.scoreboard.clear();
    this.highRxt = this.sndUna;
    this.sndNxt = this.sndUna;
    this.rttTiming = false;
    this.rtoAt = now + this.rtoNs;
    if (this.buffersAllocated) {
      const wasWnd = this.sndWnd;
      if (this.sndWnd == 0) this.sndWnd = 1; // let one segment go as a probe
      this.sendNormal(now);
      this.sndWnd = wasWnd;
      if (this.finQueued && this.sndNxt == this.finSeq && !this.finSent()) {
        this.transmit(this.sndNxt, 0, TCP_FIN | TCP_ACK);
        this.advance(this.sndNxt + 1, now);
      }
      if (this.sndNxt == this.sndUna) {
        // nothing went (window): retransmit anyway
        this.retransmitUna();
        this.sndNxt = seqMax(this.sndNxt, this.sndUna + min<u32>(this.mss, this.sndMax - this.sndUna));
      }
    } else {
      this.retransmitUna();
    }
  }

  private onPersist(now: u64): void {
    this.persistAt = NEVER;
    if (this.sndWnd != 0 || !seqLt(this.sndNxt, this.dataEnd())) return;
    this.counters.zeroWindowProbes++;
    // A probe one byte below the window: the peer must answer with its current window.
    this.transmit(this.sndUna - 1, 0, TCP_ACK);
    this.persistBackoff++;
    this.checkPersist(now);
  }

  private onKeepAlive(now: u64): void {
    this.keepAt = NEVER;
    if (!this.cfg.keepAlive || !this.isSynchronized() || this.state == TcpState.TimeWait) return;
    const idle = now - this.lastRecvNs;
    if (idle < this.cfg.keepIdleNs && this.keepProbes == 0) {
      this.keepAt = this.lastRecvNs + this.cfg.keepIdleNs;
      return;
    }
    if (this.keepProbes >= this.cfg.keepCount) {
      this.counters.keepaliveDrops++;
      this.transmit(this.sndNxt, 0, TCP_RST | TCP_ACK);
      this.finish(TcpError.TimedOut, true);
      return;
    }
    this.keepProbes++;
    this.counters.keepaliveProbes++;
    this.transmit(this.sndUna - 1, 0, TCP_ACK);
    this.keepAt = now + this.cfg.keepIntvlNs;
  }

  // =====================================================================
  // Endings and events
  // =====================================================================

  /** The connection is over: out of the tables, buffers freed, the app told. */
  finish(err: TcpError, notify: bool): void {
    if (this.state == TcpState.Closed) return;
    const wasSync = this.isSynchronized() && this.state != TcpState.TimeWait;
    this.error = err;
    this.setState(TcpState.Closed);
    this.disarm();
    this.stack.remove(this);
    this.counters.closed++;
    if (notify) {
      if (err != TcpError.None) this.post(EV_ERROR);
      else if (wasSync || this.state == TcpState.Closed) this.post(EV_CLOSED);
    }
    // The app may still read what arrived before a graceful end; otherwise free now.
    this.maybeFreeBuffers();
  }

  post(ev: u32): void {
    this.stack.post(this, ev);
  }

  trace(what: string, now: u64, acked: u32): void {
    const t = this.tracer;
    if (t) t.cwnd(this, what, now, this.cc.cwnd, this.cc.ssthresh, this.sndMax - this.sndUna, acked);
  }
}
