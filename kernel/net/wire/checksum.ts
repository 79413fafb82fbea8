// The Internet checksum (RFC 1071): the one's-complement sum of 16-bit
// big-endian words, the only implementation in the kernel (protocols, and
// the virtio driver completing checksums a device does not offload). Sums
// are accumulated unfolded in a u64 so that headers, pseudo-headers and
// payloads can be added in any order and folded once.

/**
 * Adds the bytes [p, p+len) as big-endian 16-bit words (a trailing odd byte
 * is padded with zero). The words are read eight bytes at a time as
 * little-endian: the one's-complement sum of byte-swapped words is the
 * byte-swapped sum (RFC 1071 2(B)), so one swap at the end makes it
 * big-endian. Pieces summed separately must start at even offsets of the
 * message (every header length is even).
 */
export function sum16(p: usize, len: u32, acc: u64 = 0): u64 {
  let s: u64 = 0;
  let i: u32 = 0;
  for (; i + 8 <= len; i += 8) {
    const w = load<u64>(p + i);
    s += (w & 0xffff_ffff) + (w >> 32);
  }
  for (; i + 2 <= len; i += 2) s += <u64>load<u16>(p + i);
  if (i < len) s += <u64>load<u8>(p + i);
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return acc + <u64>bswap<u16>(<u16>s);
}

/** Folds a sum to 16 bits and complements it: the value to put in a checksum field. */
export function fold(acc: u64): u32 {
  while (acc >> 16) acc = (acc & 0xffff) + (acc >> 16);
  return <u32>(~acc) & 0xffff;
}

/** The IPv4 pseudo-header sum for UDP/TCP: addresses, protocol and transport length. */
export function pseudoSum(src: u32, dst: u32, proto: u32, len: u32): u64 {
  return <u64>(src >>> 16) + <u64>(src & 0xffff) + <u64>(dst >>> 16) + <u64>(dst & 0xffff) + <u64>proto + <u64>len;
}

/** Whether bytes that include their own checksum field sum to all ones. */
export function verify(p: usize, len: u32, acc: u64 = 0): bool {
  return fold(sum16(p, len, acc)) == 0;
}
