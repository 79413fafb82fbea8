// NewReno congestion avoidance (RFC 5681; recovery itself, RFC 6582 or RFC
// 6675, is the connection's). Slow start grows cwnd by min(acked, SMSS) per
// ACK; congestion avoidance by one SMSS per cwnd of acknowledged bytes (byte
// counting, RFC 5681 3.1), so at most one SMSS per round trip.

import { CongestionControl } from "./cc";

export class NewReno extends CongestionControl {
  /** Bytes acknowledged since cwnd last grew in congestion avoidance. */
  bytesAcked: u32 = 0;

  name(): string {
    return "newreno";
  }

  fresh(): CongestionControl {
    return new NewReno();
  }

  onAck(acked: u32, flight: u32, srttNs: u64, nowNs: u64): void {
    if (this.inSlowStart()) {
      this.cwnd += min(acked, this.mss);
      return;
    }
    this.bytesAcked += acked;
    if (this.bytesAcked >= this.cwnd) {
      this.bytesAcked -= this.cwnd;
      this.cwnd += this.mss;
    }
  }

  onLoss(flight: u32, nowNs: u64): void {
    this.ssthresh = max(flight / 2, 2 * this.mss);
    this.cwnd = this.ssthresh;
    this.bytesAcked = 0;
  }

  onTimeout(flight: u32, first: bool, nowNs: u64): void {
    super.onTimeout(flight, first, nowNs);
    this.bytesAcked = 0;
  }
}
