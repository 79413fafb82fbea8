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
  return ~crcRegister(~crc, p, n);
}

/** The table-driven CRC register after [p, p+n), from `c` (no pre- or post-inversion: linear in `c` and the data). */
function crcRegister(c: u32, p: usize, n: u32): u32 {
  const t = crcTable();
  for (let i: u32 = 0; i < n; i++) c = unchecked(t[(c ^ load<u8>(p + i)) & 255]) ^ (c >>> 8);
  return c;
}

/**
 * Fills [p, p+n) with the pattern from stream offset `off`. Within a 64 KiB
 * block the pattern repeats every 251 bytes, so one period is computed and
 * the rest is copied from what is already there, doubling each time.
 */
export function fillPattern(p: usize, off: u64, n: u32): void {
  while (n > 0) {
    const k = <u32>min<u64>(<u64>n, BLOCK - (off & (BLOCK - 1)));
    let m = <u32>(off % 251);
    const hi = <u32>((off >> 16) & 255);
    const first = min<u32>(k, 251);
    for (let i: u32 = 0; i < first; i++) {
      store<u8>(p + i, <u8>(m ^ hi));
      if (++m == 251) m = 0;
    }
    // [p, p+done) holds whole periods: a copy of it continues the pattern.
    for (let done = first; done < k; ) {
      const c = min<u32>(done, k - done);
      memory.copy(p + done, p, c);
      done += c;
    }
    p += k;
    off += k;
    n -= k;
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

/**
 * Continues `crc` over the pattern bytes [from, to), generated into
 * [scratch, scratch+cap) where they must be; whole aligned 64 KiB blocks
 * cost a few table lookups instead (see blockCrc), so announcing the CRC of
 * megabytes before sending them takes microseconds, not a pass over them.
 */
export function patternCrcOver(crc: u32, from: u64, to: u64, scratch: usize, cap: u32): u32 {
  let c = ~crc;
  let off = from;
  while (off < to) {
    if ((off & (BLOCK - 1)) == 0 && to - off >= BLOCK) {
      c = shiftBlock(c) ^ blockCrc(off);
      off += BLOCK;
      continue;
    }
    const end = min<u64>(min<u64>(to, (off | (BLOCK - 1)) + 1), off + cap);
    const k = <u32>(end - off);
    fillPattern(scratch, off, k);
    c = crcRegister(c, scratch, k);
    off = end;
  }
  return ~c;
}

// ---- the CRC of a 64 KiB block of the pattern, from tables ----
//
// The CRC register is linear over GF(2) in its start value and the data
// (zlib's crc32_combine rests on the same fact). A block at offset `off`
// (a multiple of 64 KiB) is W ^ H: W the 64 KiB window of the sequence
// i % 251 starting at phase off % 251, H 64 KiB of the byte (off >> 16) & 255.
// So its register from 0 is phaseCrc[phase] ^ (the registers of H's bits),
// and a register `c` before the block becomes shift(c) ^ that, where shift
// runs `c` through 64 KiB of zeros (a 32x32 bit matrix). All tables are
// built on first use from one 64 KiB pass: about 2 KiB of memory.

const BLOCK: u64 = 65536;
/** ops[32k .. 32k+32): the matrix that runs a register through 2^k zero bytes, k = 0..16. */
let ops: StaticArray<u32> | null = null;
/** phaseCrc[p]: the register from 0 after the 64 KiB window of i % 251 that starts at i = p. */
let phaseCrc: StaticArray<u32> | null = null;
/** constCrc[j]: the register from 0 after 64 KiB of the byte 1 << j. */
let constCrc: StaticArray<u32> | null = null;

/** Matrix `m` (32 columns from `base`) times vector `v` over GF(2). */
function times(m: StaticArray<u32>, base: i32, v: u32): u32 {
  let sum: u32 = 0;
  for (let i = base; v != 0; i++, v >>>= 1) if (v & 1) sum ^= unchecked(m[i]);
  return sum;
}

function buildTables(): void {
  const t = crcTable();
  const m = new StaticArray<u32>(17 * 32);
  // One zero bit: bit 0 shifts out with the polynomial, bit n moves to n - 1.
  const bit = new StaticArray<u32>(32);
  bit[0] = 0xedb88320;
  for (let n = 1; n < 32; n++) bit[n] = <u32>1 << <u32>(n - 1);
  // Squared three times: one zero byte; then each square doubles the run of zeros.
  const a = new StaticArray<u32>(32);
  const b = new StaticArray<u32>(32);
  for (let n = 0; n < 32; n++) a[n] = times(bit, 0, bit[n]);
  for (let n = 0; n < 32; n++) b[n] = times(a, 0, a[n]);
  for (let n = 0; n < 32; n++) m[n] = times(b, 0, b[n]);
  for (let k = 1; k <= 16; k++) for (let n = 0; n < 32; n++) m[32 * k + n] = times(m, 32 * (k - 1), m[32 * (k - 1) + n]);
  ops = m;
  // 64 KiB of one byte: doubling (X || X runs X's register through |X| zeros, then adds X's).
  const cc = new StaticArray<u32>(8);
  for (let j = 0; j < 8; j++) {
    let h = unchecked(t[1 << j]);
    for (let k = 0; k < 16; k++) h = times(m, 32 * k, h) ^ h;
    cc[j] = h;
  }
  constCrc = cc;
  // The window at phase 0 directly; each next phase drops the first byte (p: its
  // register run through 64 KiB of zeros) and takes in the byte after the window.
  const pc = new StaticArray<u32>(251);
  let c: u32 = 0;
  let v: u32 = 0;
  for (let i = 0; i < 65536; i++) {
    c = unchecked(t[(c ^ v) & 255]) ^ (c >>> 8);
    if (++v == 251) v = 0;
  }
  pc[0] = c;
  for (let p: u32 = 0; p < 250; p++) {
    const y = <u32>((<u64>p + BLOCK) % 251);
    c = unchecked(t[(c ^ y) & 255]) ^ (c >>> 8) ^ times(m, 32 * 16, unchecked(t[p]));
    pc[p + 1] = c;
  }
  phaseCrc = pc;
}

/** Register `c` run through 64 KiB of zero bytes. */
function shiftBlock(c: u32): u32 {
  if (ops == null) buildTables();
  return times(ops!, 32 * 16, c);
}

/** The register from 0 after the pattern's 64 KiB block at `off` (a multiple of 64 KiB). */
function blockCrc(off: u64): u32 {
  if (phaseCrc == null) buildTables();
  let r = unchecked(phaseCrc![<i32>(off % 251)]);
  const hi = <u32>((off >> 16) & 255);
  const cc = constCrc!;
  for (let j = 0; j < 8; j++) if (hi & (<u32>1 << <u32>j)) r ^= unchecked(cc[j]);
  return r;
}
