// Sequence-number arithmetic (RFC 9293 3.4): 32-bit numbers compared modulo
// 2^32, so "a before b" means the signed distance b - a is positive. Valid
// while the two are less than 2^31 apart, which the window limits guarantee.

@inline export function seqLt(a: u32, b: u32): bool {
  return <i32>(a - b) < 0;
}
@inline export function seqLe(a: u32, b: u32): bool {
  return <i32>(a - b) <= 0;
}
@inline export function seqGt(a: u32, b: u32): bool {
  return <i32>(a - b) > 0;
}
@inline export function seqGe(a: u32, b: u32): bool {
  return <i32>(a - b) >= 0;
}
@inline export function seqMax(a: u32, b: u32): u32 {
  return seqGt(a, b) ? a : b;
}
@inline export function seqMin(a: u32, b: u32): u32 {
  return seqLt(a, b) ? a : b;
}
/** lo <= x < hi, modulo 2^32. */
@inline export function seqInRange(x: u32, lo: u32, hi: u32): bool {
  return x - lo < hi - lo;
}
