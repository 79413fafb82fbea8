// TCP headers (RFC 9293) and their options: MSS, window scale and timestamps
// (RFC 7323), SACK-permitted and SACK blocks (RFC 2018). A zero-copy view:
// `parse` reads a segment in place into a plain TcpRepr (payload stays where
// it is: `payloadOff`/`payloadLen`), `emit` writes one back. Every length the
// peer controls (data offset, each option's length) is checked before it is
// used; a lie is an error value. The checksum is the Internet checksum over
// the IPv4 pseudo-header, shared with UDP (wire/checksum.ts).

import { WireError } from "./error";
import { be16, be32, put16, put32 } from "./bytes";
import { sum16, fold, pseudoSum } from "./checksum";
import { IP_PROTO_TCP } from "./ipv4";

export const TCP_HEADER_LEN: u32 = 20;
export const TCP_MAX_HEADER_LEN: u32 = 60;

export const TCP_FIN: u32 = 0x01;
export const TCP_SYN: u32 = 0x02;
export const TCP_RST: u32 = 0x04;
export const TCP_PSH: u32 = 0x08;
export const TCP_ACK: u32 = 0x10;
export const TCP_URG: u32 = 0x20;
export const TCP_ECE: u32 = 0x40;
export const TCP_CWR: u32 = 0x80;

export const OPT_EOL: u8 = 0;
export const OPT_NOP: u8 = 1;
export const OPT_MSS: u8 = 2;
export const OPT_WS: u8 = 3;
export const OPT_SACK_PERM: u8 = 4;
export const OPT_SACK: u8 = 5;
export const OPT_TS: u8 = 8;

/** RFC 7323 2.3: a shift above 14 is treated as 14. */
export const TCP_MAX_WSCALE: u32 = 14;
/** Four blocks is the most 40 option bytes hold (three with timestamps). */
export const TCP_MAX_SACK_BLOCKS: i32 = 4;

export class TcpRepr {
  srcPort: u32 = 0;
  dstPort: u32 = 0;
  seq: u32 = 0;
  ack: u32 = 0;
  /** The 8 flag bits (FIN..CWR); the reserved nibble is dropped. */
  flags: u32 = 0;
  /** The raw 16-bit window field (unscaled). */
  window: u32 = 0;
  checksum: u32 = 0;
  urgent: u32 = 0;
  /** Header length in bytes, options included (parse: from the data offset; emit: computed). */
  headerLen: u32 = TCP_HEADER_LEN;
  payloadOff: u32 = 0;
  payloadLen: u32 = 0;

  // Options. Absent ones: mss 0, wscale -1, flags false, sackCount 0.
  mss: u32 = 0;
  wscale: i32 = -1;
  sackPermitted: bool = false;
  hasTimestamp: bool = false;
  tsVal: u32 = 0;
  tsEcr: u32 = 0;
  sackCount: i32 = 0;
  readonly sackLeft: StaticArray<u32> = new StaticArray<u32>(TCP_MAX_SACK_BLOCKS);
  readonly sackRight: StaticArray<u32> = new StaticArray<u32>(TCP_MAX_SACK_BLOCKS);
  /** Options skipped because their kind is unknown (counted by the caller). */
  unknownOptions: u32 = 0;

  @inline has(f: u32): bool {
    return (this.flags & f) != 0;
  }

  /** Sequence space the segment occupies: payload, plus one each for SYN and FIN. */
  @inline get segLen(): u32 {
    return this.payloadLen + (this.flags & TCP_SYN ? 1 : 0) + (this.flags & TCP_FIN ? 1 : 0);
  }

  clearOptions(): void {
    this.mss = 0;
    this.wscale = -1;
    this.sackPermitted = false;
    this.hasTimestamp = false;
    this.tsVal = 0;
    this.tsEcr = 0;
    this.sackCount = 0;
    this.unknownOptions = 0;
  }

  /**
   * Reads the segment of `len` bytes at `p` (the IP payload) sent from `src`
   * to `dst`. `verifyChecksum` false skips the checksum (a device checked it).
   */
  parse(p: usize, len: u32, src: u32, dst: u32, verifyChecksum: bool = true): WireError {
    if (len < TCP_HEADER_LEN) return WireError.Truncated;
    const hl = (<u32>load<u8>(p + 12) >> 4) << 2;
    if (hl < TCP_HEADER_LEN) return WireError.BadHeaderLen;
    if (hl > len) return WireError.BadHeaderLen;
    if (verifyChecksum && fold(sum16(p, len, pseudoSum(src, dst, IP_PROTO_TCP, len))) != 0) return WireError.BadChecksum;
    this.srcPort = be16(p);
    this.dstPort = be16(p + 2);
    this.seq = be32(p + 4);
    this.ack = be32(p + 8);
    this.flags = <u32>load<u8>(p + 13);
    this.window = be16(p + 14);
    this.checksum = be16(p + 16);
    this.urgent = be16(p + 18);
    this.headerLen = hl;
    this.payloadOff = hl;
    this.payloadLen = len - hl;
    return this.parseOptions(p + TCP_HEADER_LEN, hl - TCP_HEADER_LEN);
  }

  private parseOptions(p: usize, n: u32): WireError {
    this.clearOptions();
    let i: u32 = 0;
    while (i < n) {
      const kind = load<u8>(p + i);
      if (kind == OPT_EOL) break;
      if (kind == OPT_NOP) {
        i++;
        continue;
      }
      // Every other option has a length byte counting kind and length.
      if (i + 1 >= n) return WireError.BadOption;
      const l = <u32>load<u8>(p + i + 1);
      if (l < 2 || i + l > n) return WireError.BadOption;
      const o = p + i + 2;
      switch (kind) {
        case OPT_MSS:
          if (l != 4) return WireError.BadOption;
          this.mss = be16(o);
          break;
        case OPT_WS:
          if (l != 3) return WireError.BadOption;
          this.wscale = <i32>min<u32>(<u32>load<u8>(o), TCP_MAX_WSCALE);
          break;
        case OPT_SACK_PERM:
          if (l != 2) return WireError.BadOption;
          this.sackPermitted = true;
          break;
        case OPT_SACK: {
          const body = l - 2;
          if (body == 0 || body % 8 != 0 || body / 8 > <u32>TCP_MAX_SACK_BLOCKS) return WireError.BadOption;
          const k = <i32>(body / 8);
          for (let b = 0; b < k; b++) {
            unchecked((this.sackLeft[b] = be32(o + <usize>b * 8)));
            unchecked((this.sackRight[b] = be32(o + <usize>b * 8 + 4)));
          }
          this.sackCount = k;
          break;
        }
        case OPT_TS:
          if (l != 10) return WireError.BadOption;
          this.hasTimestamp = true;
          this.tsVal = be32(o);
          this.tsEcr = be32(o + 4);
          break;
        default:
          this.unknownOptions++;
      }
      i += l;
    }
    return WireError.Ok;
  }

  /** Option bytes `emit` writes for the options set (padded to a multiple of 4). */
  optionsLen(): u32 {
    let n: u32 = 0;
    if (this.mss) n += 4;
    if (this.hasTimestamp) n += 12; // with SACK-permitted or two NOPs in front
    else if (this.sackPermitted) n += 4;
    if (this.wscale >= 0) n += 4;
    if (this.sackCount > 0) n += 4 + 8 * <u32>this.sackCount;
    return n;
  }

  /**
   * Writes the header (options included) at `p`, in front of `payloadLen`
   * bytes of payload already at `p + optionsLen() + 20`, and sets `headerLen`.
   * Options go in Linux's order, so a SYN looks like one from Linux. With
   * `withChecksum` false the field holds the pseudo-header sum, for a device
   * to complete (checksum offload). Returns the segment length.
   */
  emit(p: usize, src: u32, dst: u32, withChecksum: bool = true): u32 {
    const ol = this.optionsLen();
    assert(ol <= 40, "tcp: options exceed 40 bytes");
    const hl = TCP_HEADER_LEN + ol;
    this.headerLen = hl;
    this.payloadOff = hl;
    put16(p, this.srcPort);
    put16(p + 2, this.dstPort);
    put32(p + 4, this.seq);
    put32(p + 8, this.ack);
    store<u8>(p + 12, <u8>((hl >> 2) << 4));
    store<u8>(p + 13, <u8>this.flags);
    put16(p + 14, this.window);
    put16(p + 16, 0);
    put16(p + 18, this.urgent);
    let o = p + TCP_HEADER_LEN;
    if (this.mss) {
      store<u8>(o, OPT_MSS);
      store<u8>(o + 1, 4);
      put16(o + 2, this.mss);
      o += 4;
    }
    if (this.hasTimestamp) {
      if (this.sackPermitted) {
        store<u8>(o, OPT_SACK_PERM);
        store<u8>(o + 1, 2);
      } else {
        store<u8>(o, OPT_NOP);
        store<u8>(o + 1, OPT_NOP);
      }
      store<u8>(o + 2, OPT_TS);
      store<u8>(o + 3, 10);
      put32(o + 4, this.tsVal);
      put32(o + 8, this.tsEcr);
      o += 12;
    } else if (this.sackPermitted) {
      store<u8>(o, OPT_NOP);
      store<u8>(o + 1, OPT_NOP);
      store<u8>(o + 2, OPT_SACK_PERM);
      store<u8>(o + 3, 2);
      o += 4;
    }
    if (this.wscale >= 0) {
      store<u8>(o, OPT_NOP);
      store<u8>(o + 1, OPT_WS);
      store<u8>(o + 2, 3);
      store<u8>(o + 3, <u8>this.wscale);
      o += 4;
    }
    if (this.sackCount > 0) {
      store<u8>(o, OPT_NOP);
      store<u8>(o + 1, OPT_NOP);
      store<u8>(o + 2, OPT_SACK);
      store<u8>(o + 3, <u8>(2 + 8 * this.sackCount));
      o += 4;
      for (let b = 0; b < this.sackCount; b++) {
        put32(o, unchecked(this.sackLeft[b]));
        put32(o + 4, unchecked(this.sackRight[b]));
        o += 8;
      }
    }
    const total = hl + this.payloadLen;
    const ps = pseudoSum(src, dst, IP_PROTO_TCP, total);
    const c = withChecksum ? fold(sum16(p, total, ps)) : ~fold(ps) & 0xffff;
    put16(p + 16, c);
    this.checksum = c;
    return total;
  }
}

/** Whether a segment's checksum (over the pseudo-header) is right. */
export function tcpChecksumOk(p: usize, len: u32, src: u32, dst: u32): bool {
  return fold(sum16(p, len, pseudoSum(src, dst, IP_PROTO_TCP, len))) == 0;
}
