// Initial sequence numbers (RFC 6528) and SYN cookies.
//
// ISN = M + F(4-tuple, secret): M a clock ticking every 4 us (so a reused
// 4-tuple gets a larger ISN than its previous incarnation, RFC 9293 3.4.1),
// F a keyed hash (SipHash-2-4) whose 128-bit key comes from hal.entropy, so
// an off-path attacker who sees our ISNs for its own connections learns
// nothing about the ISNs of anyone else's.
//
// SYN cookies: when a listener's SYN backlog is full, the SYN-ACK's ISN
// carries the connection's state instead of memory: a 5-bit time counter
// (64 s steps), a 3-bit MSS index and a 24-bit MAC over the 4-tuple, the
// peer's ISN and the counter, offset by a per-tuple hash. The ACK that
// completes the handshake brings it back (ack - 1); a cookie older than two
// counter steps, or one whose MAC does not match, is refused. Window scale
// and SACK-permitted ride in the low bits of our timestamp when the peer
// uses timestamps (as Linux does); without timestamps they are lost.

import { entropy } from "../../hal";

let v0: u64 = 0;
let v1: u64 = 0;
let v2: u64 = 0;
let v3: u64 = 0;

@inline function rotl(x: u64, b: u64): u64 {
  return (x << b) | (x >> (64 - b));
}

function round(): void {
  v0 += v1;
  v1 = rotl(v1, 13);
  v1 ^= v0;
  v0 = rotl(v0, 32);
  v2 += v3;
  v3 = rotl(v3, 16);
  v3 ^= v2;
  v0 += v3;
  v3 = rotl(v3, 21);
  v3 ^= v0;
  v2 += v1;
  v1 = rotl(v1, 17);
  v1 ^= v2;
  v2 = rotl(v2, 32);
}

@inline function compress(m: u64): void {
  v3 ^= m;
  round();
  round();
  v0 ^= m;
}

/** SipHash-2-4 of the 16-byte message (m0, m1) under the key (k0, k1). */
export function siphash(k0: u64, k1: u64, m0: u64, m1: u64): u64 {
  v0 = k0 ^ 0x736f6d6570736575;
  v1 = k1 ^ 0x646f72616e646f6d;
  v2 = k0 ^ 0x6c7967656e657261;
  v3 = k1 ^ 0x7465646279746573;
  compress(m0);
  compress(m1);
  compress((<u64>16) << 56);
  v2 ^= 0xff;
  round();
  round();
  round();
  round();
  return v0 ^ v1 ^ v2 ^ v3;
}

/** The peer MSS values a cookie can encode (3 bits), ascending order not needed. */
const COOKIE_MSS: StaticArray<u32> = [536, 1220, 1300, 1400, 1440, 1460, 4312, 8960];
/** Cookie counter period: 2^36 ns, about 69 s. */
const COOKIE_SHIFT: u64 = 36;

export class IsnGenerator {
  private k0: u64 = 0;
  private k1: u64 = 0;
  private c0: u64 = 0;
  private c1: u64 = 0;
  /** How many key bytes came from a hardware or host source (hal.entropy's answer). */
  readonly goodEntropy: u32;

  constructor() {
    const k = memory.data(32);
    this.goodEntropy = entropy(k, 32);
    this.k0 = load<u64>(k);
    this.k1 = load<u64>(k, 8);
    this.c0 = load<u64>(k, 16);
    this.c1 = load<u64>(k, 24);
    memory.fill(k, 0, 32);
  }

  @inline private tuple0(lip: u32, rip: u32): u64 {
    return ((<u64>lip) << 32) | rip;
  }
  @inline private tuple1(lport: u32, rport: u32): u64 {
    return ((<u64>lport) << 16) | rport;
  }

  /**
   * A random value fixed for this generator's life: the origin of the
   * stack's timestamp clock (RFC 7323 5.4) and where its ephemeral ports start.
   */
  origin(): u32 {
    return this.isn(0, 0, 0, 0, 0);
  }

  /** RFC 6528: the ISN for a connection opened now (`nowNs`). */
  isn(lip: u32, lport: u32, rip: u32, rport: u32, nowNs: u64): u32 {
    const f = <u32>siphash(this.k0, this.k1, this.tuple0(lip, rip), this.tuple1(lport, rport));
    return <u32>(nowNs / 4000) + f;
  }

  /** Index of the largest encodable MSS not above `mss`. */
  static mssIndex(mss: u32): u32 {
    let best: u32 = 0;
    for (let i: u32 = 0; i < 8; i++) {
      const m = unchecked(COOKIE_MSS[i]);
      if (m <= mss && m >= unchecked(COOKIE_MSS[best])) best = i;
    }
    return best;
  }

  static mssOf(index: u32): u32 {
    return unchecked(COOKIE_MSS[index & 7]);
  }

  private mac(lip: u32, lport: u32, rip: u32, rport: u32, peerIsn: u32, t: u32): u32 {
    return <u32>siphash(this.c0, this.c1, this.tuple0(lip, rip) ^ ((<u64>t) << 59), (this.tuple1(lport, rport) << 32) | peerIsn) & 0xffffff;
  }

  private offset(lip: u32, lport: u32, rip: u32, rport: u32): u32 {
    return <u32>(siphash(this.c1, this.c0, this.tuple0(lip, rip), this.tuple1(lport, rport)) >> 32);
  }

  /** The ISN of a SYN-ACK that keeps no state: encodes the counter and `mssIndex`. */
  cookie(lip: u32, lport: u32, rip: u32, rport: u32, peerIsn: u32, mssIndex: u32, nowNs: u64): u32 {
    const t = <u32>(nowNs >> COOKIE_SHIFT) & 31;
    const v = (t << 27) | ((mssIndex & 7) << 24) | this.mac(lip, lport, rip, rport, peerIsn, t);
    return v + this.offset(lip, lport, rip, rport);
  }

  /**
   * Checks the cookie `c` (the ACK's ack - 1) of the handshake whose peer ISN
   * was `peerIsn` (the ACK's seq - 1). Returns the MSS index, or -1.
   */
  checkCookie(lip: u32, lport: u32, rip: u32, rport: u32, peerIsn: u32, c: u32, nowNs: u64): i32 {
    const v = c - this.offset(lip, lport, rip, rport);
    const t = v >> 27;
    const now = <u32>(nowNs >> COOKIE_SHIFT) & 31;
    const age = (now - t) & 31;
    if (age > 1) return -1;
    if ((v & 0xffffff) != this.mac(lip, lport, rip, rport, peerIsn, t)) return -1;
    return <i32>((v >> 24) & 7);
  }
}
