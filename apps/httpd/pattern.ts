// The generated data every httpd service sends and checks: byte i of a
// stream is (i % 251) ^ ((i >> 16) & 255), so a peer regenerates any
// stretch of it (251 is prime: the pattern never lines up with segment or
// buffer sizes; the high byte changes every 64 KiB, so a misplaced block
// shows), and checksums are zlib's CRC-32 for the same reason. The functions
// take a pointer and a length (a `Bytes` view's `ptr` and `length`) and
// import nothing, so tests/kernels/tcp-peer uses them over its own buffers.

let table: StaticArray<u32> | null = null;

function crcTable(): StaticArray<u32> {
  let t = table;
  if (t == null) {
    t = new StaticArray<u32>(256);
    for (let i: u32 = 0; i < 256; i++) {
      let c = i;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      t[i] = c;
    }
    table = t;
  }
  return t;
}

/** Continues a CRC-32 (start with 0) over [p, p+n). */
export function crc32(crc: u32, p: usize, n: u32): u32 {
  const t = crcTable();
  let c = ~crc;
  for (let i: u32 = 0; i < n; i++) c = unchecked(t[(c ^ load<u8>(p + i)) & 255]) ^ (c >>> 8);
  return ~c;
}

/** Fills [p, p+n) with the pattern from stream offset `off`. */
export function fillPattern(p: usize, off: u64, n: u32): void {
  let m = <u32>(off % 251);
  let hi = <u32>((off >> 16) & 255);
  for (let i: u32 = 0; i < n; i++) {
    store<u8>(p + i, <u8>(m ^ hi));
    if (++m == 251) m = 0;
    if ((++off & 0xffff) == 0) hi = <u32>((off >> 16) & 255);
  }
}

/** How many bytes of [p, p+n) differ from the pattern at stream offset `off`. */
export function checkPattern(p: usize, off: u64, n: u32): u32 {
  let bad: u32 = 0;
  let m = <u32>(off % 251);
  let hi = <u32>((off >> 16) & 255);
  for (let i: u32 = 0; i < n; i++) {
    if (load<u8>(p + i) != <u8>(m ^ hi)) bad++;
    if (++m == 251) m = 0;
    if ((++off & 0xffff) == 0) hi = <u32>((off >> 16) & 255);
  }
  return bad;
}

/** The CRC-32 of the first `n` pattern bytes (a reply announces it before the body), using [scratch, scratch+cap). */
export function patternCrc(n: u64, scratch: usize, cap: u32): u32 {
  return patternCrcOver(0, 0, n, scratch, cap);
}

/** Continues `crc` over the pattern bytes [from, to), generated into [scratch, scratch+cap). */
export function patternCrcOver(crc: u32, from: u64, to: u64, scratch: usize, cap: u32): u32 {
  let off = from;
  while (off < to) {
    const k = <u32>min<u64>(to - off, cap);
    fillPattern(scratch, off, k);
    crc = crc32(crc, scratch, k);
    off += k;
  }
  return crc;
}
