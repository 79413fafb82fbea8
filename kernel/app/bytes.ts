// Bytes: a view of bytes the app did not allocate (a connection's receive
// buffer, a datagram) with the few operations protocol code needs, so an app
// parses and compares input without raw pointers. A view is only valid during
// the callback that received it; `toString` copies out what must outlive it.

@final
export class Bytes {
  constructor(public ptr: usize = 0, public length: u32 = 0) {}

  /** A view of `arr`'s contents (no copy). */
  static of(arr: Uint8Array): Bytes {
    return new Bytes(arr.dataStart, <u32>arr.length);
  }

  /** The byte at `i` (aborts past the end: an index bug, not input). */
  at(i: u32): u8 {
    assert(i < this.length, "Bytes.at: index past the end");
    return load<u8>(this.ptr + i);
  }

  /** The first position >= `from` holding `b`, or -1. */
  indexOf(b: u8, from: u32 = 0): i32 {
    for (let i = from; i < this.length; i++) if (load<u8>(this.ptr + i) == b) return <i32>i;
    return -1;
  }

  /** The first position >= `from` where `s` (UTF-8) starts, or -1. */
  find(s: string, from: u32 = 0): i32 {
    const t = textBytes(s);
    const n = t.length;
    if (n == 0) return from <= this.length ? <i32>from : -1;
    for (let i = from; i + n <= this.length; i++) {
      if (memory.compare(this.ptr + i, t.ptr, n) == 0) return <i32>i;
    }
    return -1;
  }

  /** The view [from, to) (clamped to this one); a new view object, no copy. */
  slice(from: u32, to: u32 = u32.MAX_VALUE): Bytes {
    const end = min(to, this.length);
    const start = min(from, end);
    return new Bytes(this.ptr + start, end - start);
  }

  /** Whether the bytes are exactly `s` in UTF-8. */
  equals(s: string): bool {
    const t = textBytes(s);
    return t.length == this.length && memory.compare(t.ptr, this.ptr, t.length) == 0;
  }

  /** Whether the bytes begin with `s` in UTF-8. */
  startsWith(s: string): bool {
    const t = textBytes(s);
    return t.length <= this.length && memory.compare(t.ptr, this.ptr, t.length) == 0;
  }

  /** The view without leading and trailing spaces, tabs, CR and LF. */
  trim(): Bytes {
    let a: u32 = 0;
    let b = this.length;
    while (a < b && isSpace(load<u8>(this.ptr + a))) a++;
    while (b > a && isSpace(load<u8>(this.ptr + b - 1))) b--;
    return new Bytes(this.ptr + a, b - a);
  }

  /**
   * The bytes as an unsigned decimal number; `bad` when they are empty, hold
   * anything but digits, or overflow 64 bits.
   */
  toU64(bad: u64 = u64.MAX_VALUE): u64 {
    if (this.length == 0 || this.length > 20) return bad;
    let v: u64 = 0;
    for (let i: u32 = 0; i < this.length; i++) {
      const c = <u32>load<u8>(this.ptr + i) - 48;
      if (c > 9) return bad;
      const next = v * 10 + c;
      if (next < v || v > u64.MAX_VALUE / 10) return bad;
      v = next;
    }
    return v;
  }

  /** A copy as a string (UTF-8 decoded; allocates). */
  toString(): string {
    return String.UTF8.decodeUnsafe(this.ptr, this.length, false);
  }

  /** A copy in a new array (allocates). */
  toUint8Array(): Uint8Array {
    const a = new Uint8Array(this.length);
    memory.copy(a.dataStart, this.ptr, this.length);
    return a;
  }
}

@inline function isSpace(c: u8): bool {
  return c == 32 || c == 9 || c == 13 || c == 10;
}

// One scratch area for strings on their way out (writes, sendTo, compares):
// grown when a longer string comes, never shrunk, so steady traffic
// allocates nothing. Everything runs on one stack, one call at a time.
let scratch: usize = 0;
let scratchCap: u32 = 0;
let scratchView: Bytes | null = null;

/** The length of `s` in UTF-8 bytes (what Content-Length and friends count). */
export function utf8Length(s: string): u32 {
  return <u32>String.UTF8.byteLength(s, false);
}

/** `s` in UTF-8, in the shared scratch area: valid until the next call. */
export function textBytes(s: string): Bytes {
  const n = <u32>String.UTF8.byteLength(s, false);
  if (n > scratchCap) {
    if (scratch != 0) heap.free(scratch);
    scratchCap = max<u32>(n, 256);
    scratch = heap.alloc(<usize>scratchCap);
  }
  String.UTF8.encodeUnsafe(changetype<usize>(s), s.length, scratch, false);
  let v = scratchView;
  if (v == null) scratchView = v = new Bytes();
  v.ptr = scratch;
  v.length = n;
  return v;
}

/**
 * The pointer and length of whatever an app passes to write/sendTo: a string
 * (encoded to UTF-8), `Bytes`, or a `Uint8Array`. Anything else does not
 * compile.
 */
export function bytesOf<T>(data: T): Bytes {
  if (isString<T>()) {
    return textBytes(changetype<string>(data));
  } else if (data instanceof Bytes) {
    return changetype<Bytes>(data);
  } else if (data instanceof Uint8Array) {
    const a = changetype<Uint8Array>(data);
    let v = arrayView;
    if (v == null) arrayView = v = new Bytes();
    v.ptr = a.dataStart;
    v.length = <u32>a.length;
    return v;
  } else {
    ERROR("write and sendTo take a string, Bytes or a Uint8Array");
    return new Bytes();
  }
}
// Made on first use, like every global of level 1: an app that does not use
// a part carries none of its allocations.
let arrayView: Bytes | null = null;
