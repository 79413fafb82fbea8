// The kernel command line as `key=value` words: read once through the HAL,
// whatever its length, and looked up by key. Device discovery
// (virtio_mmio.device=), network configuration (ip=, gw=, dns=) and apps'
// own settings all read it through here.

import { cmdline } from "./hal";

let cached: string | null = null;

/** The whole command line (allocates once, on the first call). */
export function commandLine(): string {
  if (cached == null) {
    let cap: u32 = 1024;
    let buf = heap.alloc(cap);
    let n = cmdline(buf, cap);
    if (n > cap) {
      // hal.cmdline reports the full length: read again with room for it
      heap.free(buf);
      cap = n;
      buf = heap.alloc(cap);
      n = min(cmdline(buf, cap), cap);
    }
    cached = String.UTF8.decodeUnsafe(buf, n, false);
    heap.free(buf);
  }
  return cached!;
}

/** The value of `key=` in `line` (the kernel's own by default), or null if absent. */
export function cmdlineValue(key: string, line: string | null = null): string | null {
  // scanned in place: a command line can carry megabytes (a test's literal
  // input), and only the value found is copied out
  const s = line != null ? line : commandLine();
  const prefix = key + "=";
  const n = s.length;
  for (let start = 0; start <= n; ) {
    let end = s.indexOf(" ", start);
    if (end < 0) end = n;
    if (end - start >= prefix.length && s.startsWith(prefix, start)) return s.substring(start + prefix.length, end);
    start = end + 1;
  }
  return null;
}

/** The value of `key=` on the kernel command line, or `def`. */
export function cmdlineArg(key: string, def: string): string {
  const v = cmdlineValue(key);
  return v != null ? v : def;
}

/**
 * A number in a command-line value, Linux `memparse` style: decimal, or 0x
 * hex, with an optional K/M/G suffix when `suffix` is set. -1 if malformed
 * (or above 2^47, more than any address or size it names).
 */
export function parseCmdlineNumber(s: string, suffix: bool): i64 {
  let i = 0;
  let radix: i64 = 10;
  if (s.length > 2 && s.charCodeAt(0) == 48 && (s.charCodeAt(1) | 32) == 120) {
    radix = 16;
    i = 2;
  }
  let v: i64 = 0;
  let digits = 0;
  for (; i < s.length; i++) {
    const c = s.charCodeAt(i);
    let d: i64 = -1;
    if (c >= 48 && c <= 57) d = c - 48;
    else if (radix == 16 && (c | 32) >= 97 && (c | 32) <= 102) d = (c | 32) - 87;
    if (d < 0) break;
    v = v * radix + d;
    digits++;
    if (v > 0x7fff_ffff_ffff) return -1;
  }
  if (digits == 0) return -1;
  if (i < s.length) {
    if (!suffix || i + 1 != s.length) return -1;
    const c = s.charCodeAt(i) | 32;
    if (c == 107) v <<= 10;
    else if (c == 109) v <<= 20;
    else if (c == 103) v <<= 30;
    else return -1;
  }
  return v;
}

/** What parseWhole returns for text that is not a whole number. */
export const NOT_WHOLE: u64 = u64.MAX_VALUE;

/** Decimal or 0x-hex digits only; NOT_WHOLE when not a number or too big. */
export function parseWhole(s: string): u64 {
  let base: u64 = 10;
  let i = 0;
  if (s.length > 2 && s.charCodeAt(0) == 48 && (s.charCodeAt(1) | 32) == 120) {
    base = 16;
    i = 2;
  }
  if (i >= s.length) return NOT_WHOLE;
  let v: u64 = 0;
  for (; i < s.length; i++) {
    const c = <u32>s.charCodeAt(i);
    let d: u64;
    if (c >= 48 && c <= 57) d = c - 48;
    else if (base == 16 && (c | 32) >= 97 && (c | 32) <= 102) d = (c | 32) - 87;
    else return NOT_WHOLE;
    if (v > (u64.MAX_VALUE - 1 - d) / base) return NOT_WHOLE;
    v = v * base + d;
  }
  return v;
}
