// Output of one connection: what the windows, Nagle, the ACK policy and
// loss recovery allow to be sent now, and the building of each segment
// (options, SACK blocks, the advertised window with receiver SWS avoidance).
// Segments are built in the context's one transmit buffer and handed to the
// IP layer with a single copy of the payload out of the send queue (the
// ring, or the immutable memory a reference points to: sendq.ts readAt).
// When no packet buffer is free (a small machine's pool, all of it in the
// device's transmit ring), a segment is held back rather than lost: nothing
// advances, the connection waits (TcpContext.waitForPacket), and this
// output runs again as soon as a buffer returns.
// Toward a device with segmentation offload (TSO), new data goes in large
// segments of many MSS-sized pieces, built straight in the device's buffer
// (one copy out of the queue, no checksum pass) and cut into pieces by the device;
// sequence numbers, windows, RTT samples and congestion control count bytes
// as before, and SACK recovery retransmits MSS-sized segments.

import { clock_ns } from "../../hal";
import { traceEvent, traceConn, TRACE_TCP_RETRANSMIT, TRACE_TCP_IDLE } from "../../trace";
import { TcpRepr, TCP_SYN, TCP_FIN, TCP_RST, TCP_ACK, TCP_PSH, TCP_HEADER_LEN } from "../wire/tcp";
import { seqLt, seqLe, seqGt, seqMax, seqMin } from "./seq";
import { DUP_THRESH } from "./sack";
import { NEVER } from "./timer";
import { Tcb, TcpState, synWindow } from "./tcb";

/** shouldDefer sends once a third of the window may go (Linux's tcp_tso_win_divisor). */
const TSO_WIN_DIVISOR: u32 = 3;
/** The longest TCP header: 20 bytes and 40 of options. */
const TCP_MAX_HEADER: u32 = 60;

/** Sends what the windows, Nagle and the ACK policy allow. */
export function output(t: Tcb): void {
  const s = t.state;
  if (s == TcpState.Closed || s == TcpState.Listen || s == TcpState.SynSent) return;
  if (s == TcpState.SynReceived) {
    if (t.ackNow && packetFor(t)) transmit(t, t.iss, 0, TCP_SYN | TCP_ACK);
    return;
  }
  const now = clock_ns();
  let sent = false;
  if (s != TcpState.TimeWait && t.buffersOn) {
    if (t.sndMax == t.sndUna && now - t.lastSendNs > t.rtt.rtoNs && t.cc.cwnd > 0) {
      t.cc.onIdle(now);
      t.trace("idle", TRACE_TCP_IDLE, now, 0);
    }
    sent = t.inRecovery && t.sackOk ? sendSackRecovery(t, now) : sendNormal(t, now);
    // A FIN alone (no data left to carry it).
    if (t.finQueued && !t.finSent() && t.sndNxt == t.finSeq && !t.inRecovery && packetFor(t)) {
      transmit(t, t.sndNxt, 0, TCP_FIN | TCP_ACK);
      advance(t, t.sndNxt + 1, now);
      sent = true;
    }
    checkPersist(t, now);
  }
  if (!sent && (t.ackNow || t.ackPendingBytes >= 2 * t.advMss) && packetFor(t)) transmit(t, ackSeq(t), 0, TCP_ACK);
  // Called from app calls too, outside segment processing: deadlines set here must be armed here.
  t.timers.arm();
}

/** New data, and go-back-N retransmission after an RTO. */
export function sendNormal(t: Tcb, now: u64): bool {
  let sent = false;
  const end = t.dataEnd();
  const sb = t.sack.board;
  const mss = segmentRoom(t);
  const room = largeRoom(t, mss);
  for (;;) {
    // After an RTO, skip what the peer already SACKed again.
    if (seqLt(t.sndNxt, t.sndMax) && t.sackOk) {
      const i = sb.find(t.sndNxt);
      if (i >= 0) {
        t.sndNxt = seqMin(sb.right(i), t.sndMax);
        continue;
      }
    }
    const flight = t.sndNxt - t.sndUna;
    const extra = !t.inRecovery && t.dupAcks > 0 && t.dupAcks < DUP_THRESH ? t.dupAcks * mss : 0; // RFC 3042
    const win = min(t.cc.cwnd + t.inflate + extra, t.sndWnd);
    if (!seqLt(t.sndNxt, end)) break;
    if (flight >= win) break;
    const avail = end - t.sndNxt;
    let len = min(min(room, win - flight), avail);
    const retx = seqLt(t.sndNxt, t.sndMax);
    if (retx) len = min(len, t.sndMax - t.sndNxt);
    // With segmentation offload: many segments' worth in one, if a large buffer is free now.
    let large: usize = 0;
    if (room > mss && shouldDefer(t, len, room, avail, flight, retx)) break;
    if (len > mss) len = largeLen(t, len, mss, avail, retx);
    if (len > mss) {
      large = t.ctx.largeBegin(t.remoteIp);
      if (large == 0) {
        // All in flight: the ACK of what is in flight (its arrival reclaims them first) resumes
        // sending; with nothing in flight no ACK will come, so one ordinary segment goes now.
        if (flight > 0) break;
        len = mss;
      }
    }
    if (len < mss && !retx) {
      // Sender SWS avoidance and Nagle (RFC 9293 3.8.6.2.1): a short segment only if it is
      // everything queued and nothing is in flight (or Nagle is off), or half the peer's max window.
      const all = len == avail;
      const nagleOk = t.noDelay || flight == 0 || t.finQueued;
      if (!(all && nagleOk) && len < t.maxSndWnd / 2 && !t.sendShort) break;
      if (len == 0) break;
    }
    if (large == 0 && !packetFor(t)) break;
    let flags = TCP_ACK;
    if (t.sndNxt + len == end) flags |= TCP_PSH;
    if (t.finQueued && t.sndNxt + len == t.finSeq) flags |= TCP_FIN;
    if (retx) noteRetransmit(t, t.sndNxt, len);
    else if (!t.tsOk) t.rtt.start(t.sndNxt, now);
    if (large != 0) transmitLarge(t, large, t.sndNxt, len, flags, mss);
    else transmit(t, t.sndNxt, len, flags);
    advance(t, t.sndNxt + len + (flags & TCP_FIN ? 1 : 0), now);
    sent = true;
  }
  return sent;
}

/** RFC 6675 5 step (C): retransmit lost data, else send new data, while cwnd - pipe >= 1 SMSS. */
function sendSackRecovery(t: Tcb, now: u64): bool {
  let sent = false;
  const end = t.dataEnd();
  const sk = t.sack;
  const mss = segmentRoom(t);
  for (let guard = 0; guard < 1024; guard++) {
    const lostEdge = sk.lostEdge(t.sndUna, t.mss);
    if (sk.pipe(t.sndUna, t.sndMax, lostEdge) + t.mss > t.cc.cwnd) break;
    if (!packetFor(t)) break;
    // Rule 1: the first lost, unsacked byte at or above HighRxt.
    if (sk.nextLost(t.sndUna, t.sndMax, lostEdge, mss)) {
      const seq = sk.nextSeq;
      const len = min<u32>(sk.nextLen, t.dataEnd() - seq);
      let flags = TCP_ACK;
      if (len == 0) {
        if (t.finQueued && seq == t.finSeq) flags |= TCP_FIN;
        else break;
      } else if (t.finQueued && seq + len == t.finSeq && seqLt(t.finSeq, t.sndMax)) flags |= TCP_FIN;
      noteRetransmit(t, seq, len);
      transmit(t, seq, len, flags);
      sk.highRxt = seq + len + (flags & TCP_FIN ? 1 : 0);
      sent = true;
      continue;
    }
    // Rule 2: new data, within the peer's window.
    if (seqLt(t.sndNxt, end)) {
      const flight = t.sndNxt - t.sndUna;
      if (flight < t.sndWnd) {
        const n = min(min(mss, end - t.sndNxt), t.sndWnd - flight);
        if (n > 0) {
          let flags = TCP_ACK;
          if (t.finQueued && t.sndNxt + n == t.finSeq) flags |= TCP_FIN;
          transmit(t, t.sndNxt, n, flags);
          advance(t, t.sndNxt + n + (flags & TCP_FIN ? 1 : 0), now);
          sent = true;
          continue;
        }
      }
    }
    // Rule 3: the first unsacked byte above HighRxt even if not yet deemed lost.
    if (!sk.nextUnsacked(t.sndUna, t.sndMax, mss)) break;
    const s3 = sk.nextSeq;
    const n3 = min<u32>(sk.nextLen, t.dataEnd() - s3);
    if (n3 == 0) break;
    noteRetransmit(t, s3, n3);
    transmit(t, s3, n3, TCP_ACK);
    sk.highRxt = s3 + n3;
    sent = true;
  }
  return sent;
}

/**
 * Sends one segment from sndUna (fast retransmit, partial ACK, RTO without
 * room); returns its data bytes: 0 when nothing went, a held segment
 * (packetFor) included, which later output or the RTO sends again.
 */
export function retransmitUna(t: Tcb): u32 {
  if (!packetFor(t)) return 0;
  let len = min<u32>(segmentRoom(t), t.dataEnd() - t.sndUna);
  if (t.sackOk) len = min<u32>(len, t.sack.holeEnd(t.sndUna, t.sndMax) - t.sndUna);
  let flags = TCP_ACK;
  if (t.finQueued && t.sndUna + len == t.finSeq && seqLt(t.finSeq, t.sndMax)) flags |= TCP_FIN;
  if (len == 0 && !(flags & TCP_FIN)) {
    if (t.finQueued && t.sndUna == t.finSeq) flags |= TCP_FIN;
    else return 0;
  }
  noteRetransmit(t, t.sndUna, len);
  transmit(t, t.sndUna, len, flags);
  return len;
}

/**
 * The data a segment can carry now: the MSS less the SACK blocks it will
 * carry (Linux's tcp_current_mss). The MSS already excludes the timestamp
 * option; SACK blocks come and go, and a full segment with them would not
 * fit the path (IP sends TCP with don't-fragment).
 */
export function segmentRoom(t: Tcb): u32 {
  if (!t.sackOk || t.ooo.count == 0) return t.mss;
  const k = min<u32>(<u32>t.ooo.count, t.tsOk ? 3 : 4);
  const room: u32 = 4 + 8 * k;
  return t.mss > room + 64 ? t.mss - room : 64;
}

/**
 * The most payload one segment may carry in sendNormal: `mss`, or with
 * segmentation offload toward the peer (TcpContext.largeMax) as many whole
 * `mss` pieces as the device takes in one (64 KiB with IP's headers: 45
 * pieces of 1448). The windows cap it further where it is used.
 */
export function largeRoom(t: Tcb, mss: u32): u32 {
  const max = t.ctx.largeMax(t.remoteIp);
  if (max < TCP_MAX_HEADER + 2 * mss) return mss;
  return (max - TCP_MAX_HEADER) / mss * mss;
}

/**
 * With segmentation offload: whether to wait for the next ACK rather than
 * send `len` bytes now, so that segments are large (Linux's
 * tcp_tso_should_defer, without its timer): only while data is in flight
 * (its ACK comes, or the RTO), more is queued than may go now, and what may
 * go is under a third of the window. A per-packet cost, not a per-byte
 * one, is what offload saves; an ACK every two pieces would otherwise make
 * every segment two pieces long.
 */
function shouldDefer(t: Tcb, len: u32, room: u32, avail: u32, flight: u32, retx: bool): bool {
  if (retx || flight == 0 || len >= room || len >= avail || t.finQueued) return false;
  return len < min(t.sndWnd, t.cc.cwnd) / TSO_WIN_DIVISOR;
}

/**
 * The length of a large segment of up to `len` bytes: whole `mss` pieces,
 * and a short last piece only where sendNormal would send that piece on
 * its own after the others (everything queued with Nagle off or a FIN
 * waiting, or half the peer's largest window), so the wire carries the
 * segments it would carry without offload. Retransmissions keep their length.
 */
function largeLen(t: Tcb, len: u32, mss: u32, avail: u32, retx: bool): u32 {
  const tail = len % mss;
  if (tail == 0 || retx) return len;
  if ((len == avail && (t.noDelay || t.finQueued)) || tail >= t.maxSndWnd / 2) return len;
  return len - tail;
}

function noteRetransmit(t: Tcb, seq: u32, len: u32): void {
  traceEvent(TRACE_TCP_RETRANSMIT, traceConn(t.localPort, t.remotePort), seq - t.iss, len, t.inRecovery ? 1 : 0);
  t.retransmits++;
  t.counters.retransSegments++;
  t.counters.retransBytes += len;
  if (!t.tsOk) t.rtt.cancel(); // Karn
}

/** SND.NXT moves to `nxt` after sending; the RTO runs while anything is in flight. */
export function advance(t: Tcb, nxt: u32, now: u64): void {
  t.sndNxt = nxt;
  if (seqGt(nxt, t.sndMax)) t.sndMax = nxt;
  if (t.timers.rtoAt == NEVER) t.timers.rtoAt = now + t.rtt.rtoNs;
  t.lastSendNs = now;
}

/**
 * Data waiting, nothing in flight, and still nothing sent: the window is
 * zero, or open but too small for sender SWS avoidance to use it. No ACK
 * will come to change that if the peer's window update was lost, so the
 * persist timer probes a zero window and, on a small one, sends what fits
 * anyway (RFC 1122 4.2.3.4's override time-out; Linux's probe timer covers
 * both the same way).
 */
export function checkPersist(t: Tcb, now: u64): void {
  const tm = t.timers;
  if (t.sndUna == t.sndMax && seqLt(t.sndNxt, t.dataEnd())) {
    if (tm.persistAt == NEVER) {
      const base = max<u64>(t.rtt.rtoNs, t.cfg.minRtoNs);
      tm.persistAt = now + min<u64>(base << min<u32>(t.persistBackoff, 16), t.cfg.maxRtoNs);
    }
  } else tm.persistAt = NEVER;
}

/** Sends our SYN (SYN-SENT) or SYN-ACK (SYN-RECEIVED) and starts its time-out. */
export function sendSyn(t: Tcb): void {
  const now = clock_ns();
  const flags = t.state == TcpState.SynSent ? TCP_SYN : TCP_SYN | TCP_ACK;
  t.rtt.startNs = now;
  transmit(t, t.iss, 0, flags);
  if (seqLe(t.sndNxt, t.iss)) t.sndNxt = t.iss + 1;
  t.sndMax = seqMax(t.sndMax, t.sndNxt);
  if (t.timers.rtoAt == NEVER) t.timers.rtoAt = now + t.rtt.rtoNs;
  t.timers.arm();
}

/**
 * Whether a packet buffer is free for `t`'s next segment. If not, `t` waits
 * for one (its output runs again when one returns) and the caller sends
 * nothing and moves no state, so the segment is held, not lost. A
 * connection already waiting sends nothing until its turn comes: the pool
 * is not asked again for each segment it holds, and those that waited
 * first go first.
 */
export function packetFor(t: Tcb): bool {
  if (t.pktWaiting) return false;
  if (t.ctx.canSend()) return true;
  t.ctx.waitForPacket(t);
  return false;
}

/** Builds and sends one segment: `len` bytes from the send queue at `seq`. */
export function transmit(t: Tcb, seq: u32, len: u32, flags: u32): void {
  const ctx = t.ctx;
  const buf = ctx.txBuf;
  const hl = fillHeader(t, seq, len, flags);
  if (len > 0) t.sndBuf.readAt(seq - t.sndBufSeq, buf + hl, len);
  const n = ctx.tx.emit(buf, t.localIp, t.remoteIp);
  ctx.counters.txSegments++;
  ctx.counters.txBytes += len;
  ctx.send(t.localIp, t.remoteIp, n);
  acked(t, flags);
}

/**
 * Builds one large segment at `p` (from TcpContext.largeBegin): `len` bytes
 * from the send queue at `seq`, copied once, straight where the device
 * reads them; the device completes the checksum and cuts the segment into
 * pieces of `mss` bytes (PSH and FIN on the last piece only).
 */
function transmitLarge(t: Tcb, p: usize, seq: u32, len: u32, flags: u32, mss: u32): void {
  const ctx = t.ctx;
  const hl = fillHeader(t, seq, len, flags);
  t.sndBuf.readAt(seq - t.sndBufSeq, p + hl, len);
  const n = ctx.tx.emit(p, t.localIp, t.remoteIp, false);
  const c = ctx.counters;
  c.txSegments += (len + mss - 1) / mss;
  c.txBytes += len;
  c.tsoSegments++;
  c.tsoBytes += len;
  ctx.largeSend(t.localIp, t.remoteIp, n, hl, mss);
  acked(t, flags);
}

/** A segment with ACK went: nothing more is owed to the peer. */
function acked(t: Tcb, flags: u32): void {
  if ((flags & TCP_ACK) != 0) {
    t.lastAckSent = t.rcvNxt;
    t.ackNow = false;
    t.ackPendingBytes = 0;
    t.timers.delackAt = NEVER;
  }
}

/** Fills the context's TcpRepr for a segment of `len` bytes at `seq` (options, SACK, window); returns the header length. */
function fillHeader(t: Tcb, seq: u32, len: u32, flags: u32): u32 {
  const ctx = t.ctx;
  const r = ctx.tx;
  r.srcPort = t.localPort;
  r.dstPort = t.remotePort;
  r.seq = seq;
  r.flags = flags;
  r.urgent = 0;
  r.clearOptions();
  const syn = (flags & TCP_SYN) != 0;
  const active = t.state == TcpState.SynSent;
  if (syn) {
    r.mss = t.advMss;
    if (active ? t.cfg.windowScale : t.wsOk) r.wscale = <i32>t.rcvWscale;
    r.sackPermitted = active ? t.cfg.sack : t.sackOk;
  }
  if (syn && active ? t.cfg.timestamps : t.tsOk) {
    r.hasTimestamp = true;
    r.tsVal = ctx.tsNow();
    r.tsEcr = active ? 0 : t.tsRecent;
  }
  if ((flags & TCP_ACK) != 0) {
    r.ack = t.rcvNxt;
    if (t.sackOk && t.ooo.count > 0 && !syn) fillSack(t, r);
  } else r.ack = 0;
  if (syn) {
    r.window = synWindow(t.cfg.rcvBuf);
    // The SYN-ACK's window is the first the peer may fill.
    if ((flags & TCP_ACK) != 0 && seqGt(t.rcvNxt + r.window, t.rcvAdvEdge)) t.rcvAdvEdge = t.rcvNxt + r.window;
  } else if (flags & TCP_RST) r.window = 0;
  else r.window = windowField(t);
  r.payloadLen = len;
  return TCP_HEADER_LEN + r.optionsLen();
}

/** SACK blocks (RFC 2018 4): the most recently changed range first, then the others. */
function fillSack(t: Tcb, r: TcpRepr): void {
  const o = t.ooo;
  const maxBlocks = r.hasTimestamp ? 3 : 4;
  let k = 0;
  const first = o.find(t.lastOooLeft);
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
function windowField(t: Tcb): u32 {
  const space = t.buffersOn ? t.rcvOffer() : t.cfg.rcvBuf;
  const cur = seqGt(t.rcvAdvEdge, t.rcvNxt) ? t.rcvAdvEdge - t.rcvNxt : 0;
  const field = windowFieldFor(space, t.cfg.rcvBuf, cur, t.advMss, t.rcvWscale);
  const edge = t.rcvNxt + (field << t.rcvWscale);
  if (seqGt(edge, t.rcvAdvEdge)) t.rcvAdvEdge = edge;
  return field;
}

/**
 * The window field for `space` bytes free in a receive buffer of `cap`,
 * with `cur` bytes of window already advertised: the right edge moves up
 * only by a worthwhile amount (half the buffer or an MSS), scaled by
 * `wscale` (the caller moves its advertised edge to what the field says).
 */
export function windowFieldFor(space: u32, cap: u32, cur: u32, advMss: u32, wscale: u32): u32 {
  let wnd = space;
  if (wnd > cur && wnd - cur < min(cap / 2, advMss)) wnd = cur;
  const field = wnd >> wscale;
  return field > 65535 ? 65535 : field;
}

/** After the app read: tell the peer if the window opened a worthwhile amount. */
export function maybeWindowUpdate(t: Tcb): void {
  if (!t.isSynchronized() || t.peerFinReceived || !t.buffersOn) return;
  const cur = seqGt(t.rcvAdvEdge, t.rcvNxt) ? t.rcvAdvEdge - t.rcvNxt : 0;
  const space = t.rcvOffer();
  const step = min(t.cfg.rcvBuf / 2, 2 * t.advMss);
  if (space > cur && space - cur >= step) {
    t.ackNow = true;
    output(t);
  }
}

/**
 * The sequence number of a pure ACK: the highest sent (SND.MAX, Linux's
 * never-rewound snd_nxt), unless a probe or a shrunk window put it past the
 * peer's right edge. Not SND.NXT: after an RTO rewinds it (go-back-N), it
 * lies below what the peer has already received, and the peer drops such an
 * ACK as old without reading its ACK field; when both ends were in
 * go-back-N each answered the other's with another, and neither SND.UNA
 * moved again (found by bench/experiments/irq-liveness.ts, seed 17). And
 * not past the edge: a peer with a zero window accepts only SEG.SEQ =
 * RCV.NXT, so an ACK beyond it would be dropped unread the same way (Linux:
 * tcp_acceptable_seq).
 */
export function ackSeq(t: Tcb): u32 {
  const edge = t.sndUna + t.sndWnd;
  return seqGt(t.sndMax, edge) ? edge : t.sndMax;
}

/** RFC 5961 challenge ACK, rate-limited stack-wide. */
export function challengeAck(t: Tcb): void {
  if (t.ctx.takeChallengeAck()) {
    t.counters.challengeAcks++;
    transmit(t, ackSeq(t), 0, TCP_ACK);
  } else t.counters.challengeAcksLimited++;
}

/** A RST at `seq` for a segment this connection cannot accept (bad ACK in SYN-SENT/SYN-RECEIVED). */
export function sendReset(t: Tcb, seq: u32): void {
  t.ctx.sendReset(t.localIp, t.localPort, t.remoteIp, t.remotePort, seq, 0, false);
}

