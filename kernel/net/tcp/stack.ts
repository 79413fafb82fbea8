// The TCP stack: demultiplexes segments to connections and listeners,
// answers what belongs to nobody with RSTs, runs the listen side (SYN
// backlog, SYN cookies when it is full, the accept queue), owns the limits
// (total buffer memory, challenge-ACK rate) and dispatches events to the
// apps' handlers. It talks to the IP layer only through the seam in ip.ts.

import { clock_ns } from "../../hal";
import { print, println } from "../../console";
import { Scheduler } from "../../sched/loop";
import { Event } from "../../sched/event";
import { WireError } from "../wire/error";
import { TcpRepr, TCP_SYN, TCP_FIN, TCP_RST, TCP_ACK, TCP_MAX_HEADER_LEN } from "../wire/tcp";
import { IpService } from "../ip-protocol";
import { IP_PROTO_TCP } from "../wire/ipv4";
import { TcpOutput, TcpInput, TcpReceiver } from "./ip";
import { TcpConfig } from "./config";
import { TcpCounters } from "./counters";
import { IsnGenerator } from "./isn";
import { seqGt, seqGe, seqLt, seqMax } from "./seq";
import {
  TcpSocket, TcpState, TcpHandler, TcpError, tcpStateName,
  EV_ACCEPTED, EV_CONNECTED, EV_READABLE, EV_WRITABLE, EV_ERROR, EV_CLOSED,
} from "./socket";

const EPHEMERAL_FIRST: u32 = 49152;
const EPHEMERAL_COUNT: u32 = 16384;
const TX_BUF: u32 = 65536 + 256;

export class TcpListener {
  readonly stack: TcpStack;
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
  open: bool = true;

  constructor(stack: TcpStack, port: u32, cfg: TcpConfig, handler: TcpHandler | null, backlog: u32) {
    this.stack = stack;
    this.port = port;
    this.cfg = cfg;
    this.handler = handler;
    this.synBacklog = backlog;
    this.acceptBacklog = backlog;
    this.event = new Event(stack.sched);
  }

  /** The next established connection, or null (with a handler, connections go to `accepted` instead). */
  accept(): TcpSocket | null {
    const s = this.acceptHead;
    if (!s) return null;
    this.acceptHead = s.acceptNext;
    if (!this.acceptHead) this.acceptTail = null;
    s.acceptNext = null;
    s.listener = null;
    this.acceptCount--;
    return s;
  }

  enqueue(s: TcpSocket): void {
    s.acceptNext = null;
    if (this.acceptTail) this.acceptTail!.acceptNext = s;
    else this.acceptHead = s;
    this.acceptTail = s;
    this.acceptCount++;
    this.event.broadcast();
  }

  /** Stops listening; connections not yet accepted are reset. */
  close(): void {
    if (!this.open) return;
    this.open = false;
    this.stack.unlisten(this);
    let s = this.accept();
    while (s) {
      s.abort();
      s = this.accept();
    }
  }
}

export class TcpStack extends TcpInput {
  readonly out: TcpOutput;
  readonly sched: Scheduler;
  readonly counters: TcpCounters = new TcpCounters();
  /** Defaults for `listen` and `connect` without a config. */
  readonly defaults: TcpConfig = new TcpConfig();
  /** Limit on all connections' buffers together (bytes). */
  memLimit: u64;
  memUsed: u64 = 0;
  /** Challenge ACKs allowed per second, stack-wide (RFC 5961 7). */
  challengeAckLimit: u32 = 1000;
  /** Connections in the table (every state but CLOSED and LISTEN). */
  connections: u32 = 0;
  /** Verify checksums on input (off when the device already did). */
  verifyChecksums: bool = true;

  readonly isn: IsnGenerator = new IsnGenerator();
  private readonly table: Map<u64, TcpSocket> = new Map<u64, TcpSocket>();
  private readonly listeners: Map<u32, TcpListener> = new Map<u32, TcpListener>();
  readonly rx: TcpRepr = new TcpRepr();
  readonly txRepr: TcpRepr = new TcpRepr();
  readonly txBuf: usize;
  /** Origin of our timestamp clock (random; tests set it to make TSvals predictable). */
  tsOffset: u32;
  /** Tests only: every ISN is this value when non-zero (RFC 6528 is bypassed). */
  fixedIsn: u32 = 0;
  private nextEphemeral: u32;
  private challengeWindow: u64 = 0;
  private challengeCount: u32 = 0;
  private evHead: TcpSocket | null = null;
  private evTail: TcpSocket | null = null;
  private dispatching: bool = false;

  /** A stack on `ip`: it registers there for protocol 6 (one TCP stack per IP layer). */
  constructor(ip: IpService, sched: Scheduler, memLimit: u64 = 32 * 1024 * 1024) {
    super();
    this.out = new TcpOutput(ip);
    this.sched = sched;
    this.memLimit = memLimit;
    this.txBuf = heap.alloc(TX_BUF);
    // Timestamps start at a random offset (RFC 7323 5.4), ports at a random place.
    const seed = <u32>(this.isn.isn(0, 0, 0, 0, 0));
    this.tsOffset = seed;
    this.nextEphemeral = EPHEMERAL_FIRST + (seed >>> 8) % EPHEMERAL_COUNT;
    ip.register(IP_PROTO_TCP, new TcpReceiver(this, this.counters));
  }

  /** Our timestamp clock: milliseconds, from a random origin. */
  @inline tsNow(): u32 {
    return <u32>(clock_ns() / 1_000_000) + this.tsOffset;
  }

  /** The MSS to advertise toward `dst`: the config's, capped by the path. */
  mssFor(dst: u32, want: u32): u32 {
    const path = this.out.mtuFor(dst);
    const m = path > 40 ? path - 40 : 536;
    return max<u32>(min<u32>(want, m), 64);
  }

  // ---- memory ----

  charge(bytes: u32): bool {
    if (this.memUsed + bytes > this.memLimit) return false;
    this.memUsed += bytes;
    return true;
  }

  uncharge(bytes: u32): void {
    this.memUsed -= bytes;
  }

  // ---- table ----

  @inline private key(lport: u32, rip: u32, rport: u32): u64 {
    return ((<u64>rip) << 32) | (<u64>lport << 16) | rport;
  }

  find(lip: u32, lport: u32, rip: u32, rport: u32): TcpSocket | null {
    const k = this.key(lport, rip, rport);
    if (!this.table.has(k)) return null;
    let s: TcpSocket | null = this.table.get(k);
    while (s) {
      if (s.localIp == lip || s.localIp == 0) return s;
      s = s.hashNext;
    }
    return null;
  }

  private insert(s: TcpSocket): void {
    const k = this.key(s.localPort, s.remoteIp, s.remotePort);
    s.hashNext = this.table.has(k) ? this.table.get(k) : null;
    this.table.set(k, s);
    s.inTable = true;
    this.connections++;
  }

  /** Takes a finished connection out of the table (and its listener's counts). */
  remove(s: TcpSocket): void {
    const l = s.listener;
    if (l && s.state == TcpState.Closed) {
      // Still half-open or waiting in the accept queue: its slot is free again.
      if (s.acceptNext == null && l.synCount > 0 && !s.buffersAllocated) l.synCount--;
    }
    if (!s.inTable) return;
    s.inTable = false;
    this.connections--;
    const k = this.key(s.localPort, s.remoteIp, s.remotePort);
    let head: TcpSocket | null = this.table.get(k);
    if (head == s) {
      if (s.hashNext) this.table.set(k, s.hashNext!);
      else this.table.delete(k);
    } else {
      while (head) {
        if (head.hashNext == s) {
          head.hashNext = s.hashNext;
          break;
        }
        head = head.hashNext;
      }
    }
    s.hashNext = null;
  }

  // ---- app API ----

  /**
   * Listens on `port`. `handler` hears `accepted` for each new connection
   * (or, with null, connections wait for `accept()`). `backlog` bounds both
   * the half-open and the accept queue; beyond it SYN cookies answer.
   */
  listen(port: u32, handler: TcpHandler | null = null, backlog: u32 = 128, cfg: TcpConfig | null = null): TcpListener | null {
    if (port == 0 || port > 65535 || this.listeners.has(port)) return null;
    const l = new TcpListener(this, port, cfg ? cfg : this.defaults, handler, max<u32>(backlog, 1));
    this.listeners.set(port, l);
    return l;
  }

  unlisten(l: TcpListener): void {
    if (this.listeners.has(l.port) && this.listeners.get(l.port) == l) this.listeners.delete(l.port);
  }

  /**
   * Opens a connection to `dst`:`port` from `src` (0: what the output says).
   * Returns null if no port or memory is left. `connected` (or `error`) follows.
   */
  connect(dst: u32, port: u32, handler: TcpHandler | null = null, cfg: TcpConfig | null = null, src: u32 = 0, srcPort: u32 = 0): TcpSocket | null {
    if (src == 0) src = this.out.sourceFor(dst);
    if (src == 0 || dst == 0 || port == 0 || port > 65535) return null;
    let lport = srcPort;
    if (lport == 0) {
      for (let i: u32 = 0; i < EPHEMERAL_COUNT; i++) {
        const p = this.nextEphemeral;
        this.nextEphemeral = p + 1 >= EPHEMERAL_FIRST + EPHEMERAL_COUNT ? EPHEMERAL_FIRST : p + 1;
        if (this.find(src, p, dst, port) == null && !this.listeners.has(p)) {
          lport = p;
          break;
        }
      }
      if (lport == 0) return null;
    } else if (this.find(src, lport, dst, port) != null) return null;
    const c = (cfg ? cfg : this.defaults).clone();
    const s = new TcpSocket(this, c, src, lport, dst, port);
    s.handler = handler;
    if (!s.allocBuffers()) {
      this.counters.memoryRefused++;
      return null;
    }
    this.insert(s);
    this.counters.activeOpens++;
    s.openActive(this.fixedIsn != 0 ? this.fixedIsn : this.isn.isn(src, lport, dst, port, clock_ns()));
    return s;
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
    let s = this.find(dst, seg.dstPort, src, seg.srcPort);
    let reuseAbove: u32 = 0;
    let reuse = false;
    if (s && s.state == TcpState.TimeWait && (f & (TCP_SYN | TCP_ACK | TCP_RST)) == TCP_SYN && this.listeners.has(seg.dstPort)) {
      // RFC 6191 / RFC 1122 4.2.2.13: a new SYN may reopen a TIME-WAIT connection if it is
      // provably newer (a later timestamp, or a sequence number past the old one).
      const newer = s.tsOk && seg.hasTimestamp ? seqGt(seg.tsVal, s.tsRecent) : seqGt(seg.seq, s.rcvNxt);
      if (newer) {
        reuseAbove = s.sndMax;
        reuse = true;
        c.timeWaitReused++;
        s.finish(TcpError.None, false);
        s = null;
      }
    }
    if (s) {
      s.input(seg, payload);
      this.dispatch();
      return;
    }
    const l = this.listeners.has(seg.dstPort) ? this.listeners.get(seg.dstPort) : null;
    if (l && l.open) this.listenInput(l, seg, src, dst, payload, reuse, reuseAbove);
    else {
      c.dropNoSocket++;
      this.resetFor(seg, src, dst);
    }
    this.dispatch();
  }

  /**
   * An ICMP error quoting a segment we sent from lip:lport to rip:rport with
   * sequence number `seq` (the IP layer found TCP in the quote). Only a
   * quote of a sequence number in flight, [SND.UNA, SND.MAX), is believed:
   * a blind attacker would have to guess one (RFC 5927 4.1). Returns
   * whether it concerned a connection.
   */
  icmpError(lip: u32, lport: u32, rip: u32, rport: u32, seq: u32, hard: bool, mtu: u32): bool {
    const s = this.find(lip, lport, rip, rport);
    if (!s) return false;
    if (!(seqGe(seq, s.sndUna) && seqLt(seq, s.sndMax))) {
      this.counters.icmpIgnored++;
      return true;
    }
    this.counters.icmpErrors++;
    s.icmpError(hard, mtu);
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
    const r = this.txRepr;
    r.clearOptions();
    r.srcPort = lport;
    r.dstPort = rport;
    r.seq = seq;
    r.ack = withAck ? ack : 0;
    r.flags = TCP_RST | (withAck ? TCP_ACK : 0);
    r.window = 0;
    r.urgent = 0;
    r.payloadLen = 0;
    const n = r.emit(this.txBuf, lip, rip);
    this.counters.resetsSent++;
    this.counters.txSegments++;
    this.out.send(lip, rip, this.txBuf, n);
  }

  /** RFC 9293 3.10.7.2, plus the SYN backlog and cookies. */
  private listenInput(l: TcpListener, seg: TcpRepr, src: u32, dst: u32, payload: usize, reuse: bool, reuseAbove: u32): void {
    const c = this.counters;
    if (seg.has(TCP_RST)) return;
    const now = clock_ns();
    if (seg.has(TCP_ACK)) {
      // Maybe the third step of a handshake we answered with a cookie.
      if (!seg.has(TCP_SYN)) {
        const mi = this.isn.checkCookie(dst, seg.dstPort, src, seg.srcPort, seg.seq - 1, seg.ack - 1, now);
        if (mi >= 0) {
          this.cookieAccept(l, seg, src, dst, payload, <u32>mi);
          return;
        }
        c.cookiesRejected++;
      }
      c.dropNoSocket++;
      this.sendReset(dst, seg.dstPort, src, seg.srcPort, seg.ack, 0, false);
      return;
    }
    if (!seg.has(TCP_SYN)) {
      c.dropBadFlags++;
      return;
    }
    c.synReceived++;
    const need = l.cfg.sndBuf + l.cfg.rcvBuf;
    if (l.synCount >= l.synBacklog || l.acceptCount >= l.acceptBacklog) {
      this.sendCookie(l, seg, src, dst, now);
      return;
    }
    if (this.memUsed + need > this.memLimit) {
      // Buffers are only taken at the handshake's end, but a stack at its limit should not promise them.
      c.memoryRefused++;
      return;
    }
    const s = new TcpSocket(this, l.cfg.clone(), dst, seg.dstPort, src, seg.srcPort);
    s.listener = l;
    s.handler = l.handler;
    l.synCount++;
    this.insert(s);
    c.passiveOpens++;
    let iss = this.fixedIsn != 0 ? this.fixedIsn : this.isn.isn(dst, seg.dstPort, src, seg.srcPort, now);
    if (reuse && !seqGt(iss, reuseAbove + 65536)) iss = reuseAbove + 131072;
    s.openPassive(seg, iss);
    void payload;
  }

  private sendCookie(l: TcpListener, seg: TcpRepr, src: u32, dst: u32, now: u64): void {
    const c = this.counters;
    const cfg = l.cfg;
    const peerMss = seg.mss != 0 ? seg.mss : 536;
    const mi = IsnGenerator.mssIndex(min<u32>(peerMss, this.mssFor(src, cfg.mss)));
    const cookie = this.isn.cookie(dst, seg.dstPort, src, seg.srcPort, seg.seq, mi, now);
    const r = this.txRepr;
    r.clearOptions();
    r.srcPort = seg.dstPort;
    r.dstPort = seg.srcPort;
    r.seq = cookie;
    r.ack = seg.seq + 1;
    r.flags = TCP_SYN | TCP_ACK;
    r.window = min<u32>(cfg.rcvBuf, 65535);
    r.urgent = 0;
    r.payloadLen = 0;
    r.mss = this.mssFor(src, cfg.mss);
    const useTs = cfg.timestamps && seg.hasTimestamp;
    if (useTs) {
      // Options the cookie cannot hold ride in the timestamp's low 5 bits:
      // 4 bits of window scale (15: none), 1 bit SACK-permitted.
      const ws: u32 = cfg.windowScale && seg.wscale >= 0 ? <u32>this.wscaleFor(cfg) : 15;
      const sack: u32 = cfg.sack && seg.sackPermitted ? 1 : 0;
      r.hasTimestamp = true;
      r.tsVal = ((this.tsNow() - 32) & ~31) | (ws << 1) | sack;
      r.tsEcr = seg.tsVal;
      if (ws != 15) r.wscale = <i32>ws;
      r.sackPermitted = sack != 0;
    }
    const n = r.emit(this.txBuf, dst, src);
    c.cookiesSent++;
    c.txSegments++;
    this.out.send(dst, src, this.txBuf, n);
  }

  wscaleFor(cfg: TcpConfig): u32 {
    let s: u32 = 0;
    while (s < 14 && (cfg.rcvBuf >> s) > 65535) s++;
    return s;
  }

  private cookieAccept(l: TcpListener, seg: TcpRepr, src: u32, dst: u32, payload: usize, mi: u32): void {
    const c = this.counters;
    let ws: i32 = -1;
    let sack = false;
    if (seg.hasTimestamp) {
      const enc = seg.tsEcr & 31;
      const w = enc >> 1;
      ws = w == 15 ? -1 : <i32>w;
      sack = (enc & 1) != 0;
    }
    if (l.acceptCount >= l.acceptBacklog) {
      c.acceptQueueFull++;
      return; // the peer retransmits its ACK or data; maybe there is room then
    }
    const s = new TcpSocket(this, l.cfg.clone(), dst, seg.dstPort, src, seg.srcPort);
    s.listener = l;
    s.handler = l.handler;
    s.openFromCookie(seg, IsnGenerator.mssOf(mi), ws, sack);
    l.synCount++; // released by `established`
    this.insert(s);
    c.cookiesAccepted++;
    c.passiveOpens++;
    s.input(seg, payload);
  }

  /** A passive connection finished its handshake. */
  established(s: TcpSocket): void {
    const l = s.listener;
    if (!l) return;
    if (l.synCount > 0) l.synCount--;
    if (!l.open) {
      s.listener = null;
      return;
    }
    if (l.handler) {
      this.post(s, EV_ACCEPTED);
    } else {
      if (l.acceptCount >= l.acceptBacklog) this.counters.acceptQueueFull++;
      l.enqueue(s);
    }
  }

  /** Prints one line per connection (allocates: for debugging, not per packet). */
  dump(): void {
    const socks = this.table.values();
    for (let i = 0; i < socks.length; i++) {
      let s: TcpSocket | null = socks[i];
      while (s) {
        print("tcp ");
        print(tcpStateName(s.state));
        print(" lport=" + s.localPort.toString() + " rport=" + s.remotePort.toString());
        print(" una=" + s.sndUna.toString() + " nxt=" + s.sndNxt.toString() + " max=" + s.sndMax.toString());
        print(" rcvnxt=" + s.rcvNxt.toString() + " snd=" + s.sndBuf.len.toString() + " rcv=" + s.rcvBuf.len.toString());
        println(" fin=" + (s.finQueued ? "1" : "0") + " peerfin=" + (s.peerFinReceived ? "1" : "0") + " wnd=" + s.sndWnd.toString());
        s = s.hashNext;
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

  // ---- events ----

  post(s: TcpSocket, ev: u32): void {
    s.pendingEv |= ev;
    if (s.inEvList) return;
    s.inEvList = true;
    s.evNext = null;
    if (this.evTail) this.evTail!.evNext = s;
    else this.evHead = s;
    this.evTail = s;
  }

  /** Calls the handlers for every event posted, until none is left. */
  dispatch(): void {
    if (this.dispatching) return;
    this.dispatching = true;
    for (;;) {
      const s = this.evHead;
      if (!s) break;
      this.evHead = s.evNext;
      if (!this.evHead) this.evTail = null;
      s.evNext = null;
      s.inEvList = false;
      const ev = s.pendingEv;
      s.pendingEv = 0;
      s.event.broadcast();
      if (ev & EV_ACCEPTED) {
        const l = s.listener;
        s.listener = null;
        if (l && l.handler) l.handler!.accepted(l, s);
      }
      const h = s.handler;
      if (!h) continue;
      if (ev & EV_CONNECTED) h.connected(s);
      if (ev & EV_READABLE) h.readable(s);
      if (ev & EV_WRITABLE) h.writable(s);
      if (ev & EV_ERROR) h.error(s, s.error);
      if (ev & EV_CLOSED) h.closed(s);
    }
    this.dispatching = false;
  }
}

/** Not zero, broadcast, multicast (224/4) or class E. */
function unicast(ip: u32): bool {
  return ip != 0 && ip != 0xffffffff && (ip >>> 28) < 14;
}
