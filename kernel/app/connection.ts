// TCP for apps: a Connection per TCP connection, a Handler object per
// connection for its callbacks, a Service that hands out one Handler per
// accepted connection.
//
// The callbacks do not run inside the stack's segment processing (the NIC's
// interrupt task): the stack's events only mark the connection, and one
// task per network (Delivery) calls the handlers afterwards. So an app's
// work (parsing, generating replies) is a task of its own, a handler may
// call any Connection method, and events that arrive in one burst of frames
// come to the app as one call each.
//
// Reading is in place: `onData` sees a view of the receive buffer and
// returns how many bytes it consumed (smoltcp's `recv(|buf| (consumed, r))`
// as a method); what it leaves is shown again, with whatever arrived since,
// at the next event. Writing copies into TCP's send buffer; what does not
// fit waits in the connection's own queue, bounded by `queueLimit`.
// `writeStatic` hands TCP immutable bytes by reference instead (no copy).

import { TcpSocket, TcpSocketHandler } from "../net/tcp/socket";
import { TcpError, TcpState } from "../net/tcp/tcb";
import { TcpListener, TcpHandler } from "../net/tcp/listener";
import { Task, TaskState } from "../sched/task";
import { clock_ns } from "../hal";
import { Kernel } from "./kernel";
import { Bytes, bytesOf } from "./bytes";
import { OutQueue } from "./outqueue";

/** Per-connection output queue bound unless the app sets `queueLimit`. */
export const DEFAULT_QUEUE_LIMIT: u32 = 64 * 1024;
/** The largest view `onData` gets when the readable bytes wrap around the receive buffer's end. */
export const LINEAR_MAX: u32 = 64 * 1024;

/** What an app hears about one connection. Override what you need. */
export class Handler {
  /** The connection is open (accepted, or `connect` completed): writing may start. */
  onConnected(c: Connection): void {}
  /**
   * Bytes arrived: `data` views them in place (valid during this call only).
   * Return how many were consumed (0..data.length); the rest is shown again
   * later with what arrives next. Consuming nothing stops reading until the
   * next event (the peer's window closes when the buffer fills). Default:
   * consume and ignore everything.
   */
  onData(c: Connection, data: Bytes): u32 {
    return data.length;
  }
  /** Everything queued has gone into TCP's send buffer after a write was queued or refused: write more. */
  onWritable(c: Connection): void {}
  /** The peer sent FIN and every byte before it was consumed. Default: `end()` our side too. */
  onEnd(c: Connection): void {
    c.end();
  }
  /**
   * The connection is gone: `error` is TcpError.None after a clean close,
   * else Reset, Refused, TimedOut or Aborted. Queued output was released.
   * Always the last call, exactly once.
   */
  onClosed(c: Connection, error: TcpError): void {}
}

/** Creates the handler of each connection a `serve` accepts (null refuses it with a RST). */
export abstract class Service {
  abstract accept(c: Connection): Handler | null;
}

// Why a connection is waiting for delivery.
const P_ACCEPT: u32 = 1;
const P_CONNECTED: u32 = 2;
const P_EVENT: u32 = 4;
const P_ERROR: u32 = 8;
const P_CLOSED: u32 = 16;

let linear: usize = 0;

export class Connection {
  handler: Handler | null;
  /** Bytes the output queue may hold beyond TCP's send buffer; a write past it is refused. */
  queueLimit: u32 = DEFAULT_QUEUE_LIMIT;
  /** Writes refused because the queue was full. */
  refused: u64 = 0;
  readonly remoteIp: u32;
  readonly remotePort: u32;
  readonly localPort: u32;
  /** The level-2 socket (null once closed), for what level 1 does not cover. */
  sock: TcpSocket | null;

  private queue: OutQueue = new OutQueue();
  private view: Bytes = new Bytes();
  private service: Service | null = null;
  private ending: bool = false;
  private finSent: bool = false;
  private discarding: bool = false;
  private endSeen: bool = false;
  private wantWritable: bool = false;
  private done: bool = false;
  private error: TcpError = TcpError.None;
  // Delivery list links.
  pending: u32 = 0;
  next: Connection | null = null;
  listed: bool = false;

  constructor(readonly delivery: Delivery, sock: TcpSocket, handler: Handler | null) {
    this.sock = sock;
    this.handler = handler;
    this.remoteIp = sock.remoteIp;
    this.remotePort = sock.remotePort;
    this.localPort = sock.localPort;
    sock.handler = new SocketEvents(this);
    // Request-response protocols write an answer in pieces (a head, then a
    // body): with Nagle's algorithm the second piece would wait for the
    // first's ACK, which the peer delays (40 ms on Linux) on a kept-alive
    // connection. So, as nginx's tcp_nodelay, every write goes out at once.
    sock.setNoDelay(true);
  }

  /** Bytes waiting in the output queue (not yet in TCP's send buffer), referenced ones included. */
  get queued(): u32 {
    return this.queue.len + this.queue.refLen;
  }

  /** Whether the connection ended (onClosed came or is due). */
  get closed(): bool {
    return this.done || this.sock == null;
  }

  /**
   * Sends a string (UTF-8), `Bytes` or a `Uint8Array`: into TCP's send
   * buffer, the rest into the output queue. Returns false, taking nothing,
   * when the queue would pass `queueLimit` (onWritable follows once it has
   * drained) or the connection can no longer send (ended or closed).
   */
  write<T>(data: T): bool {
    const b = bytesOf<T>(data);
    return this.writeBytes(b.ptr, b.length);
  }

  private writeBytes(p: usize, n: u32): bool {
    const s = this.sock;
    if (s == null || this.ending || this.done) return false;
    if (n == 0) return true;
    const q = this.queue;
    const tcpRoom = q.empty ? s.writable : 0;
    const queueRoom = this.queueLimit > q.len ? this.queueLimit - q.len : 0;
    if (<u64>n > <u64>tcpRoom + <u64>queueRoom) {
      // Nothing is queued to drain, so ask TCP itself to say when its buffer frees up.
      if (q.empty) s.requestWritable();
      return this.refuse();
    }
    const r = this.direct(s, p, n, false);
    if (r < 0) return false;
    const k = <u32>r;
    if (k == n) return true;
    // Out of memory: what was taken stays taken, the rest is refused.
    if (!q.push(p + k, n - k)) return this.refuse();
    this.wantWritable = true;
    return true;
  }

  /**
   * Sends the `n` bytes at `p` by reference, never copying them (TCP reads
   * them in place for every segment it builds, up to their ACK; the only
   * copy is into the NIC's frame). The bytes must be immutable: never
   * written again while the kernel runs (the image's baked-in files,
   * `Files.dataPtr(i)`), so they outlive the connection. They keep their
   * place among the connection's other writes. What TCP's send buffer does
   * not take yet waits in the queue as a reference, costing no memory and
   * not counted against `queueLimit` (but in `queued`), and goes on as ACKs
   * make room. One reference waits at a time: while one does, writeStatic
   * returns false, taking nothing, and onWritable follows once it is in
   * TCP; false too when the connection can no longer send.
   */
  writeStatic(p: usize, n: u32): bool {
    const s = this.sock;
    const q = this.queue;
    if (s == null || this.ending || this.done) return false;
    if (n == 0) return true;
    if (q.refLen > 0) return this.refuse();
    const r = this.direct(s, p, n, true);
    if (r < 0) return false;
    const k = <u32>r;
    if (k == n) return true;
    q.pushRef(p + k, n - k);
    this.wantWritable = true;
    return true;
  }

  /**
   * Asks for onWritable once TCP can take more, for output held back rather
   * than written (a body waiting for `sock.staticWritable`, say).
   */
  requestWritable(): void {
    const s = this.sock;
    if (s == null || this.done) return;
    this.wantWritable = true;
    if (this.queue.empty) s.requestWritable();
  }

  /** Hands [p, p+n) to TCP (copied, or by reference) unless output is queued ahead of it: the bytes taken, or a negative TcpError. */
  private direct(s: TcpSocket, p: usize, n: u32, byRef: bool): i32 {
    if (!this.queue.empty) return 0;
    return byRef ? s.sendStatic(p, n) : s.send(p, n);
  }

  /** A write is refused: counted, and onWritable will say when to try again. */
  private refuse(): bool {
    this.refused++;
    this.wantWritable = true;
    return false;
  }

  /** Closes our direction once everything queued is sent (FIN); reading goes on until the peer's FIN. */
  end(): void {
    if (this.ending || this.closed) return;
    this.ending = true;
    this.flush();
  }

  /** `end()`, and input from now on is discarded unread. */
  close(): void {
    this.discarding = true;
    this.end();
  }

  /** Ends the connection at once with a RST; queued output is dropped. onClosed(Aborted) follows. */
  abort(): void {
    const s = this.sock;
    if (s == null || this.done) return;
    s.handler = null;
    s.abort();
    this.sock = null;
    this.error = TcpError.Aborted;
    this.queue.release();
    this.delivery.post(this, P_CLOSED);
  }

  /** Sends small writes at once instead of coalescing them (Nagle off). */
  setNoDelay(on: bool): void {
    const s = this.sock;
    if (s) s.setNoDelay(on);
  }

  // ---- from the stack (SocketEvents) and the delivery task ----

  noteAccepted(service: Service): void {
    this.service = service;
    this.delivery.post(this, P_ACCEPT | P_CONNECTED);
  }

  noteEvent(flags: u32): void {
    this.delivery.post(this, flags);
  }

  /** Calls the handler for what happened since the last delivery. */
  deliver(): void {
    // What the handlers write in this delivery leaves as one burst once they return (a reply and its FIN in one segment).
    const s = this.sock;
    if (s != null) s.cork();
    this.deliverEvents();
    if (s != null) s.uncork();
  }

  private deliverEvents(): void {
    const f = this.pending;
    this.pending = 0;
    if (this.done) return;
    if (f & P_ACCEPT) {
      const h = this.service!.accept(this);
      if (h == null) {
        this.abort();
        this.finish();
        return;
      }
      this.handler = h;
    }
    const h = this.handler;
    if (h == null) return;
    const s = this.sock;
    if (s == null || (f & P_ERROR)) {
      if (s != null) this.error = s.error;
      this.finish();
      return;
    }
    if (f & P_CONNECTED) {
      h.onConnected(this);
      if (this.closed) {
        this.finish();
        return;
      }
    }
    this.flush();
    if (this.wantWritable && this.queue.empty && !this.ending) {
      this.wantWritable = false;
      h.onWritable(this);
      if (this.closed) {
        this.finish();
        return;
      }
    }
    this.read(h, s);
    if (this.closed) {
        this.finish();
        return;
      }
    if (!this.endSeen && s.eof) {
      this.endSeen = true;
      h.onEnd(this);
      if (this.closed) {
        this.finish();
        return;
      }
    }
    if ((f & P_CLOSED) || s.state == TcpState.Closed) {
      this.error = s.error;
      this.finish();
    }
  }

  /** Shows the readable bytes to the handler until it stops consuming. */
  private read(h: Handler, s: TcpSocket): void {
    if (this.discarding) {
      if (s.readable > 0) s.discard(s.readable);
      return;
    }
    const v = this.view;
    while (!this.closed && !this.discarding) {
      const avail = s.readable;
      if (avail == 0) break;
      const first = s.readableSpan;
      v.ptr = s.readPtr;
      v.length = first;
      let k = h.onData(this, v);
      if (k == 0 && first < avail && !this.closed) {
        // The bytes wrap around the buffer's end and the handler needs more
        // than the first part (a line across the seam): show a straight copy.
        if (linear == 0) linear = heap.alloc(LINEAR_MAX);
        const n = min(avail, LINEAR_MAX);
        s.peek(linear, n);
        v.ptr = linear;
        v.length = n;
        k = h.onData(this, v);
      }
      if (k == 0 || this.closed) break;
      s.discard(min(k, v.length));
    }
    if (this.discarding && !this.closed && s.readable > 0) s.discard(s.readable);
  }

  /** Moves queued output into TCP's send buffer; the FIN once it is all there. */
  private flush(): void {
    const s = this.sock;
    if (s == null) return;
    const q = this.queue;
    while (!q.empty) {
      // The copied bytes before the reference, then the reference, then the rest.
      const b = q.before;
      if (b == 0) {
        const k = s.sendStatic(q.refPtr, q.refLen);
        if (k <= 0) break;
        q.consumeRef(<u32>k);
        continue;
      }
      const k = s.send(q.ptr, b);
      if (k <= 0) break;
      q.consume(<u32>k);
    }
    if (q.empty && this.ending && !this.finSent) {
      this.finSent = true;
      q.release();
      s.close();
    }
  }

  private finish(): void {
    if (this.done) return;
    this.done = true;
    const s = this.sock;
    if (s) s.handler = null;
    this.sock = null;
    this.queue.release();
    const h = this.handler;
    if (h) h.onClosed(this, this.error);
  }
}

/** The stack's callbacks for one connection: they only mark it for delivery. */
class SocketEvents extends TcpSocketHandler {
  constructor(readonly conn: Connection) {
    super();
  }
  connected(sock: TcpSocket): void {
    this.conn.noteEvent(P_CONNECTED);
  }
  readable(sock: TcpSocket): void {
    this.conn.noteEvent(P_EVENT);
  }
  writable(sock: TcpSocket): void {
    this.conn.noteEvent(P_EVENT);
  }
  error(sock: TcpSocket, err: TcpError): void {
    this.conn.noteEvent(P_ERROR);
  }
  closed(sock: TcpSocket): void {
    this.conn.noteEvent(P_CLOSED);
  }
}

/** A listening port's callback: each new connection gets a Connection; the service is asked in the delivery task. */
export class Acceptor extends TcpHandler {
  constructor(readonly delivery: Delivery, readonly service: Service) {
    super();
  }
  accepted(l: TcpListener, sock: TcpSocket): void {
    new Connection(this.delivery, sock, null).noteAccepted(this.service);
  }
}

/**
 * How long the delivery task calls handlers before it yields to the other
 * tasks (the NIC's among them): under load, fifty connections' handlers in
 * one run took tens of milliseconds on QEMU. One handler call is never cut.
 */
const DELIVERY_SLICE_NS: u64 = 1_000_000;

/** The task that calls connections' handlers, in the order their events came. */
export class Delivery extends Task {
  private head: Connection | null = null;
  private tail: Connection | null = null;
  private count: u32 = 0;

  constructor() {
    super("app");
  }

  post(c: Connection, flags: u32): void {
    c.pending |= flags;
    if (!c.listed) {
      c.listed = true;
      c.next = null;
      const t = this.tail;
      if (t) t.next = c;
      else this.head = c;
      this.tail = c;
      this.count++;
    }
    const st = this.state;
    if (st != TaskState.Ready && st != TaskState.Running) Kernel.sched.wake(this);
  }

  run(): void {
    // The connections waiting now (later arrivals go to the next run, behind
    // the other tasks), for at most a slice.
    const until = clock_ns() + DELIVERY_SLICE_NS;
    let n = this.count;
    while (n-- > 0 && clock_ns() < until) {
      const c = this.head;
      if (c == null) break;
      this.head = c.next;
      if (this.head == null) this.tail = null;
      c.next = null;
      c.listed = false;
      this.count--;
      c.deliver();
    }
    if (this.count > 0) this.yield();
  }
}
