// A segment arrives (RFC 9293 3.10.7), for one connection: SYN-SENT's
// rules, then the synchronized states' checks in the RFC's order (PAWS,
// sequence number, RST, SYN, ACK, data, FIN), with RFC 5961's RST/SYN/ACK
// validation, RFC 7323's timestamps, SACK blocks into the scoreboard and
// the decisions of loss recovery (when it starts and ends; sack.ts and
// output.ts do the retransmitting). Also the two ways a passive connection
// begins (a SYN at a listener, a valid cookie) and ICMP errors.

import { clock_ns } from "../../hal";
import { TRACE_TCP_INIT, TRACE_TCP_RECOVERED, TRACE_TCP_CWND_ACK, TRACE_TCP_CWND_LOSS } from "../../trace";
import { TcpRepr, TCP_SYN, TCP_FIN, TCP_RST, TCP_ACK } from "../wire/tcp";
import { seqLt, seqLe, seqGt, seqGe, seqMax, seqInRange } from "./seq";
import { DUP_THRESH } from "./sack";
import { NEVER } from "./timer";

/** The most option bytes a segment carries: a full segment's payload is at least the MSS less these. */
const TCP_MAX_OPTIONS: u32 = 40;
import { Tcb, synWindow, TcpState, TcpError, EV_CONNECTED, EV_READABLE, EV_WRITABLE, EV_CLOSED } from "./tcb";
import { output, transmit, retransmitUna, sendSyn, challengeAck, sendReset } from "./output";

/** RFC 7323 5.5: a timestamp not refreshed for 24 days is no longer trusted for PAWS. */
export const PAWS_IDLE_NS: u64 = 24 * 24 * 3600 * 1_000_000_000;

/** Processes `seg` (parsed, checksum verified) whose payload is at `payload`. */
export function segmentArrives(t: Tcb, seg: TcpRepr, payload: usize): void {
  const now = clock_ns();
  t.lastRecvNs = now;
  t.keepProbes = 0;
  if (t.cfg.keepAlive && t.isSynchronized()) t.timers.keepAt = now + t.cfg.keepIdleNs;
  if (t.state == TcpState.SynSent) synSentInput(t, seg, payload, now);
  else if (t.state != TcpState.Closed && t.state != TcpState.Listen) syncInput(t, seg, payload, now);
  if (t.state != TcpState.Closed) t.timers.arm();
}

/** Passive open: `seg` is the SYN that arrived for a listener. Sends the SYN-ACK. */
export function synArrives(t: Tcb, seg: TcpRepr, iss: u32): void {
  t.irs = seg.seq;
  t.rcvNxt = seg.seq + 1;
  t.rcvAdvEdge = t.rcvNxt;
  startSendSpace(t, iss);
  takeSynOptions(t, seg);
  t.sndWnd = seg.window; // never scaled in a SYN
  t.maxSndWnd = t.sndWnd;
  t.sndWl1 = seg.seq;
  t.sndWl2 = 0;
  t.state = TcpState.SynReceived;
  sendSyn(t);
}

/**
 * A connection born from a valid SYN cookie: the handshake completes with
 * the ACK `seg` (processed next by segmentArrives); `mss` and the options
 * come from the cookie.
 */
export function cookieArrives(t: Tcb, seg: TcpRepr, mss: u32, ws: i32, sackOk: bool): void {
  t.irs = seg.seq - 1;
  t.rcvNxt = seg.seq;
  // The cookie's SYN-ACK offered this window (listener.ts sendCookie): the
  // peer may already be filling it, with this very segment or the next.
  t.rcvAdvEdge = t.rcvNxt + synWindow(t.cfg.rcvBuf);
  startSendSpace(t, seg.ack - 1);
  // The SYN-ACK went out (it was the cookie): its sequence number is behind us.
  t.sndNxt = seg.ack;
  t.sndMax = seg.ack;
  t.recover = seg.ack;
  t.sack.highRxt = seg.ack;
  const cfg = t.cfg;
  t.wsOk = ws >= 0 && cfg.windowScale;
  t.sndWscale = t.wsOk ? <u32>ws : 0;
  t.rcvWscale = t.wsOk ? t.chooseWscale() : 0;
  t.sackOk = sackOk && cfg.sack;
  t.tsOk = seg.hasTimestamp && cfg.timestamps;
  if (t.tsOk) {
    t.tsRecent = seg.tsVal;
    t.tsRecentNs = clock_ns();
  }
  t.mss = max<u32>(min<u32>(mss, t.advMss), 64);
  if (t.tsOk) t.mss -= 12;
  t.sndWl1 = seg.seq - 1;
  t.sndWl2 = t.iss;
  t.fromCookie = true;
  t.state = TcpState.SynReceived;
}

/** Our send sequence space before the SYN goes: everything at ISS, data from ISS + 1. */
export function startSendSpace(t: Tcb, iss: u32): void {
  t.iss = iss;
  t.sndUna = iss;
  t.sndNxt = iss;
  t.sndMax = iss;
  t.sndBufSeq = iss + 1;
  t.recover = iss;
  t.sack.highRxt = iss;
  t.advMss = t.ctx.mssFor(t.remoteIp, t.cfg.mss);
}

/** Negotiates options from the peer's SYN (or SYN-ACK). */
function takeSynOptions(t: Tcb, seg: TcpRepr): void {
  const cfg = t.cfg;
  t.wsOk = cfg.windowScale && seg.wscale >= 0;
  t.sndWscale = t.wsOk ? <u32>seg.wscale : 0;
  t.rcvWscale = t.wsOk ? t.chooseWscale() : 0;
  t.sackOk = cfg.sack && seg.sackPermitted;
  t.tsOk = cfg.timestamps && seg.hasTimestamp;
  if (t.tsOk) {
    t.tsRecent = seg.tsVal;
    t.tsRecentNs = clock_ns();
  }
  // RFC 9293 3.7.1: no MSS option means 536.
  const peerMss = seg.mss != 0 ? seg.mss : 536;
  t.mss = max<u32>(min<u32>(peerMss, t.advMss), 64);
  // Timestamps take 12 bytes of every segment (RFC 7323: the MSS excludes options).
  if (t.tsOk) t.mss -= 12;
}

/**
 * An ICMP error about this connection, already matched to a sequence
 * number in flight by the stack. `hard`: protocol or port unreachable,
 * which ends a connection still in SYN-SENT (as Linux does; later, like
 * the soft errors, it is ignored: RFC 1122 4.2.3.9 lets TCP ride out
 * routing trouble). `mtu`: a fragmentation-needed error's next-hop MTU
 * (RFC 1191), else 0.
 */
export function icmpErrorArrives(t: Tcb, hard: bool, mtu: u32): void {
  if (hard && t.state == TcpState.SynSent) {
    t.finish(TcpError.Refused, true);
    return;
  }
  if (mtu == 0 || !t.isSynchronized()) return;
  // Below 576 (the datagram every host takes, RFC 791) is not believed: a
  // forged tiny MTU would otherwise cut a connection to a trickle (RFC 5927 7.2).
  let m = max<u32>(mtu, 576) - 40;
  if (t.tsOk) m -= 12;
  if (m >= t.mss) return;
  t.mss = m;
  t.counters.pmtuUpdates++;
  // What is in flight was sent at the old size and is gone: send it again
  // at the new one. Not a congestion signal, so the window stays (Linux's
  // tcp_simple_retransmit); Karn: no RTT sample from the resent data.
  if (t.buffersOn && seqLt(t.sndUna, t.sndMax)) {
    t.sndNxt = t.sndUna;
    t.rtt.cancel();
    output(t);
  }
}

function synSentInput(t: Tcb, seg: TcpRepr, payload: usize, now: u64): void {
  const c = t.counters;
  // 1. the ACK
  if (seg.has(TCP_ACK)) {
    if (seqLe(seg.ack, t.iss) || seqGt(seg.ack, t.sndMax)) {
      if (!seg.has(TCP_RST)) sendReset(t, seg.ack);
      c.dropBadAck++;
      return;
    }
  }
  // 2. RST: only with an acceptable ACK (RFC 5961 3: the ACK must acknowledge our SYN).
  if (seg.has(TCP_RST)) {
    if (seg.has(TCP_ACK)) {
      c.resetsReceived++;
      c.rstAccepted++;
      t.finish(TcpError.Refused, true);
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
  t.irs = seg.seq;
  t.rcvNxt = seg.seq + 1;
  t.rcvAdvEdge = t.rcvNxt;
  const savedWscale = t.rcvWscale;
  takeSynOptions(t, seg);
  if (!t.wsOk) t.rcvWscale = 0;
  else t.rcvWscale = savedWscale;
  if (seg.has(TCP_ACK)) {
    // Our SYN is acknowledged: established.
    t.sndUna = seg.ack;
    t.sndWnd = seg.window; // SYN-ACK windows are never scaled
    t.maxSndWnd = t.sndWnd;
    t.sndWl1 = seg.seq;
    t.sndWl2 = seg.ack;
    if (t.rtt.timing || t.retries == 0) t.rtt.sample(now - t.rtt.startNs);
    t.rtt.cancel();
    becomeEstablished(t, now);
    t.post(EV_CONNECTED);
    t.post(EV_WRITABLE);
    t.wantWrite = false;
    // Data in the SYN-ACK is unusual but legal: accept it after the SYN.
    if (seg.payloadLen > 0 || seg.has(TCP_FIN)) {
      seg.seq += 1;
      seg.flags &= ~TCP_SYN;
      syncInput(t, seg, payload, now);
      return;
    }
    t.ackNow = true;
    output(t);
  } else {
    // Simultaneous open (RFC 9293 3.5, figure 8): SYN-RECEIVED, SYN-ACK out.
    t.sndWnd = seg.window;
    t.maxSndWnd = t.sndWnd;
    t.sndWl1 = seg.seq;
    t.state = TcpState.SynReceived;
    transmit(t, t.iss, 0, TCP_SYN | TCP_ACK);
  }
}

function becomeEstablished(t: Tcb, now: u64): void {
  t.state = TcpState.Established;
  t.counters.established++;
  t.retries = 0;
  t.timers.rtoAt = NEVER;
  t.sndBufSeq = t.iss + 1;
  t.cc.init(t.mss, now);
  t.trace("init", TRACE_TCP_INIT, now, 0);
  t.lastSendNs = now;
  if (t.cfg.keepAlive) t.timers.keepAt = now + t.cfg.keepIdleNs;
}

/** RFC 9293 3.10.7.4: segment acceptability for synchronized states. */
function acceptable(t: Tcb, seq: u32, segLen: u32, wnd: u32): bool {
  return acceptableAt(t.rcvNxt, seq, segLen, wnd);
}

/** Segment acceptability against RCV.NXT `rcvNxt` and a receive window `wnd` (also TIME-WAIT's records, timewait.ts). */
export function acceptableAt(rcvNxt: u32, seq: u32, segLen: u32, wnd: u32): bool {
  if (segLen == 0) {
    if (wnd == 0) return seq == rcvNxt;
    return seqInRange(seq, rcvNxt, rcvNxt + wnd);
  }
  // RFC 9293 3.10.7.4 asks for "special allowance" for the ACK of a segment
  // at RCV.NXT when the window is zero: a zero-window probe (ours carry a
  // segment of data) must still deliver its ACK, or two peers whose windows
  // are both full never learn that either drained. Its data is cut below.
  if (wnd == 0) return seq == rcvNxt;
  return seqInRange(seq, rcvNxt, rcvNxt + wnd) || seqInRange(seq + segLen - 1, rcvNxt, rcvNxt + wnd);
}

/** The receive window the peer may fill: what we advertised, bounded by real space. */
function rcvWindow(t: Tcb): u32 {
  const adv = seqGt(t.rcvAdvEdge, t.rcvNxt) ? t.rcvAdvEdge - t.rcvNxt : 0;
  if (!t.buffersOn) return adv;
  return min(adv, t.rcvSpace());
}

function syncInput(t: Tcb, seg: TcpRepr, payload: usize, now: u64): void {
  const c = t.counters;
  let seq = seg.seq;
  let plen = seg.payloadLen;
  let syn = seg.has(TCP_SYN);
  let fin = seg.has(TCP_FIN);

  // RFC 7323 5.3 PAWS: an old timestamp marks an old duplicate.
  if (t.tsOk && seg.hasTimestamp && !seg.has(TCP_RST)) {
    if (seqLt(seg.tsVal, t.tsRecent)) {
      if (now - t.tsRecentNs > PAWS_IDLE_NS) {
        t.tsRecent = seg.tsVal; // idle so long the old value is meaningless
      } else {
        c.dropPaws++;
        t.ackNow = true;
        output(t);
        return;
      }
    }
  }

  // 1. sequence number check
  const wnd = rcvWindow(t);
  const segLen = plen + (syn ? 1 : 0) + (fin ? 1 : 0);
  if (!acceptable(t, seq, segLen, wnd)) {
    if (seg.has(TCP_RST)) {
      c.rstIgnored++;
      return;
    }
    if (syn && t.state != TcpState.SynReceived) {
      // RFC 5961 4: any SYN on a synchronized connection draws a challenge ACK.
      c.synInSync++;
      challengeAck(t);
      return;
    }
    if (segLen > 0 && seqLt(seq + segLen, t.rcvNxt + 1)) c.duplicateSegments++;
    c.dropOutOfWindow++;
    if (t.state == TcpState.TimeWait && fin) t.timers.lingerAt = now + t.cfg.timeWaitNs;
    t.ackNow = true;
    output(t);
    return;
  }
  // Trim to the window: bytes before rcvNxt were had already, bytes past the window are not taken.
  if (seqLt(seq, t.rcvNxt)) {
    let d = t.rcvNxt - seq;
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
  if (plen > 0 && seqGt(seq + plen, t.rcvNxt + wnd)) {
    plen = seqGt(t.rcvNxt + wnd, seq) ? t.rcvNxt + wnd - seq : 0;
    fin = false;
    t.ackNow = true; // the sender is probing or overran: tell it where the window is
  }

  // RFC 7323 4.3: remember the timestamp of a segment covering lastAckSent.
  if (t.tsOk && seg.hasTimestamp && seqLe(seg.seq, t.lastAckSent) && seqGe(seg.tsVal, t.tsRecent)) {
    t.tsRecent = seg.tsVal;
    t.tsRecentNs = now;
  }

  // 2. RST (RFC 5961 3.2): exact match resets, anything else in window is challenged.
  if (seg.has(TCP_RST)) {
    if (seg.seq != t.rcvNxt) {
      c.rstIgnored++;
      challengeAck(t);
      return;
    }
    c.rstAccepted++;
    c.resetsReceived++;
    if (t.state == TcpState.SynReceived && t.listener != null) {
      // Passive open reset by the peer: the half-open connection just goes away.
      t.finish(TcpError.None, false);
      return;
    }
    const s = t.state;
    if (s == TcpState.Closing || s == TcpState.LastAck || s == TcpState.TimeWait) t.finish(TcpError.None, true);
    else t.finish(s == TcpState.SynReceived ? TcpError.Refused : TcpError.Reset, true);
    return;
  }

  // 4. SYN in window (RFC 5961 4.2): challenge ACK, drop.
  if (syn) {
    c.synInSync++;
    challengeAck(t);
    return;
  }

  // 5. ACK
  if (!seg.has(TCP_ACK)) {
    c.dropBadFlags++;
    return;
  }
  if (t.state == TcpState.SynReceived) {
    if (!(seqGt(seg.ack, t.sndUna) && seqLe(seg.ack, t.sndMax))) {
      c.dropBadAck++;
      sendReset(t, seg.ack);
      return;
    }
    t.startBuffers();
    t.sndWnd = seg.window << t.sndWscale;
    t.maxSndWnd = max(t.maxSndWnd, t.sndWnd);
    t.sndWl1 = seg.seq;
    t.sndWl2 = seg.ack;
    handshakeRtt(t, seg, now);
    t.sndUna = seg.ack;
    if (seqLt(t.sndNxt, t.sndUna)) t.sndNxt = t.sndUna;
    becomeEstablished(t, now);
    const l = t.listener;
    if (l) l.established(t);
  }
  if (!processAck(t, seg, now)) return;
  if (t.state == TcpState.Closed) return;

  // 7. segment text
  if (plen > 0) {
    const s = t.state;
    if (s == TcpState.Established || s == TcpState.FinWait1 || s == TcpState.FinWait2) {
      receiveData(t, seq, payload, plen, now);
    } else {
      // After the peer's FIN no more data can be legitimate.
      c.dropDataAfterClose++;
      t.ackNow = true;
    }
  }

  // 8. FIN
  if (fin) {
    const finAt = seq + plen;
    if (finAt == t.rcvNxt) receiveFin(t, now);
    else if (seqGt(finAt, t.rcvNxt) && !t.peerFinReceived) {
      t.peerFinPending = true;
      t.peerFinSeq = finAt;
      t.ackNow = true;
    }
  }
  if (t.state != TcpState.Closed) output(t);
}

/**
 * The RTT sample of a passive open (RFC 6298 2.2: the first RTO follows the
 * path): the echo of our SYN-ACK's timestamp, which names the SYN-ACK it
 * answers even after retransmissions; without timestamps, the SYN-ACK's
 * send time unless it was retransmitted (Karn). A cookie's SYN-ACK was not
 * timed (its timestamp is rounded down to carry options), so it gives none.
 */
function handshakeRtt(t: Tcb, seg: TcpRepr, now: u64): void {
  if (t.fromCookie) return;
  if (t.tsOk) {
    if (!seg.hasTimestamp || seg.tsEcr == 0) return;
    const ms = t.ctx.tsNow() - seg.tsEcr;
    if (<i32>ms >= 0) t.rtt.sample(<u64>ms * 1_000_000);
  } else if (t.retries == 0) t.rtt.sample(now - t.rtt.startNs);
}

/** Step 5 of segment processing. Returns false if the segment must be dropped. */
function processAck(t: Tcb, seg: TcpRepr, now: u64): bool {
  const c = t.counters;
  const ack = seg.ack;
  // RFC 5961 5.2: acceptable ACKs lie in [SND.UNA - MAX.SND.WND, SND.NXT].
  if (seqGt(ack, t.sndMax) || seqLt(ack, t.sndUna - t.maxSndWnd)) {
    c.dropBadAck++;
    challengeAck(t);
    return false;
  }
  const win = seg.window << t.sndWscale;
  const s = t.state;
  if (s == TcpState.TimeWait) return true;
  // SACK blocks first: a duplicate ACK is one that brings new SACK information.
  let newSack = false;
  if (t.sackOk && seg.sackCount > 0) newSack = t.sack.take(seg, t.sndUna, t.sndMax);

  const flightBefore = t.sndMax - t.sndUna;
  if (seqGt(ack, t.sndUna)) {
    newAck(t, ack, seg, flightBefore, now);
  } else if (ack == t.sndUna) {
    const isDup = t.sndMax != t.sndUna && seg.payloadLen == 0 && !seg.has(TCP_FIN) &&
      (t.sackOk ? newSack || (seg.sackCount == 0 && win == t.sndWnd) : win == t.sndWnd);
    if (isDup) dupAck(t, now);
  }
  // Window update (RFC 9293 3.10.7.4 fifth check).
  if (seqLt(t.sndWl1, seg.seq) || (t.sndWl1 == seg.seq && seqLe(t.sndWl2, ack))) {
    const opened = win > t.sndWnd;
    t.sndWnd = win;
    if (win > t.maxSndWnd) t.maxSndWnd = win;
    t.sndWl1 = seg.seq;
    t.sndWl2 = ack;
    if (opened) {
      t.timers.persistAt = NEVER;
      t.persistBackoff = 0;
    }
  }
  // Our FIN acknowledged?
  if (t.finAcked()) {
    if (s == TcpState.FinWait1) {
      t.state = TcpState.FinWait2;
      t.timers.lingerAt = now + t.cfg.finWait2Ns;
    } else if (s == TcpState.Closing) {
      enterTimeWait(t, now);
    } else if (s == TcpState.LastAck) {
      t.finish(TcpError.None, true);
      return false;
    }
  }
  return true;
}

function newAck(t: Tcb, ack: u32, seg: TcpRepr, flightBefore: u32, now: u64): void {
  const acked = ack - t.sndUna;
  // RTT: from the echoed timestamp (valid even for retransmissions), else Karn's timed segment.
  if (t.tsOk && seg.hasTimestamp && seg.tsEcr != 0) {
    const ms = t.ctx.tsNow() - seg.tsEcr;
    if (<i32>ms >= 0) t.rtt.sample(<u64>ms * 1_000_000);
  } else t.rtt.acked(ack, now);
  // Free acknowledged bytes (SYN and FIN occupy sequence space but no buffer).
  if (seqGt(ack, t.sndBufSeq) && t.buffersOn) {
    const n = min<u32>(ack - t.sndBufSeq, t.sndBuf.len);
    t.sndBuf.consume(n);
    t.sndBufSeq += n;
    t.bytesSent += n;
    // All acknowledged: the send ring goes back to the pool (or, when memory is short, to a smaller block).
    if (t.sndBuf.ring.len == 0 || t.ctx.pool.pressed()) t.trimBuffers();
  }
  t.sndUna = ack;
  if (seqLt(t.sndNxt, ack)) t.sndNxt = ack;
  t.sack.acked(ack);
  t.retries = 0;
  t.dupAcks = 0;
  if (t.inRecovery) {
    if (seqGe(ack, t.recover)) {
      t.inRecovery = false;
      t.inflate = 0;
      t.cc.onRecoveryEnd(t.sndMax - t.sndUna, now);
      t.trace("exit", TRACE_TCP_RECOVERED, now, acked);
    } else if (!t.sackOk) {
      // RFC 6582 partial ACK: retransmit the next hole, deflate by what was acked.
      retransmitUna(t);
      t.inflate = t.inflate > acked ? t.inflate - acked : 0;
      if (acked >= t.mss) t.inflate += t.mss;
    }
  } else {
    // Grow only when the window, not the app, limited the sender.
    const cwnd = t.cc.cwnd;
    const limited = t.cc.inSlowStart() ? flightBefore * 2 > cwnd : flightBefore + 3 * t.mss >= cwnd;
    if (limited) {
      t.cc.onAck(acked, flightBefore, t.rtt.srttNs, now);
      t.trace("ack", TRACE_TCP_CWND_ACK, now, acked);
    }
  }
  // RFC 6298 5.2/5.3: stop the timer when all is acked, else restart it.
  t.timers.rtoAt = t.sndUna == t.sndMax ? NEVER : now + t.rtt.rtoNs;
  // Room again: after sendStatic came up short, a slot and a quarter of sndRefMax; else a quarter of the ring.
  const q = t.sndBuf;
  if (t.wantWrite && t.buffersOn && (q.refWait ? q.takeRefWait(t.cfg.sndRefMax) : t.sndSpace() >= t.cfg.sndBuf / 4) && t.canSend()) {
    t.wantWrite = false;
    t.post(EV_WRITABLE);
  }
}

function dupAck(t: Tcb, now: u64): void {
  t.counters.dupAcks++;
  t.dupAcks++;
  if (t.inRecovery) {
    if (!t.sackOk) t.inflate += t.mss; // RFC 6582 / 5681: each dup ACK means a segment left
    return;
  }
  // RFC 6582 4.1 (and 6675 after an RTO): no new recovery until everything sent before the last one is acked.
  if (seqLt(t.sndUna, t.recover)) return;
  if (t.dupAcks >= DUP_THRESH || (t.sackOk && t.sack.lostAt(t.sndUna, t.mss))) enterRecovery(t, now);
}

function enterRecovery(t: Tcb, now: u64): void {
  const c = t.counters;
  const flight = t.sndMax - t.sndUna;
  t.inRecovery = true;
  t.recover = t.sndMax;
  t.fastRecoveries++;
  t.cc.onLoss(flight, now);
  t.trace("loss", TRACE_TCP_CWND_LOSS, now, 0);
  t.rtt.cancel();
  if (t.sackOk) {
    c.sackRecoveries++;
    const sk = t.sack;
    sk.highRxt = t.sndUna;
    // The first retransmission goes out whatever pipe says (RFC 6675 5 step 4.3).
    const n = retransmitUna(t);
    sk.highRxt = seqMax(sk.highRxt, t.sndUna + n);
  } else {
    c.fastRetransmits++;
    retransmitUna(t);
    t.inflate = DUP_THRESH * t.mss;
  }
}

function receiveData(t: Tcb, seq: u32, p: usize, n: u32, now: u64): void {
  const c = t.counters;
  const rb = t.rcvBuf;
  if (!t.buffersOn) return;
  if (seq == t.rcvNxt) {
    if (!t.growRcv(rb.len + n)) {
      // No memory for it now (the pool is at its limit): the peer sends it again.
      c.rcvDropNoMemory++;
      t.ackNow = true;
      return;
    }
    rb.writeAt(rb.len, p, n);
    rb.commit(n);
    t.rcvNxt += n;
    c.rxBytes += n;
    let filled = false;
    const o = t.ooo;
    if (o.count > 0 && seqLe(o.left(0), t.rcvNxt)) {
      // The segment reached held out-of-order data: it becomes readable in place.
      const r = o.right(0);
      if (seqGt(r, t.rcvNxt)) {
        rb.commit(r - t.rcvNxt);
        t.rcvNxt = r;
      }
      o.trimBelow(t.rcvNxt);
      filled = true;
    }
    if (t.peerFinPending && t.peerFinSeq == t.rcvNxt) {
      t.peerFinPending = false;
      receiveFin(t, now);
    }
    t.post(EV_READABLE);
    t.ackPendingBytes += n;
    if (filled || o.count > 0 || t.ackPendingBytes >= 2 * t.advMss) {
      if (t.quickAcks > 0) t.quickAcks--;
      t.ackNow = true;
    } else if (t.quickAcks > 0) {
      t.quickAcks--;
      // Quick-ACK mode. A full segment is ACKed at once (more is coming: the peer's slow start
      // counts our ACKs). A shorter one is likely a whole request: its ACK waits until the
      // tasks ready now have run (a due timer's task runs after them), so the answer the app
      // writes meanwhile carries it instead of a pure ACK going first.
      if (n + TCP_MAX_OPTIONS >= t.advMss) t.ackNow = true;
      else if (t.timers.delackAt > now) t.timers.delackAt = now;
    } else if (t.timers.delackAt == NEVER) {
      t.timers.delackAt = now + t.cfg.delAckNs;
      c.delayedAcks++;
    }
  } else {
    // Out of order: place it where it will be read, remember the range, ACK at once (RFC 5681 4.2).
    c.oooSegments++;
    const off = rb.len + (seq - t.rcvNxt);
    if (off + n > t.cfg.rcvBuf) {
      c.dropOutOfWindow++;
    } else if (!t.growRcv(off + n)) {
      c.rcvDropNoMemory++;
    } else if (t.ooo.add(seq, seq + n)) {
      rb.writeAt(off, p, n);
      t.lastOooLeft = seq;
    } else c.dropOooFull++;
    t.ackNow = true;
  }
}

function receiveFin(t: Tcb, now: u64): void {
  if (t.peerFinReceived) return;
  t.peerFinReceived = true;
  t.peerFinPending = false;
  t.rcvNxt += 1;
  t.ackNow = true;
  t.post(EV_READABLE);
  switch (t.state) {
    case TcpState.SynReceived:
    case TcpState.Established:
      t.state = TcpState.CloseWait;
      break;
    case TcpState.FinWait1:
      if (t.finAcked()) enterTimeWait(t, now);
      else t.state = TcpState.Closing;
      break;
    case TcpState.FinWait2:
      enterTimeWait(t, now);
      break;
    default:
      break;
  }
}

function enterTimeWait(t: Tcb, now: u64): void {
  t.state = TcpState.TimeWait;
  const tm = t.timers;
  tm.rtoAt = NEVER;
  tm.persistAt = NEVER;
  tm.keepAt = NEVER;
  tm.delackAt = NEVER;
  tm.lingerAt = now + t.cfg.timeWaitNs;
  // The app is done with it: only the TCB lingers, its buffers go back now.
  t.post(EV_CLOSED);
  t.maybeFreeBuffers();
  t.ctx.lingering(t);
}
