// Console output for the kernel and apps. Strings are AssemblyScript's UTF-16;
// the console takes UTF-8, so text is encoded through a static buffer in
// linear memory: printing allocates nothing on the GC heap, which keeps it
// usable on hot paths and after a heap failure.

import { console_write } from "./hal";

const SCRATCH: u32 = 768;
const scratch = memory.data(SCRATCH);
// A UTF-16 unit becomes at most 3 UTF-8 bytes (a surrogate pair, 4 for 2 units).
const UNITS_PER_CHUNK: i32 = SCRATCH / 3;

/** Writes `s` to the console. */
export function print(s: string): void {
  const base = changetype<usize>(s);
  const n = s.length;
  let i = 0;
  while (i < n) {
    let chunk = min(n - i, UNITS_PER_CHUNK);
    if (i + chunk < n) {
      // never split a surrogate pair across two writes
      const last = load<u16>(base + (<usize>(i + chunk - 1) << 1));
      if (last >= 0xd800 && last < 0xdc00) chunk--;
    }
    const bytes = String.UTF8.encodeUnsafe(base + (<usize>i << 1), chunk, scratch, false);
    console_write(scratch, <u32>bytes);
    i += chunk;
  }
}

/**
 * Whether a count of something that may recur has just reached 1, 10, 100,
 * ...: a report made then shows that it recurs and how often, without a line
 * per event.
 */
export function reportable(count: u64): bool {
  if (count == 0) return false;
  let p: u64 = 1;
  while (p < count && p <= U64.MAX_VALUE / 10) p *= 10;
  return p == count;
}

/** Writes `s` and a line end. */
export function println(s: string): void {
  print(s);
  print("\n");
}

/** Writes an unsigned integer in decimal, without allocating. */
export function printU64(v: u64): void {
  let n: u32 = 0;
  const end = scratch + SCRATCH;
  do {
    n++;
    store<u8>(end - n, <u8>(48 + v % 10));
    v /= 10;
  } while (v != 0);
  console_write(end - n, n);
}

/** Writes a signed integer in decimal, without allocating. */
export function printI64(v: i64): void {
  if (v < 0) {
    print("-");
    printU64(<u64>(-(v + 1)) + 1); // also right for i64.MIN_VALUE
  } else printU64(<u64>v);
}

/** Writes `value / scale` with `decimals` digits after the point, rounded down. */
export function printFixed(value: u64, scale: u64, decimals: i32): void {
  printU64(value / scale);
  if (decimals <= 0) return;
  print(".");
  let frac = value % scale;
  for (let d = 0; d < decimals; d++) {
    frac *= 10;
    printU64(frac / scale);
    frac %= scale;
  }
}
