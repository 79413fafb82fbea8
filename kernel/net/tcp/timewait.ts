// TIME-WAIT as a small record (RFC 9293 3.10.7.4, "TIME-WAIT STATE"): once
// a connection has nothing left but to linger for 2 MSL, the stack keeps
// only what answering its peer needs (the 4-tuple, SND.MAX, RCV.NXT, the
// window it advertises, TS.Recent, the deadline) in this table, and lets go
// of the TCB, its socket and its timer. A server closing hundreds of
// connections a second keeps tens of thousands in TIME-WAIT: at ~2 KiB of
// TCB each that was megabytes, at TIME_WAIT_RECORD_BYTES it is not.
//
// A record answers what the TCB did in TIME-WAIT (input.ts syncInput and
// processAck): a retransmitted FIN (out of the window, as it sits below
// RCV.NXT) is acknowledged and restarts the 2 MSL; any other segment out of
// the window draws an ACK, a RST out of it is ignored; in the window a RST
// with exactly RCV.NXT ends the record, other RSTs and SYNs draw a
// challenge ACK (RFC 5961); an old timestamp draws an ACK (PAWS, RFC 7323);
// an ACK of something never sent draws a challenge ACK; data is dropped
// and acknowledged. A new SYN that is provably newer reopens the 4-tuple
// (RFC 6191, decided by the stack). Every record ends counted in
// `tcp.closed`, as the TCB did; past `max` the oldest ends early
// (`timeWaitEvicted`), as Linux's tw_buckets do.
//
// Memory: records live in one block of manually managed memory (no GC
// object per record), grown by doubling up to `max`, with a hash table of
// 4 bytes per slot and a list in deadline order for expiry.

import { clock_ns } from "../../hal";
import { Scheduler } from "../../sched/loop";
import { Task } from "../../sched/task";
import { TimerTask } from "../../sched/timer-task";
import { TcpRepr, TCP_SYN, TCP_FIN, TCP_RST, TCP_ACK } from "../wire/tcp";
import { seqLt, seqGt, seqLe, seqGe } from "./seq";
import { TcpCounters } from "./counters";
import { Tcb } from "./tcb";
import { windowFieldFor } from "./output";
import { acceptableAt, PAWS_IDLE_NS } from "./input";

/** Bytes of one record's slot. */
const SLOT: u32 = 96;
/** What one lingering connection costs: its slot and its hash table entry. */
export const TIME_WAIT_RECORD_BYTES: u32 = SLOT + 4;
/** Slots the table starts with. */
const FIRST_SLOTS: u32 = 16;
const NIL: u32 = 0xffffffff;

// The slot's fields (byte offsets).
const LIP: usize = 0;
const RIP: usize = 4;
const LPORT: usize = 8; // u16
const RPORT: usize = 10; // u16
const ACK_SEQ: usize = 12; // the sequence number of our ACKs (input.ts ackSeq)
const SND_MAX: usize = 16;
const ACK_LOW: usize = 20; // SND.UNA - MAX.SND.WND: ACKs below are too old (RFC 5961 5.2)
const RCV_NXT: usize = 24;
const ADV_EDGE: usize = 28; // RCV.NXT + the window advertised
const TS_RECENT: usize = 32;
const LAST_ACK: usize = 36;
const RCV_BUF: usize = 40;
const ADV_MSS: usize = 44; // u16
const WSCALE: usize = 46; // u8
const FLAGS: usize = 47; // u8: TS_OK
const EXPIRY: usize = 48; // u64
const TW_NS: usize = 56; // u64: this connection's 2 MSL
const TS_RECENT_NS: usize = 64; // u64
const HASH_NEXT: usize = 72; // u32 slot
const PREV: usize = 76; // u32 slot, deadline order
const NEXT: usize = 80; // u32 slot
const TS_OK: u8 = 1;

/** What the table sends through (the stack). */
export abstract class TimeWaitOwner {
  /** Our timestamp clock (RFC 7323). */
  abstract tsNow(): u32;
  /** Whether one more challenge ACK may go this second (stack-wide, RFC 5961 7). */
  abstract takeChallengeAck(): bool;
  /** Sends the segment [p, p+len) from `src` to `dst`. */
  abstract sendSegment(src: u32, dst: u32, p: usize, len: u32): void;
}

export class TimeWaitTable {
  /** Records at most (the stack's timeWaitMax); past it the oldest ends early. */
  max: u32;
  /** Records now. */
  count: u32 = 0;
  private slots: usize = 0;
  private cap: u32 = 0;
  private buckets: usize = 0;
  private mask: u32 = 0;
  private freeHead: u32 = NIL;
  private head: u32 = NIL; // earliest deadline
  private tail: u32 = NIL;
  private readonly tx: TcpRepr = new TcpRepr();
  private readonly txBuf: usize = heap.alloc(64);
  private timer!: TimerTask<TimeWaitTable>;

  constructor(readonly owner: TimeWaitOwner, readonly counters: TcpCounters, sched: Scheduler, max: u32) {
    this.max = max;
    this.timer = new TimerTask<TimeWaitTable>(sched, "tcp-timewait", this);
  }

  /** Bytes the table holds now (slots and hash table). */
  get bytes(): usize {
    return <usize>this.cap * <usize>TIME_WAIT_RECORD_BYTES;
  }

  // ---- records ----

  /** Takes `t` (in TIME-WAIT) into a record that lingers until `expiry`. */
  enter(t: Tcb, ackSeq: u32, expiry: u64): void {
    if (this.max == 0) {
      this.counters.timeWaitEvicted++;
      this.counters.closed++;
      return;
    }
    while (this.count >= this.max) this.end(this.head, true);
    if (this.freeHead == NIL) this.grow();
    const i = this.freeHead;
    const p = this.slot(i);
    this.freeHead = load<u32>(p + HASH_NEXT);
    store<u32>(p + LIP, t.localIp);
    store<u32>(p + RIP, t.remoteIp);
    store<u16>(p + LPORT, <u16>t.localPort);
    store<u16>(p + RPORT, <u16>t.remotePort);
    store<u32>(p + ACK_SEQ, ackSeq);
    store<u32>(p + SND_MAX, t.sndMax);
    store<u32>(p + ACK_LOW, t.sndUna - t.maxSndWnd);
    store<u32>(p + RCV_NXT, t.rcvNxt);
    store<u32>(p + ADV_EDGE, t.rcvAdvEdge);
    store<u32>(p + TS_RECENT, t.tsRecent);
    store<u32>(p + LAST_ACK, t.lastAckSent);
    store<u32>(p + RCV_BUF, t.cfg.rcvBuf);
    store<u16>(p + ADV_MSS, <u16>t.advMss);
    store<u8>(p + WSCALE, <u8>t.rcvWscale);
    store<u8>(p + FLAGS, t.tsOk ? TS_OK : 0);
    store<u64>(p + TW_NS, t.cfg.timeWaitNs);
    store<u64>(p + TS_RECENT_NS, t.tsRecentNs);
    const b = this.bucket(t.localPort, t.remoteIp, t.remotePort);
    store<u32>(p + HASH_NEXT, load<u32>(b));
    store<u32>(b, i);
    this.count++;
    this.schedule(i, expiry);
  }

  /** The record of lip:lport <- rip:rport, or -1. */
  find(lip: u32, lport: u32, rip: u32, rport: u32): i32 {
    if (this.count == 0) return -1;
    let i = load<u32>(this.bucket(lport, rip, rport));
    while (i != NIL) {
      const p = this.slot(i);
      if (load<u16>(p + LPORT) == <u16>lport && load<u32>(p + RIP) == rip && load<u16>(p + RPORT) == <u16>rport) {
        const l = load<u32>(p + LIP);
        if (l == lip || l == 0 || lip == 0) return <i32>i;
      }
      i = load<u32>(p + HASH_NEXT);
    }
    return -1;
  }

  /** SND.MAX of record `i` (a reopening connection's ISN goes above it). */
  sndMax(i: i32): u32 {
    return load<u32>(this.slot(<u32>i) + SND_MAX);
  }

  /** RFC 6191: whether a SYN (`seq`, timestamp `tsVal` if `hasTs`) is provably newer than record `i`'s connection. */
  newerSyn(i: i32, seq: u32, hasTs: bool, tsVal: u32): bool {
    const p = this.slot(<u32>i);
    return (load<u8>(p + FLAGS) & TS_OK) != 0 && hasTs ? seqGt(tsVal, load<u32>(p + TS_RECENT)) : seqGt(seq, load<u32>(p + RCV_NXT));
  }

  /** Ends record `i` now (reopened by a newer SYN). */
  reopen(i: i32): void {
    this.end(<u32>i, false);
  }

  /** Ends every record (the stack goes away, or a test resets it). */
  clear(): void {
    while (this.head != NIL) this.end(this.head, false);
  }

  // ---- a segment for a record (RFC 9293 3.10.7.4 in TIME-WAIT) ----

  input(i: i32, seg: TcpRepr, now: u64): void {
    const c = this.counters;
    const p = this.slot(<u32>i);
    const rcvNxt = load<u32>(p + RCV_NXT);
    const tsOk = (load<u8>(p + FLAGS) & TS_OK) != 0;
    const rst = seg.has(TCP_RST);
    const syn = seg.has(TCP_SYN);
    const fin = seg.has(TCP_FIN);
    // PAWS (RFC 7323 5.3).
    if (tsOk && seg.hasTimestamp && !rst && seqLt(seg.tsVal, load<u32>(p + TS_RECENT))) {
      if (now - load<u64>(p + TS_RECENT_NS) > PAWS_IDLE_NS) store<u32>(p + TS_RECENT, seg.tsVal);
      else {
        c.dropPaws++;
        this.ack(<u32>i);
        return;
      }
    }
    // 1. sequence number check, against the window last advertised.
    const edge = load<u32>(p + ADV_EDGE);
    const wnd = seqGt(edge, rcvNxt) ? edge - rcvNxt : 0;
    const seq = seg.seq;
    const segLen = seg.payloadLen + (syn ? 1 : 0) + (fin ? 1 : 0);
    if (!acceptableAt(rcvNxt, seq, segLen, wnd)) {
      if (rst) {
        c.rstIgnored++;
        return;
      }
      if (syn) {
        c.synInSync++;
        this.challenge(<u32>i);
        return;
      }
      if (segLen > 0 && seqLt(seq + segLen, rcvNxt + 1)) c.duplicateSegments++;
      c.dropOutOfWindow++;
      // The peer's FIN again: our last ACK was lost; 2 MSL from now.
      if (fin) this.schedule(<u32>i, now + load<u64>(p + TW_NS));
      this.ack(<u32>i);
      return;
    }
    if (seg.payloadLen > 0 && seqLt(seq, rcvNxt)) c.duplicateSegments++;
    // RFC 7323 4.3: the timestamp of a segment covering the last ACK sent.
    if (tsOk && seg.hasTimestamp && seqLe(seq, load<u32>(p + LAST_ACK)) && seqGe(seg.tsVal, load<u32>(p + TS_RECENT))) {
      store<u32>(p + TS_RECENT, seg.tsVal);
      store<u64>(p + TS_RECENT_NS, now);
    }
    // 2. RST (RFC 5961 3.2): exact match ends the record, anything else in window is challenged.
    if (rst) {
      if (seq != rcvNxt) {
        c.rstIgnored++;
        this.challenge(<u32>i);
        return;
      }
      c.rstAccepted++;
      c.resetsReceived++;
      this.end(<u32>i, false);
      return;
    }
    // 4. SYN in window (RFC 5961 4.2).
    if (syn) {
      c.synInSync++;
      this.challenge(<u32>i);
      return;
    }
    // 5. ACK: one of something never sent, or too old, is challenged (RFC 5961 5.2).
    if (!seg.has(TCP_ACK)) {
      c.dropBadFlags++;
      return;
    }
    if (seqGt(seg.ack, load<u32>(p + SND_MAX)) || seqLt(seg.ack, load<u32>(p + ACK_LOW))) {
      c.dropBadAck++;
      this.challenge(<u32>i);
      return;
    }
    // 7. Data after the peer's FIN cannot be legitimate: dropped, acknowledged.
    if (seg.payloadLen > 0) {
      c.dropDataAfterClose++;
      this.ack(<u32>i);
    }
  }

  /** The pure ACK of record `i`, as the TCB's output would have sent it (window with receiver SWS avoidance). */
  private ack(i: u32): void {
    const p = this.slot(i);
    const r = this.tx;
    r.clearOptions();
    r.srcPort = <u32>load<u16>(p + LPORT);
    r.dstPort = <u32>load<u16>(p + RPORT);
    r.seq = load<u32>(p + ACK_SEQ);
    const rcvNxt = load<u32>(p + RCV_NXT);
    r.ack = rcvNxt;
    r.flags = TCP_ACK;
    r.urgent = 0;
    if ((load<u8>(p + FLAGS) & TS_OK) != 0) {
      r.hasTimestamp = true;
      r.tsVal = this.owner.tsNow();
      r.tsEcr = load<u32>(p + TS_RECENT);
    }
    // As output.ts's windowField with no buffers: the whole receive buffer is the space.
    const cap = load<u32>(p + RCV_BUF);
    const shift = <u32>load<u8>(p + WSCALE);
    const advEdge = load<u32>(p + ADV_EDGE);
    const cur = seqGt(advEdge, rcvNxt) ? advEdge - rcvNxt : 0;
    const field = windowFieldFor(cap, cap, cur, <u32>load<u16>(p + ADV_MSS), shift);
    const e = rcvNxt + (field << shift);
    if (seqGt(e, advEdge)) store<u32>(p + ADV_EDGE, e);
    r.window = field;
    r.payloadLen = 0;
    const n = r.emit(this.txBuf, load<u32>(p + LIP), load<u32>(p + RIP));
    this.counters.txSegments++;
    store<u32>(p + LAST_ACK, rcvNxt);
    this.owner.sendSegment(load<u32>(p + LIP), load<u32>(p + RIP), this.txBuf, n);
  }

  /** RFC 5961 challenge ACK, rate-limited stack-wide. */
  private challenge(i: u32): void {
    if (this.owner.takeChallengeAck()) {
      this.counters.challengeAcks++;
      this.ack(i);
    } else this.counters.challengeAcksLimited++;
  }

  // ---- expiry ----

  onTimer(task: Task): void {
    const now = clock_ns();
    while (this.head != NIL && load<u64>(this.slot(this.head) + EXPIRY) <= now) this.end(this.head, false);
    if (this.head != NIL) this.timer.rearm(load<u64>(this.slot(this.head) + EXPIRY));
  }

  /** Puts record `i` in deadline order at `expiry` (usually the end: every 2 MSL is the same). */
  private schedule(i: u32, expiry: u64): void {
    const p = this.slot(i);
    if (load<u32>(p + PREV) != NIL || this.head == i) this.unlink(i);
    store<u64>(p + EXPIRY, expiry);
    let after = this.tail;
    while (after != NIL && load<u64>(this.slot(after) + EXPIRY) > expiry) after = load<u32>(this.slot(after) + PREV);
    const next = after == NIL ? this.head : load<u32>(this.slot(after) + NEXT);
    store<u32>(p + PREV, after);
    store<u32>(p + NEXT, next);
    if (after == NIL) this.head = i;
    else store<u32>(this.slot(after) + NEXT, i);
    if (next == NIL) this.tail = i;
    else store<u32>(this.slot(next) + PREV, i);
    this.timer.armBy(load<u64>(this.slot(this.head) + EXPIRY));
  }

  private unlink(i: u32): void {
    const p = this.slot(i);
    const prev = load<u32>(p + PREV);
    const next = load<u32>(p + NEXT);
    if (prev == NIL) this.head = next;
    else store<u32>(this.slot(prev) + NEXT, next);
    if (next == NIL) this.tail = prev;
    else store<u32>(this.slot(next) + PREV, prev);
    store<u32>(p + PREV, NIL);
    store<u32>(p + NEXT, NIL);
  }

  /** Ends record `i`: out of the hash, the deadline list and the count; counted as a closed connection. */
  private end(i: u32, evicted: bool): void {
    const p = this.slot(i);
    this.unlink(i);
    const b = this.bucket(<u32>load<u16>(p + LPORT), load<u32>(p + RIP), <u32>load<u16>(p + RPORT));
    let k = load<u32>(b);
    if (k == i) store<u32>(b, load<u32>(p + HASH_NEXT));
    else {
      while (k != NIL) {
        const q = this.slot(k);
        const n = load<u32>(q + HASH_NEXT);
        if (n == i) {
          store<u32>(q + HASH_NEXT, load<u32>(p + HASH_NEXT));
          break;
        }
        k = n;
      }
    }
    store<u32>(p + HASH_NEXT, this.freeHead);
    this.freeHead = i;
    this.count--;
    this.counters.closed++;
    if (evicted) this.counters.timeWaitEvicted++;
  }

  // ---- memory ----

  @inline private slot(i: u32): usize {
    return this.slots + <usize>i * SLOT;
  }

  private bucket(lport: u32, rip: u32, rport: u32): usize {
    const h = (rip * 0x9e3779b1) ^ (((lport << 16) | rport) * 0x85ebca6b);
    return this.buckets + (<usize>((h ^ (h >>> 15)) & this.mask) << 2);
  }

  /** Doubles the slots (the first time: FIRST_SLOTS), keeping every record at its index, and rebuilds the hash. */
  private grow(): void {
    const old = this.slots;
    const oldCap = this.cap;
    const cap = oldCap == 0 ? FIRST_SLOTS : oldCap * 2;
    const slots = heap.alloc(<usize>cap * SLOT);
    if (old != 0) {
      memory.copy(slots, old, <usize>oldCap * SLOT);
      heap.free(old);
      heap.free(this.buckets);
    }
    this.slots = slots;
    this.cap = cap;
    this.mask = cap - 1;
    this.buckets = heap.alloc(<usize>cap << 2);
    memory.fill(this.buckets, 0xff, <usize>cap << 2);
    // Free slots: the new half (all of them the first time), lowest first.
    for (let i = cap; i > oldCap; i--) {
      const p = this.slot(i - 1);
      store<u32>(p + HASH_NEXT, this.freeHead);
      store<u32>(p + PREV, NIL);
      store<u32>(p + NEXT, NIL);
      this.freeHead = i - 1;
    }
    // Records in use are those in the deadline list: back into the new hash.
    for (let i = this.head; i != NIL; i = load<u32>(this.slot(i) + NEXT)) {
      const p = this.slot(i);
      const b = this.bucket(<u32>load<u16>(p + LPORT), load<u32>(p + RIP), <u32>load<u16>(p + RPORT));
      store<u32>(p + HASH_NEXT, load<u32>(b));
      store<u32>(b, i);
    }
  }
}
