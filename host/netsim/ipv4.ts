// IPv4 frames for the simulated network's own hosts (the DHCP/DNS server,
// the gateway's port forwarding): the Internet checksum and one builder of
// Ethernet + IPv4 frames, so each host writes only its own protocol.

/** The one's-complement sum of `b` (RFC 1071), folded to 16 bits, starting from `init`. */
export function onesSum(b: Uint8Array, init = 0): number {
  let s = init;
  for (let i = 0; i + 1 < b.length; i += 2) s += (b[i] << 8) | b[i + 1];
  if (b.length & 1) s += b[b.length - 1] << 8;
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s;
}

/** The sum of the TCP/UDP pseudo-header (RFC 793/768) for a segment of `len` bytes. */
export function pseudoHeaderSum(src: Uint8Array, dst: Uint8Array, proto: number, len: number): number {
  const p = new Uint8Array(12);
  p.set(src, 0);
  p.set(dst, 4);
  p[9] = proto;
  p[10] = len >> 8;
  p[11] = len & 0xff;
  return onesSum(p);
}

/**
 * An Ethernet frame holding an IPv4 packet (no options, TTL 64, id 0) around
 * `payload`, header checksum filled in. `payload` is copied at offset 34;
 * the caller fills in its transport checksum (see transportChecksum).
 */
export function ipv4Frame(dstMac: Uint8Array, srcMac: Uint8Array, src: Uint8Array, dst: Uint8Array, proto: number, payload: Uint8Array): Uint8Array {
  const f = new Uint8Array(34 + payload.length);
  const dv = new DataView(f.buffer);
  f.set(dstMac, 0);
  f.set(srcMac, 6);
  dv.setUint16(12, 0x0800);
  f[14] = 0x45;
  dv.setUint16(16, 20 + payload.length);
  f[22] = 64;
  f[23] = proto;
  f.set(src, 26);
  f.set(dst, 30);
  dv.setUint16(24, ~onesSum(f.subarray(14, 34)) & 0xffff);
  f.set(payload, 34);
  return f;
}

/** Fills in the TCP or UDP checksum of the transport segment in `frame` (built by ipv4Frame), at `offset` inside the segment. */
export function transportChecksum(frame: Uint8Array, offset: number): void {
  const seg = frame.subarray(34);
  seg[offset] = seg[offset + 1] = 0;
  const c = ~onesSum(seg, pseudoHeaderSum(frame.subarray(26, 30), frame.subarray(30, 34), frame[23], seg.length)) & 0xffff;
  const v = c === 0 && frame[23] === 17 ? 0xffff : c; // UDP sends a zero sum as all ones
  seg[offset] = v >> 8;
  seg[offset + 1] = v & 0xff;
}
