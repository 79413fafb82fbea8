// Files baked into the kernel at build time (`uniwasm image <app> --files
// <dir>`, or "files" in the app's uniwasm.json). The image builder
// (tools/files.ts) lays them out as one read-only blob in linear memory with
// a table of paths, sizes, content types and strong ETags; this module reads
// the table in place. Nothing here allocates: a file is named by its index,
// its bytes are a pointer into the blob, so a server sends them without a copy.
//
// The blob's contract (written by tools/files.ts, version 1): a 16-byte
// header (magic "UWFS", version, count, size), then `count` 32-byte entries
// sorted by path bytes, each four (offset, length) pairs from the blob's
// start: path, content type, ETag (quoted), data.

// The image builder defines UNIWASM_FILES (asc --use) as the blob's address, 0 without files.
// @ts-ignore: a compile-time constant, not a TypeScript declaration
const BASE: usize = <usize>UNIWASM_FILES;
const MAGIC: u32 = 0x53465755;
const HEADER: usize = 16;
const ENTRY: usize = 32;

function valid(): bool {
  return BASE != 0 && load<u32>(BASE) == MAGIC && load<u32>(BASE, 4) == 1;
}

/** The embedded files; all lookups are by index (0 .. count-1). */
export class Files {
  /** How many files are embedded (0 when the kernel was built without --files). */
  static get count(): i32 {
    return valid() ? <i32>load<u32>(BASE, 8) : 0;
  }

  /** Bytes of the whole blob (table included), 0 without files. */
  static get blobBytes(): u32 {
    return valid() ? load<u32>(BASE, 12) : 0;
  }

  /** The index of the file at `path` (bytes [ptr, ptr+len), e.g. "/index.html"), or -1. */
  static find(ptr: usize, len: u32): i32 {
    let lo = 0;
    let hi = Files.count - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const c = compare(ptr, len, Files.pathPtr(mid), Files.pathLen(mid));
      if (c == 0) return mid;
      if (c < 0) hi = mid - 1;
      else lo = mid + 1;
    }
    return -1;
  }

  static pathPtr(i: i32): usize { return BASE + load<u32>(entry(i)); }
  static pathLen(i: i32): u32 { return load<u32>(entry(i), 4); }
  static typePtr(i: i32): usize { return BASE + load<u32>(entry(i), 8); }
  static typeLen(i: i32): u32 { return load<u32>(entry(i), 12); }
  /** The strong ETag, quotes included ("\"0123456789abcdef\""). */
  static etagPtr(i: i32): usize { return BASE + load<u32>(entry(i), 16); }
  static etagLen(i: i32): u32 { return load<u32>(entry(i), 20); }
  static dataPtr(i: i32): usize { return BASE + load<u32>(entry(i), 24); }
  static size(i: i32): u32 { return load<u32>(entry(i), 28); }

  /** The path as a string (allocates: for listings and logs, not per request). */
  static path(i: i32): string { return String.UTF8.decodeUnsafe(Files.pathPtr(i), Files.pathLen(i)); }
}

function entry(i: i32): usize {
  assert(i >= 0 && i < Files.count, "Files: index out of range");
  return BASE + HEADER + <usize>i * ENTRY;
}

/** Byte-wise order, as the builder sorted the table. */
function compare(a: usize, al: u32, b: usize, bl: u32): i32 {
  const n = al < bl ? al : bl;
  for (let i: u32 = 0; i < n; i++) {
    const x = <i32>load<u8>(a + i);
    const y = <i32>load<u8>(b + i);
    if (x != y) return x - y;
  }
  return <i32>al - <i32>bl;
}
