// Congestion control behind an interface, so an experiment can swap the
// algorithm per socket without touching the state machine. The connection
// owns loss detection and recovery (RFC 6675 SACK recovery, RFC 6582
// NewReno without SACK) and tells the algorithm what happened; the algorithm
// owns `cwnd` and `ssthresh` (bytes) and nothing else.
//
// To add an algorithm: extend CongestionControl, implement the abstract
// methods, and pass an instance as `TcpConfig.cc` (or `sock.setCongestion`):
// each connection gets its own copy from `fresh()`.

export abstract class CongestionControl {
  cwnd: u32 = 0;
  ssthresh: u32 = u32.MAX_VALUE;
  mss: u32 = 536;

  abstract name(): string;
  /** A new, independent instance of the same algorithm (one per connection). */
  abstract fresh(): CongestionControl;

  /** Connection established with sender MSS `mss`: initial window (RFC 6928: 10 segments, capped). */
  init(mss: u32, nowNs: u64): void {
    this.mss = mss;
    this.cwnd = initialWindow(mss);
    this.ssthresh = u32.MAX_VALUE;
  }

  @inline inSlowStart(): bool {
    return this.cwnd < this.ssthresh;
  }

  /**
   * `acked` bytes of new data were cumulatively acknowledged outside loss
   * recovery while the window limited the sender. `srttNs` is the smoothed
   * RTT (0 before the first sample).
   */
  abstract onAck(acked: u32, flight: u32, srttNs: u64, nowNs: u64): void;

  /**
   * A loss was detected by duplicate ACKs or SACK: set `ssthresh`, and
   * `cwnd` for the recovery that follows (the connection manages the
   * window during recovery on top of it). `flight` is FlightSize.
   */
  abstract onLoss(flight: u32, nowNs: u64): void;

  /** Recovery ended (a full ACK): the window to continue with. RFC 6582: ssthresh, or flight + mss if smaller. */
  onRecoveryEnd(flight: u32, nowNs: u64): void {
    this.cwnd = max(min(this.ssthresh, flight + this.mss), this.mss);
  }

  /** Retransmission timeout (RFC 5681 eq. 4): ssthresh from the first timeout in a row, cwnd = 1 segment. */
  onTimeout(flight: u32, first: bool, nowNs: u64): void {
    if (first) this.ssthresh = max(flight / 2, 2 * this.mss);
    this.cwnd = this.mss;
  }

  /** The connection was idle longer than an RTO (RFC 5681 4.1): restart from the initial window. */
  onIdle(nowNs: u64): void {
    this.cwnd = min(this.cwnd, initialWindow(this.mss));
  }
}

/** RFC 6928: min(10 * MSS, max(2 * MSS, 14600)). */
export function initialWindow(mss: u32): u32 {
  return min(10 * mss, max(2 * mss, 14600));
}
