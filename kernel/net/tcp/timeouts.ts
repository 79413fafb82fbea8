// What happens when one of a connection's deadlines (timer.ts) is due:
// TIME-WAIT's end and FIN-WAIT-2's limit, the retransmission time-out (SYN,
// SYN-ACK, data: RFC 6298 5.4-5.7, go-back-N that skips SACKed data), the
// delayed ACK, zero-window probes and keep-alive probes.

import { clock_ns } from "../../hal";
import { TRACE_TCP_RTO } from "../../trace";
import { TCP_SYN, TCP_FIN, TCP_RST, TCP_ACK } from "../wire/tcp";
import { seqLt, seqMax } from "./seq";
import { NEVER } from "./timer";
import { Tcb, TcpState, TcpError } from "./tcb";
import { output, sendNormal, retransmitUna, transmit, advance, checkPersist, packetFor } from "./output";

/** The connection's timer fired: handles every deadline that is due. */
export function timerFired(t: Tcb): void {
  const tm = t.timers;
  if (t.state == TcpState.Closed) return;
  const now = clock_ns();
  if (tm.lingerAt <= now) {
    tm.lingerAt = NEVER;
    if (t.state == TcpState.TimeWait) {
      t.finish(TcpError.None, false);
      t.ctx.dispatch();
      return;
    }
    if (t.state == TcpState.FinWait2) {
      t.counters.timeouts++;
      t.finish(TcpError.TimedOut, true);
      t.ctx.dispatch();
      return;
    }
  }
  if (tm.rtoAt <= now) retransmissionTimeout(t, now);
  if (t.state != TcpState.Closed && tm.delackAt <= now) {
    tm.delackAt = NEVER;
    t.ackNow = true;
    output(t);
  }
  if (t.state != TcpState.Closed && tm.persistAt <= now) persistTimeout(t, now);
  if (t.state != TcpState.Closed && tm.keepAt <= now) keepAliveTimeout(t, now);
  if (t.state != TcpState.Closed) tm.arm();
  t.ctx.dispatch();
}

function retransmissionTimeout(t: Tcb, now: u64): void {
  const c = t.counters;
  const tm = t.timers;
  tm.rtoAt = NEVER;
  const s = t.state;
  if (s == TcpState.SynSent || s == TcpState.SynReceived) {
    const limit = s == TcpState.SynSent ? t.cfg.synRetries : t.cfg.synAckRetries;
    if (++t.retries > limit) {
      c.timeouts++;
      t.finish(TcpError.TimedOut, t.listener == null);
      return;
    }
    if (s == TcpState.SynReceived) c.synAckRetransmits++;
    t.rtt.backoff();
    t.rtt.cancel();
    transmit(t, t.iss, 0, s == TcpState.SynSent ? TCP_SYN : TCP_SYN | TCP_ACK);
    tm.rtoAt = now + t.rtt.rtoNs;
    return;
  }
  if (t.sndUna == t.sndMax) return;
  c.rtoExpirations++;
  t.timeouts++;
  if (++t.retries > t.cfg.maxRetries) {
    c.timeouts++;
    transmit(t, t.sndNxt, 0, TCP_RST | TCP_ACK);
    c.resetsSent++;
    t.finish(TcpError.TimedOut, true);
    return;
  }
  // RFC 6298 5.5-5.7: back off, retransmit the earliest unacknowledged segment.
  t.rtt.backoff();
  t.cc.onTimeout(t.sndMax - t.sndUna, t.retries == 1, now);
  t.trace("rto", TRACE_TCP_RTO, now, 0);
  t.inRecovery = false;
  t.inflate = 0;
  t.dupAcks = 0;
  t.recover = t.sndMax;
  t.sack.reset(t.sndUna);
  t.sndNxt = t.sndUna;
  t.rtt.cancel();
  tm.rtoAt = now + t.rtt.rtoNs;
  if (t.buffersOn) {
    const wasWnd = t.sndWnd;
    if (t.sndWnd == 0) t.sndWnd = 1; // let one segment go as a probe
    sendNormal(t, now);
    t.sndWnd = wasWnd;
    if (t.finQueued && t.sndNxt == t.finSeq && !t.finSent() && packetFor(t)) {
      transmit(t, t.sndNxt, 0, TCP_FIN | TCP_ACK);
      advance(t, t.sndNxt + 1, now);
    }
    if (t.sndNxt == t.sndUna) {
      // nothing went (window): retransmit anyway
      t.sndNxt = seqMax(t.sndNxt, t.sndUna + retransmitUna(t));
      t.sndMax = seqMax(t.sndMax, t.sndNxt);
    }
  } else {
    retransmitUna(t);
  }
}

function persistTimeout(t: Tcb, now: u64): void {
  t.timers.persistAt = NEVER;
  if (t.sndUna != t.sndMax || !seqLt(t.sndNxt, t.dataEnd())) return;
  t.persistBackoff++;
  if (t.sndWnd == 0) {
    t.counters.zeroWindowProbes++;
    // A probe one byte below the window: the peer must answer with its current window.
    transmit(t, t.sndUna - 1, 0, TCP_ACK);
    checkPersist(t, now);
    return;
  }
  // An open window too small to fill a segment: what fits goes now (output arms the timer again if data is left).
  t.counters.smallWindowSends++;
  t.sendShort = true;
  output(t);
  t.sendShort = false;
}

function keepAliveTimeout(t: Tcb, now: u64): void {
  const cfg = t.cfg;
  t.timers.keepAt = NEVER;
  if (!cfg.keepAlive || !t.isSynchronized() || t.state == TcpState.TimeWait) return;
  const idle = now - t.lastRecvNs;
  if (idle < cfg.keepIdleNs && t.keepProbes == 0) {
    t.timers.keepAt = t.lastRecvNs + cfg.keepIdleNs;
    return;
  }
  if (t.keepProbes >= cfg.keepCount) {
    t.counters.keepaliveDrops++;
    transmit(t, t.sndNxt, 0, TCP_RST | TCP_ACK);
    t.finish(TcpError.TimedOut, true);
    return;
  }
  t.keepProbes++;
  t.counters.keepaliveProbes++;
  transmit(t, t.sndUna - 1, 0, TCP_ACK);
  t.timers.keepAt = now + cfg.keepIntvlNs;
}
