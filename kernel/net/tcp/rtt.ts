// The round-trip-time estimator and retransmission time-out of one
// connection (RFC 6298), in the shape of smoltcp's RttEstimator: it is fed
// samples and says what the RTO is; it does not know segments or timers.
//
// Samples come from two places. With timestamps, every ACK that echoes one
// is a sample (RFC 7323 4.1), retransmissions included. Without, one segment
// at a time is timed (`start`), and the sample is dropped if anything is
// retransmitted before its ACK comes back (Karn's algorithm, `cancel`).

const CLOCK_GRANULARITY_NS: u64 = 1_000_000;

export class RttEstimator {
  /** Smoothed RTT; 0 until the first sample. */
  srttNs: u64 = 0;
  rttvarNs: u64 = 0;
  /** The current retransmission time-out, backed off by `backoff`. */
  rtoNs: u64;
  /** A segment is being timed (no timestamps): its sequence number and send time. */
  timing: bool = false;
  timedSeq: u32 = 0;
  startNs: u64 = 0;
  private readonly minRtoNs: u64;
  private readonly maxRtoNs: u64;

  constructor(initialRtoNs: u64, minRtoNs: u64, maxRtoNs: u64) {
    this.rtoNs = initialRtoNs;
    this.minRtoNs = minRtoNs;
    this.maxRtoNs = maxRtoNs;
  }

  /** One measured round trip (RFC 6298 2.2/2.3); sets the RTO from it. */
  sample(r: u64): void {
    if (this.srttNs == 0) {
      this.srttNs = max<u64>(r, 1);
      this.rttvarNs = r / 2;
    } else {
      const d = this.srttNs > r ? this.srttNs - r : r - this.srttNs;
      this.rttvarNs = (3 * this.rttvarNs + d) / 4;
      this.srttNs = max<u64>((7 * this.srttNs + r) / 8, 1);
    }
    let rto = this.srttNs + max<u64>(CLOCK_GRANULARITY_NS, 4 * this.rttvarNs);
    if (rto < this.minRtoNs) rto = this.minRtoNs;
    if (rto > this.maxRtoNs) rto = this.maxRtoNs;
    this.rtoNs = rto;
  }

  /** Starts timing the segment at `seq` sent now, unless one is being timed already. */
  start(seq: u32, now: u64): void {
    if (this.timing) return;
    this.timing = true;
    this.timedSeq = seq;
    this.startNs = now;
  }

  /** `ack` arrived: a sample if it covers the timed segment. */
  acked(ack: u32, now: u64): void {
    if (this.timing && <i32>(ack - this.timedSeq) > 0) {
      this.sample(now - this.startNs);
      this.timing = false;
    }
  }

  /** Something was retransmitted or resent: the timed segment's ACK would be ambiguous (Karn). */
  @inline cancel(): void {
    this.timing = false;
  }

  /** RFC 6298 5.5: the time-out doubles, up to the maximum. */
  backoff(): void {
    this.rtoNs = min<u64>(this.rtoNs * 2, this.maxRtoNs);
  }
}
