// ICMP policy that is not wire format: the rate limit on the errors we send
// (RFC 1812 4.3.2.8: a token bucket, so a port scan or a flood to closed
// ports cannot make us a traffic amplifier), and the rules on when an error
// may be sent at all (RFC 1122 3.2.2: never about broadcasts, multicasts,
// non-initial fragments, or other ICMP errors).

import { SEC } from "../sched/time";

/** Errors we may send in a burst, and how fast the bucket refills. */
export const ICMP_ERROR_BURST: u32 = 10;
export const ICMP_ERROR_INTERVAL_NS: u64 = SEC / 10;

export class IcmpRateLimit {
  private tokens: u32 = ICMP_ERROR_BURST;
  private last: u64 = 0;

  /** Takes a token if there is one. */
  take(now: u64): bool {
    if (now > this.last) {
      const add = (now - this.last) / ICMP_ERROR_INTERVAL_NS;
      if (add > 0) {
        this.tokens = <u32>min<u64>(<u64>ICMP_ERROR_BURST, <u64>this.tokens + add);
        this.last += add * ICMP_ERROR_INTERVAL_NS;
      }
    } else if (this.last == 0) this.last = now;
    if (this.tokens == 0) return false;
    this.tokens--;
    return true;
  }
}
