// Network byte order on raw linear memory. Wasm is little-endian and packet
// fields are big-endian, so every multi-byte field goes through these; they
// load byte by byte, so unaligned fields are fine on every platform.

@inline export function be16(p: usize): u32 {
  return (<u32>load<u8>(p) << 8) | <u32>load<u8>(p, 1);
}

@inline export function be32(p: usize): u32 {
  return bswap<u32>(load<u32>(p));
}

@inline export function put16(p: usize, v: u32): void {
  store<u8>(p, <u8>(v >> 8));
  store<u8>(p, <u8>v, 1);
}

@inline export function put32(p: usize, v: u32): void {
  store<u32>(p, bswap<u32>(v));
}

/** A MAC address as the low 48 bits of a u64, first byte most significant (no GC object per address). */
export function loadMac(p: usize): u64 {
  return (<u64>be16(p) << 32) | <u64>be32(p + 2);
}

export function storeMac(p: usize, mac: u64): void {
  put16(p, <u32>(mac >> 32));
  put32(p + 2, <u32>mac);
}

export const MAC_BROADCAST: u64 = 0xffff_ffff_ffff;

/** Multicast (and broadcast) MACs have the group bit set. */
@inline export function macIsGroup(mac: u64): bool {
  return ((mac >> 40) & 1) != 0;
}

/** "a.b.c.d" (allocates: for logs and apps, not per packet). */
export function ipString(ip: u32): string {
  return (ip >>> 24).toString() + "." + ((ip >>> 16) & 255).toString() + "." + ((ip >>> 8) & 255).toString() + "." + (ip & 255).toString();
}

/** Parses "a.b.c.d"; returns false on anything else (the result is then in `parsedIp` unchanged). */
export let parsedIp: u32 = 0;
export function parseIp(s: string): bool {
  let v: u32 = 0;
  let part: u32 = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c == 46) {
      if (digits == 0 || dots == 3) return false;
      v = (v << 8) | part;
      part = 0;
      digits = 0;
      dots++;
    } else if (c >= 48 && c <= 57) {
      part = part * 10 + <u32>(c - 48);
      if (part > 255 || ++digits > 3) return false;
    } else return false;
  }
  if (digits == 0 || dots != 3) return false;
  parsedIp = (v << 8) | part;
  return true;
}

export function macString(mac: u64): string {
  const hex = "0123456789abcdef";
  let s = "";
  for (let i = 5; i >= 0; i--) {
    const b = <i32>((mac >> (<u64>i * 8)) & 255);
    s += hex.charAt(b >> 4) + hex.charAt(b & 15);
    if (i) s += ":";
  }
  return s;
}
