// ICMPv4 (RFC 792): echo request/reply and the error messages we send and
// receive (destination unreachable, time exceeded). The 4 bytes after the
// checksum are kept as one field: ident/sequence for echo, unused (or the
// next-hop MTU) for errors. The checksum covers the whole message.

import { WireError } from "./error";
import { be16, be32, put16, put32 } from "./bytes";
import { sum16, fold } from "./checksum";

export const ICMP_HEADER_LEN: u32 = 8;
export const ICMP_ECHO_REPLY: u32 = 0;
export const ICMP_DEST_UNREACHABLE: u32 = 3;
export const ICMP_ECHO_REQUEST: u32 = 8;
export const ICMP_TIME_EXCEEDED: u32 = 11;
export const ICMP_PARAM_PROBLEM: u32 = 12;
/** Destination-unreachable codes. */
export const ICMP_UNREACH_NET: u32 = 0;
export const ICMP_UNREACH_HOST: u32 = 1;
export const ICMP_UNREACH_PROTOCOL: u32 = 2;
export const ICMP_UNREACH_PORT: u32 = 3;
export const ICMP_UNREACH_NEEDFRAG: u32 = 4;

export class IcmpRepr {
  type: u32 = 0;
  code: u32 = 0;
  checksum: u32 = 0;
  /** Bytes 4..8: ident << 16 | seq for echo. */
  rest: u32 = 0;
  /** Bytes after the 8-byte header. */
  dataLen: u32 = 0;

  @inline get ident(): u32 {
    return this.rest >>> 16;
  }
  @inline get seq(): u32 {
    return this.rest & 0xffff;
  }
  @inline get isError(): bool {
    const t = this.type;
    return t == ICMP_DEST_UNREACHABLE || t == ICMP_TIME_EXCEEDED || t == ICMP_PARAM_PROBLEM;
  }

  /** Reads the `len`-byte message at `p` (the IP payload); data at `p + 8`. */
  parse(p: usize, len: u32, verifyChecksum: bool = true): WireError {
    if (len < ICMP_HEADER_LEN) return WireError.Truncated;
    if (verifyChecksum && fold(sum16(p, len)) != 0) return WireError.BadChecksum;
    this.type = load<u8>(p);
    this.code = load<u8>(p + 1);
    this.checksum = be16(p + 2);
    this.rest = be32(p + 4);
    this.dataLen = len - ICMP_HEADER_LEN;
    return WireError.Ok;
  }

  /** Writes the 8-byte header at `p` for the `dataLen` bytes at `data` (anywhere), the checksum covering both. */
  emitHeader(p: usize, data: usize): void {
    store<u8>(p, <u8>this.type);
    store<u8>(p + 1, <u8>this.code);
    put16(p + 2, 0);
    put32(p + 4, this.rest);
    const c = fold(sum16(data, this.dataLen, sum16(p, ICMP_HEADER_LEN)));
    put16(p + 2, c);
    this.checksum = c;
  }

  /** Writes the header in front of `dataLen` bytes already at `p + 8`, and the checksum over both. */
  emit(p: usize): void {
    store<u8>(p, <u8>this.type);
    store<u8>(p + 1, <u8>this.code);
    put16(p + 2, 0);
    put32(p + 4, this.rest);
    const c = fold(sum16(p, ICMP_HEADER_LEN + this.dataLen));
    put16(p + 2, c);
    this.checksum = c;
  }
}
