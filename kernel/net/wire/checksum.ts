// The Internet checksum (RFC 1071): the one's-complement sum of 16-bit
// big-endian words. Sums are accumulated unfolded in a u64 so that headers,
// pseudo-headers and payloads can be added in any order and folded once.

import { be16 } from "./bytes";

/** Adds the bytes [p, p+len) as big-endian 16-bit words (a trailing odd byte is padded with zero). */
export function sum16(p: usize, len: u32, acc: u64 = 0): u64 {
  let i: u32 = 0;
  for (; i + 1 < len; i += 2) acc += be16(p + i);
  if (i < len) acc += <u64>load<u8>(p + i) << 8;
  return acc;
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
