// A TCP connection as an app sees it: send, recv, close, abort, the
// per-socket options, and the handler that hears its events. Everything
// else (the TCB and the engine that runs it) is behind `conn`: tcb.ts,
// input.ts, output.ts, timeouts.ts.

import { clock_ns } from "../../hal";
import { Task } from "../../sched/task";
import { Event } from "../../sched/event";
import { TCP_RST, TCP_ACK } from "../wire/tcp";
import { CongestionControl } from "./cc";
import { TcpConfig } from "./config";
import { NEVER } from "./timer";
import {
  Tcb, TcpContext, TcpEndpoint, TcpTracer, TcpState, TcpError,
  EV_ACCEPTED, EV_CONNECTED, EV_READABLE, EV_WRITABLE, EV_ERROR, EV_CLOSED,
} from "./tcb";
import { output, transmit, maybeWindowUpdate, sendSyn } from "./output";
import { startSendSpace } from "./input";
import { timerFired } from "./timeouts";

/**
 * What an app hears about one connection. Override what you need; the
 * calls come from the stack's event dispatch, never from the middle of
 * segment processing, so a handler may call any socket method. (A
 * listener's handler, TcpHandler in listener.ts, also hears `accepted`.)
 */
export class TcpSocketHandler {
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

export class TcpSocket extends TcpEndpoint {
  /** The connection's state and engine (for inspection and experiments; apps need only this class). */
  readonly conn!: Tcb;
  handler: TcpSocketHandler | null = null;
  /** Signalled on every event (for tasks that wait instead of using a handler). */
  readonly event: Event;
  /** Accept-queue link (listener.ts). */
  acceptNext: TcpSocket | null = null;

  constructor(ctx: TcpContext, cfg: TcpConfig, localIp: u32, localPort: u32, remoteIp: u32, remotePort: u32) {
    super();
    this.event = new Event(ctx.sched);
    this.conn = new Tcb(ctx, cfg, this, localIp, localPort, remoteIp, remotePort);
  }

  get state(): TcpState {
    const t = this.conn;
    // A connection in TIME-WAIT is a record of the stack's: CLOSED once that has ended.
    if (t.retired && t.state == TcpState.TimeWait && !t.ctx.lingers(t)) return TcpState.Closed;
    return t.state;
  }
  /** Why the connection ended, if abnormally. */
  @inline get error(): TcpError {
    return this.conn.error;
  }
  @inline get localIp(): u32 {
    return this.conn.localIp;
  }
  @inline get localPort(): u32 {
    return this.conn.localPort;
  }
  @inline get remoteIp(): u32 {
    return this.conn.remoteIp;
  }
  @inline get remotePort(): u32 {
    return this.conn.remotePort;
  }
  @inline get cfg(): TcpConfig {
    return this.conn.cfg;
  }
  get tracer(): TcpTracer | null {
    return this.conn.tracer;
  }
  set tracer(t: TcpTracer | null) {
    this.conn.tracer = t;
  }

  /** Bytes ready to read. */
  @inline get readable(): u32 {
    return this.conn.rcvBuf.len;
  }

  /** Bytes `send` would accept now. */
  get writable(): u32 {
    const t = this.conn;
    if (!t.canSend()) return 0;
    return t.buffersOn ? t.sndSpace() : 0;
  }

  /** Bytes `sendStatic` would accept now (given a free reference slot, or a piece that continues the last). */
  get staticWritable(): u32 {
    const t = this.conn;
    if (!t.canSend()) return 0;
    return t.buffersOn ? t.refSpace() : 0;
  }

  /** Whether the peer closed its side (what it sent may still be unread). */
  @inline get peerClosed(): bool {
    return this.conn.peerFinReceived;
  }

  /** Whether the peer closed its side and every byte it sent was read. */
  get eof(): bool {
    return this.conn.peerFinReceived && this.conn.rcvBuf.len == 0;
  }

  /** Bytes sent and not yet acknowledged (sequence space). */
  @inline get inFlight(): u32 {
    return this.conn.inFlight;
  }

  /**
   * Queues up to `len` bytes from `ptr`; returns how many were taken (0 when
   * the buffer is full: `writable` fires when there is room again), or a
   * negative TcpError when the connection cannot send.
   */
  send(ptr: usize, len: u32): i32 {
    const t = this.conn;
    if (!t.canSend()) return -<i32>(t.error != TcpError.None ? t.error : TcpError.Closed);
    if (!t.buffersOn) {
      // Passive connections get buffers when they become established.
      t.wantWrite = true;
      return 0;
    }
    let want = min(len, t.sndSpace());
    const w = t.sndBuf.ring;
    if (want > 0 && !t.growSnd(w.len + want)) {
      // The pool is at its limit: take what the largest block it can give holds, the rest waits.
      t.counters.sndMemoryWaits++;
      const can = t.ctx.pool.growable(w.cap);
      if (can > w.cap) t.growSnd(can);
      want = min(want, w.free);
      // Nothing queued means no ACK will come to say there is room: wait for the pool instead.
      if (want == 0 && t.sndBuf.len == 0) t.ctx.waitForMemory(t);
    }
    return this.queued(t.sndBuf.write(ptr, want), len);
  }

  /**
   * Queues up to `len` bytes at `ptr` by reference, without copying them:
   * TCP reads them in place each time it builds a segment (first sending,
   * retransmission, probes) until the peer acknowledges them, so the only
   * copy is into the device's frame. The bytes must be immutable, never
   * written again while the kernel runs (the image's baked-in files,
   * `Files.dataPtr`), and so outlive the connection. They keep their place
   * among bytes queued by `send` before and after. They count toward
   * They take no pool memory and do not count toward `TcpConfig.sndBuf`
   * (the ring's bound); `TcpConfig.sndRefMax` (1 MiB) bounds the bytes
   * references hold until acknowledged (`staticWritable` is what is left).
   * At most SEND_REFS (8) separate references wait per connection; one
   * that continues the last (the next bytes of the same memory, nothing
   * queued in between) extends it. Returns the bytes taken: fewer when
   * sndRefMax is near, 0 when it is reached or every reference slot is
   * taken (`writable` fires once a slot is free and a quarter of sndRefMax
   * is, again), or a negative TcpError when the connection cannot send.
   */
  sendStatic(ptr: usize, len: u32): i32 {
    const t = this.conn;
    if (!t.canSend()) return -<i32>(t.error != TcpError.None ? t.error : TcpError.Closed);
    const want = t.buffersOn ? min(len, t.refSpace()) : 0;
    const n = want > 0 && t.sndBuf.addRef(ptr, want) ? want : 0;
    if (n < len) t.sndBuf.refWait = true;
    return this.queued(n, len);
  }

  /** After `n` of `len` bytes were queued: asks for `writable` if short, sends unless corked. */
  private queued(n: u32, len: u32): i32 {
    const t = this.conn;
    if (n < len) t.wantWrite = true;
    if (!t.corked && (t.state == TcpState.Established || t.state == TcpState.CloseWait)) output(t);
    t.ctx.dispatch();
    return <i32>n;
  }

  /**
   * Reads up to `len` bytes into `ptr`. Returns the count, 0 when nothing is
   * there yet (`readable` fires later), -1 at end of stream, or another
   * negative TcpError after a reset.
   */
  recv(ptr: usize, len: u32): i32 {
    const t = this.conn;
    if (t.rcvBuf.len == 0) {
      if (t.error != TcpError.None && t.error != TcpError.Aborted) return -<i32>t.error;
      return t.peerFinReceived ? -1 : 0;
    }
    const n = t.rcvBuf.read(ptr, len);
    this.consumed(n);
    return <i32>n;
  }

  /**
   * Where the first readable byte lies in the receive buffer, for reading in
   * place (no copy): valid until the next `discard`/`recv` or the next
   * segment's arrival. `readableSpan` bytes follow it contiguously.
   */
  get readPtr(): usize {
    const r = this.conn.rcvBuf;
    return r.buf + r.head;
  }

  /** How many readable bytes lie contiguously from `readPtr` (the rest, if any, wrap to the buffer's start). */
  get readableSpan(): u32 {
    const r = this.conn.rcvBuf;
    return min(r.len, r.cap - r.head);
  }

  /** Copies the first `len` readable bytes (fewer if fewer are there) to `dst` without consuming them; returns the count. */
  peek(dst: usize, len: u32): u32 {
    const r = this.conn.rcvBuf;
    const n = min(len, r.len);
    r.readAt(0, dst, n);
    return n;
  }

  /**
   * Asks for a `writable` event once the send buffer has room, when nothing
   * is being sent (a caller that holds its output back rather than handing
   * it to `send`, which asks by itself when it cannot take everything).
   * With references at `sndRefMax` (`staticWritable` 0), the event waits
   * for a quarter of that to be acknowledged, as after a short `sendStatic`.
   */
  requestWritable(): void {
    const t = this.conn;
    t.wantWrite = true;
    if (t.refSpace() == 0) t.sndBuf.refWait = true;
  }

  /**
   * Holds output back while several calls build one reply (Linux's
   * TCP_CORK): `send` and `close` queue without transmitting until `uncork`,
   * which sends everything at once, so a response and its FIN share a segment
   * instead of two. ACKs and timers are not held.
   */
  cork(): void {
    this.conn.corked = true;
  }

  /** Ends `cork`: what was queued goes out now. */
  uncork(): void {
    const t = this.conn;
    if (!t.corked) return;
    t.corked = false;
    const s = t.state;
    if (s == TcpState.Established || s == TcpState.CloseWait || s == TcpState.FinWait1 || s == TcpState.LastAck) output(t);
    t.ctx.dispatch();
  }

  /** Discards up to `len` readable bytes (a sink that does not need them). */
  discard(len: u32): u32 {
    const t = this.conn;
    const n = min(len, t.rcvBuf.len);
    t.rcvBuf.consume(n);
    this.consumed(n);
    return n;
  }

  private consumed(n: u32): void {
    const t = this.conn;
    t.bytesReceived += n;
    t.trimBuffers();
    maybeWindowUpdate(t);
    t.maybeFreeBuffers();
    t.ctx.dispatch();
  }

  /**
   * Graceful close of our direction: a FIN follows the data already queued.
   * Reading stays possible until the peer closes too (half-close).
   */
  close(): void {
    const t = this.conn;
    switch (t.state) {
      case TcpState.SynSent:
        t.finish(TcpError.None, false);
        break;
      case TcpState.SynReceived:
      case TcpState.Established:
        t.queueFin();
        t.state = TcpState.FinWait1;
        if (!t.corked) output(t);
        break;
      case TcpState.CloseWait:
        t.queueFin();
        t.state = TcpState.LastAck;
        if (!t.corked) output(t);
        break;
      default:
        break;
    }
    t.ctx.dispatch();
  }

  /** Ends the connection at once with a RST; queued data is dropped. No handler call follows. */
  abort(): void {
    const t = this.conn;
    const s = t.state;
    if (s == TcpState.Closed) return;
    if (s != TcpState.SynSent && s != TcpState.TimeWait && s != TcpState.Listen) {
      transmit(t, t.sndNxt, 0, TCP_RST | TCP_ACK);
      t.counters.resetsSent++;
    }
    this.handler = null;
    t.finish(TcpError.Aborted, false);
    t.ctx.dispatch();
  }

  /** Switches the congestion controller (a fresh instance, starting from the current window). */
  setCongestion(proto: CongestionControl): void {
    const t = this.conn;
    const c = proto.fresh();
    c.init(t.mss, clock_ns());
    c.cwnd = t.cc.cwnd;
    c.ssthresh = t.cc.ssthresh;
    t.cc = c;
  }

  setNoDelay(on: bool): void {
    this.conn.noDelay = on;
    if (on) output(this.conn);
  }

  /** Keep-alive probes after `idleNs` without traffic, every `intvlNs`, `count` of them before giving up. */
  setKeepAlive(on: bool, idleNs: u64 = 0, intvlNs: u64 = 0, count: u32 = 0): void {
    const t = this.conn;
    const cfg = t.cfg;
    cfg.keepAlive = on;
    if (idleNs) cfg.keepIdleNs = idleNs;
    if (intvlNs) cfg.keepIntvlNs = intvlNs;
    if (count) cfg.keepCount = count;
    t.timers.keepAt = on && t.isSynchronized() ? clock_ns() + cfg.keepIdleNs : NEVER;
    t.timers.arm();
  }

  /** Active open (the stack's `connect`): sends the SYN. */
  openActive(iss: u32): void {
    const t = this.conn;
    startSendSpace(t, iss);
    t.rcvWscale = t.cfg.windowScale ? t.chooseWscale() : 0;
    t.state = TcpState.SynSent;
    sendSyn(t);
  }

  /** The connection's timer: a deadline is due. */
  onTimer(task: Task): void {
    timerFired(this.conn);
  }

  /** The stack's dispatch: calls the handlers for the events `ev`. */
  deliver(ev: u32): void {
    this.event.broadcast();
    if (ev & EV_ACCEPTED) {
      // The listener's handler hears of it first (and may give the socket its own handler).
      const l = this.conn.listener;
      this.conn.listener = null;
      if (l) l.announce(this.conn);
    }
    const h = this.handler;
    if (!h) return;
    if (ev & EV_CONNECTED) h.connected(this);
    if (ev & EV_READABLE) h.readable(this);
    if (ev & EV_WRITABLE) h.writable(this);
    if (ev & EV_ERROR) h.error(this, this.conn.error);
    if (ev & EV_CLOSED) h.closed(this);
  }
}
