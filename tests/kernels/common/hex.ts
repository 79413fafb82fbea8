// Hex for the test kernels that take literal bytes on the command line and
// print what they produced: tests write and read both as lowercase hex.

function nibble(c: i32): i32 {
  if (c >= 48 && c <= 57) return c - 48; // 0-9
  if (c >= 97 && c <= 102) return c - 87; // a-f
  if (c >= 65 && c <= 70) return c - 55; // A-F
  return 0;
}

/** Decodes the hex digits of `s` to bytes at `p`; returns how many. */
export function unhex(s: string, p: usize): u32 {
  let n: u32 = 0;
  for (let i = 0; i + 1 < s.length; i += 2) store<u8>(p + n++, <u8>((nibble(s.charCodeAt(i)) << 4) | nibble(s.charCodeAt(i + 1))));
  return n;
}

/** The `n` bytes at `p` as lowercase hex (built in one buffer: outputs run to megabytes). */
export function hex(p: usize, n: u32): string {
  const d = "0123456789abcdef";
  const h = heap.alloc(<usize>n * 2 + 1);
  for (let i: u32 = 0; i < n; i++) {
    const b = load<u8>(p + i);
    store<u8>(h + 2 * i, <u8>d.charCodeAt(b >> 4));
    store<u8>(h + 2 * i + 1, <u8>d.charCodeAt(b & 15));
  }
  const s = String.UTF8.decodeUnsafe(h, <usize>n * 2);
  heap.free(h);
  return s;
}
