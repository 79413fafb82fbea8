// UDP headers (RFC 768) with the pseudo-header checksum. A zero checksum on
// receive means "none" (IPv4 allows it); on send a computed zero is sent as
// 0xffff, as the RFC requires.

import { WireError } from "./error";
import { be16, put16 } from "./bytes";
import { sum16, fold, pseudoSum } from "./checksum";
import { IP_PROTO_UDP } from "./ipv4";

export const UDP_HEADER_LEN: u32 = 8;

export class UdpRepr {
  srcPort: u32 = 0;
  dstPort: u32 = 0;
  /** Header + payload, from the length field. */
  length: u32 = 0;
  checksum: u32 = 0;

  @inline get payloadLen(): u32 {
    return this.length - UDP_HEADER_LEN;
  }

  /** Reads the datagram of `len` bytes at `p` (the IP payload) sent from `src` to `dst`. */
  parse(p: usize, len: u32, src: u32, dst: u32, verifyChecksum: bool = true): WireError {
    if (len < UDP_HEADER_LEN) return WireError.Truncated;
    const l = be16(p + 4);
    if (l < UDP_HEADER_LEN || l > len) return WireError.BadLength;
    const c = be16(p + 6);
    if (verifyChecksum && c != 0 && fold(sum16(p, l, pseudoSum(src, dst, IP_PROTO_UDP, l))) != 0) return WireError.BadChecksum;
    this.srcPort = be16(p);
    this.dstPort = be16(p + 2);
    this.length = l;
    this.checksum = c;
    return WireError.Ok;
  }

  /**
   * Writes the 8-byte header at `p` for the payload at `data` (anywhere,
   * `length` - 8 bytes), with the checksum over the pseudo-header, header and
   * payload: what a sender needs before fragmentation splits the datagram.
   */
  emitHeader(p: usize, src: u32, dst: u32, data: usize): void {
    put16(p, this.srcPort);
    put16(p + 2, this.dstPort);
    put16(p + 4, this.length);
    put16(p + 6, 0);
    let c = fold(sum16(data, this.length - UDP_HEADER_LEN, sum16(p, UDP_HEADER_LEN, pseudoSum(src, dst, IP_PROTO_UDP, this.length))));
    if (c == 0) c = 0xffff;
    put16(p + 6, c);
    this.checksum = c;
  }

  /**
   * Writes the header in front of the payload already at `p + 8` (`length`
   * covers both). With `withChecksum`, computes it over the pseudo-header;
   * otherwise leaves the pseudo-header sum for a device to complete
   * (`csumStart`/`csumOffset` offload).
   */
  emit(p: usize, src: u32, dst: u32, withChecksum: bool = true): void {
    put16(p, this.srcPort);
    put16(p + 2, this.dstPort);
    put16(p + 4, this.length);
    put16(p + 6, 0);
    const ps = pseudoSum(src, dst, IP_PROTO_UDP, this.length);
    let c: u32;
    if (withChecksum) {
      c = fold(sum16(p, this.length, ps));
      if (c == 0) c = 0xffff;
    } else c = ~fold(ps) & 0xffff;
    put16(p + 6, c);
    this.checksum = c;
  }
}
