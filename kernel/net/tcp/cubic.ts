// CUBIC (RFC 9438). After a loss, the window follows
//   W_cubic(t) = C * (t - K)^3 + W_max,   K = cbrt((W_max - cwnd_epoch) / C)
// (in segments, t in seconds since the congestion-avoidance epoch began):
// concave up to the window where the last loss happened, then convex to probe
// beyond it. It never grows slower than Reno would (the Reno-friendly
// estimate W_est, alpha = 3(1-beta)/(1+beta)), nor by more than half of cwnd
// per RTT (the target is capped at 1.5 cwnd). Multiplicative decrease is
// beta = 0.7, with fast convergence: a loss below the previous W_max lowers
// W_max further, releasing bandwidth to newer flows. Slow start is standard
// (no HyStart).

import { CongestionControl } from "./cc";
import { SEC } from "../../sched/time";

export const CUBIC_C: f64 = 0.4;
export const CUBIC_BETA: f64 = 0.7;
const ALPHA: f64 = (3.0 * (1.0 - CUBIC_BETA)) / (1.0 + CUBIC_BETA);

export class Cubic extends CongestionControl {
  /** Window (segments) just before the last reduction. */
  wMax: f64 = 0;
  /** Segments: cwnd at the start of the current epoch, and the Reno-friendly estimate. */
  cwndEpoch: f64 = 0;
  wEst: f64 = 0;
  k: f64 = 0;
  /** Start of the current epoch (0: none yet; begins on the first ACK in congestion avoidance). */
  epochNs: u64 = 0;
  /** Fractional segments of growth not yet applied to the byte cwnd. */
  private carry: f64 = 0;
  fastConvergence: bool = true;

  name(): string {
    return "cubic";
  }

  fresh(): CongestionControl {
    const c = new Cubic();
    c.fastConvergence = this.fastConvergence;
    return c;
  }

  /** W_cubic(t) in segments, t in seconds. */
  wCubic(t: f64): f64 {
    const d = t - this.k;
    return CUBIC_C * d * d * d + this.wMax;
  }

  onAck(acked: u32, flight: u32, srttNs: u64, nowNs: u64): void {
    const mss = <f64>this.mss;
    if (this.inSlowStart()) {
      this.cwnd += min(acked, this.mss);
      return;
    }
    let cwnd = <f64>this.cwnd / mss;
    if (this.epochNs == 0) {
      // A new epoch: no loss seen yet (W_max below cwnd) means K = 0 and pure convex growth.
      this.epochNs = nowNs;
      this.cwndEpoch = cwnd;
      this.wEst = cwnd;
      if (this.wMax < cwnd) {
        this.wMax = cwnd;
        this.k = 0;
      } else this.k = Math.cbrt((this.wMax - cwnd) / CUBIC_C);
    }
    const segs = <f64>acked / mss;
    // Reno-friendly estimate (RFC 9438 4.3): alpha until it passes W_max, then 1.
    const alpha = this.wEst < this.wMax ? ALPHA : 1.0;
    this.wEst += (alpha * segs) / cwnd;
    const t = <f64>(nowNs - this.epochNs) / <f64>SEC;
    const rtt = <f64>srttNs / <f64>SEC;
    let grow: f64 = 0;
    if (this.wCubic(t) < this.wEst) {
      // Reno-friendly region: cwnd follows W_est.
      grow = this.wEst - cwnd;
    } else {
      let target = this.wCubic(t + rtt);
      if (target < cwnd) target = cwnd;
      if (target > 1.5 * cwnd) target = 1.5 * cwnd;
      grow = ((target - cwnd) / cwnd) * segs;
    }
    if (grow <= 0) return;
    this.carry += grow * mss;
    const add = <u32>this.carry;
    if (add > 0) {
      this.cwnd += add;
      this.carry -= <f64>add;
    }
  }

  private reduce(): void {
    const mss = <f64>this.mss;
    const cwnd = <f64>this.cwnd / mss;
    if (this.fastConvergence && cwnd < this.wMax) this.wMax = (cwnd * (1.0 + CUBIC_BETA)) / 2.0;
    else this.wMax = cwnd;
    this.ssthresh = max(<u32>(<f64>this.cwnd * CUBIC_BETA), 2 * this.mss);
    this.epochNs = 0;
    this.carry = 0;
  }

  onLoss(flight: u32, nowNs: u64): void {
    this.reduce();
    this.cwnd = this.ssthresh;
  }

  onTimeout(flight: u32, first: bool, nowNs: u64): void {
    if (first) this.reduce();
    this.cwnd = this.mss;
  }

  onIdle(nowNs: u64): void {
    super.onIdle(nowNs);
    this.epochNs = 0;
  }
}
