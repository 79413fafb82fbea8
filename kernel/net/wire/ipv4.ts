// IPv4 headers (RFC 791). Parsing validates what a receiver must not trust:
// version, IHL, total length against the bytes actually present, the header
// checksum, TTL, and that a fragment does not claim to end past 65535.
// Options are skipped (headerLen covers them), never interpreted.

import { WireError } from "./error";
import { be16, be32, put16, put32 } from "./bytes";
import { sum16, fold } from "./checksum";

export const IPV4_HEADER_LEN: u32 = 20;
export const IP_PROTO_ICMP: u32 = 1;
export const IP_PROTO_TCP: u32 = 6;
export const IP_PROTO_UDP: u32 = 17;
export const IPV4_BROADCAST: u32 = 0xffff_ffff;

/** The netmask of a prefix length (0..32). */
@inline export function prefixMask(len: i32): u32 {
  return len <= 0 ? 0 : len >= 32 ? 0xffff_ffff : ~((<u32>0xffff_ffff) >>> len);
}

/** Whether `ip` is a broadcast address on the subnet `addr`/`prefixLen`: limited, or the directed one (none on /31 and /32, RFC 3021). */
export function isBroadcastOn(ip: u32, addr: u32, prefixLen: i32): bool {
  if (ip == IPV4_BROADCAST) return true;
  if (addr == 0 || prefixLen >= 31) return false;
  const m = prefixMask(prefixLen);
  return (ip & m) == (addr & m) && (ip | m) == IPV4_BROADCAST;
}

export class Ipv4Repr {
  /** Header length in bytes, options included (parse); emit always writes 20. */
  headerLen: u32 = IPV4_HEADER_LEN;
  tos: u32 = 0;
  /** Header + payload. */
  totalLen: u32 = 0;
  ident: u32 = 0;
  dontFrag: bool = false;
  moreFrags: bool = false;
  /** Fragment offset in bytes (a multiple of 8). */
  fragOffset: u32 = 0;
  ttl: u32 = 64;
  protocol: u32 = 0;
  checksum: u32 = 0;
  src: u32 = 0;
  dst: u32 = 0;

  @inline get payloadLen(): u32 {
    return this.totalLen - this.headerLen;
  }

  @inline get isFragment(): bool {
    return this.moreFrags || this.fragOffset != 0;
  }

  /**
   * Reads the header of the `len` bytes at `p` (the frame's L3 part, which
   * may carry Ethernet padding past totalLen). `verifyChecksum` false skips
   * the header checksum (a device that validated it).
   */
  parse(p: usize, len: u32, verifyChecksum: bool = true): WireError {
    if (len < IPV4_HEADER_LEN) return WireError.Truncated;
    const vihl = <u32>load<u8>(p);
    if (vihl >> 4 != 4) return WireError.BadVersion;
    const hl = (vihl & 15) << 2;
    if (hl < IPV4_HEADER_LEN) return WireError.BadHeaderLen;
    if (hl > len) return WireError.Truncated;
    const total = be16(p + 2);
    if (total < hl || total > len) return WireError.BadLength;
    if (verifyChecksum && fold(sum16(p, hl)) != 0) return WireError.BadChecksum;
    const ff = be16(p + 6);
    const off = (ff & 0x1fff) << 3;
    if (off + total - hl > 65535) return WireError.BadLength;
    const ttl = <u32>load<u8>(p + 8);
    if (ttl == 0) return WireError.BadTtl;
    this.headerLen = hl;
    this.tos = load<u8>(p + 1);
    this.totalLen = total;
    this.ident = be16(p + 4);
    this.dontFrag = (ff & 0x4000) != 0;
    this.moreFrags = (ff & 0x2000) != 0;
    this.fragOffset = off;
    this.ttl = ttl;
    this.protocol = load<u8>(p + 9);
    this.checksum = be16(p + 10);
    this.src = be32(p + 12);
    this.dst = be32(p + 16);
    return WireError.Ok;
  }

  /**
   * Reads the header an ICMP error quotes (`len` bytes at `p`: the header
   * and at least 8 bytes after it). Only the version, header length,
   * protocol and addresses are checked and read: the quote is cut short, so
   * its total length and checksum describe the original, not these bytes.
   */
  parseQuoted(p: usize, len: u32): WireError {
    if (len < IPV4_HEADER_LEN) return WireError.Truncated;
    const vihl = <u32>load<u8>(p);
    if (vihl >> 4 != 4) return WireError.BadVersion;
    const hl = (vihl & 15) << 2;
    if (hl < IPV4_HEADER_LEN) return WireError.BadHeaderLen;
    if (hl + 8 > len) return WireError.Truncated;
    this.headerLen = hl;
    this.protocol = load<u8>(p + 9);
    this.src = be32(p + 12);
    this.dst = be32(p + 16);
    return WireError.Ok;
  }

  /** Writes a 20-byte header (no options) for `totalLen` bytes and fills in its checksum. */
  emit(p: usize): void {
    store<u8>(p, 0x45);
    store<u8>(p + 1, <u8>this.tos);
    put16(p + 2, this.totalLen);
    put16(p + 4, this.ident);
    put16(p + 6, (this.dontFrag ? 0x4000 : 0) | (this.moreFrags ? 0x2000 : 0) | ((this.fragOffset >> 3) & 0x1fff));
    store<u8>(p + 8, <u8>this.ttl);
    store<u8>(p + 9, <u8>this.protocol);
    put16(p + 10, 0);
    put32(p + 12, this.src);
    put32(p + 16, this.dst);
    const c = fold(sum16(p, IPV4_HEADER_LEN));
    put16(p + 10, c);
    this.checksum = c;
    this.headerLen = IPV4_HEADER_LEN;
  }
}
