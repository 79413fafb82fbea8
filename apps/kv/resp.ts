// RESP2 requests as Redis reads them (networking.c: processMultibulkBuffer,
// processInlineBuffer): "*<n>\r\n" then n times "$<len>\r\n<bytes>\r\n", or an
// inline line of words as `nc` users type them, with "..." and '...' quoting.
// One parse takes bytes in place and yields the arguments as views into them
// (inline quoting is decoded into the parser's own buffer). Malformed input
// is an error value with Redis's own text; the connection is then closed.

export const enum Resp {
  /** A command is complete: `argc` arguments, `consumed` bytes. */
  Done = 0,
  /** Not complete yet: wait for at least `need` bytes in all (0: any more). */
  NeedMore = 1,
  /** Malformed: answer `-` + `error` and close the connection. */
  Error = 2,
  /** Nothing to run (an empty inline line, `*0` or `*-1`): skip `consumed` bytes. */
  Empty = 3,
}

/** Redis's limits (proto-max-bulk-len is the value limit here; the rest are Redis's constants). */
export class RespLimits {
  /** The largest bulk string (Redis: proto-max-bulk-len, 512 MB). */
  maxBulk: u32 = 8 << 20;
  /** Most arguments in one command (Redis: 1024*1024). */
  maxArgs: u32 = 65536;
  /** An inline request or a `*`/`$` line longer than this is refused (Redis: 64 KB). */
  maxInline: u32 = 65536;
}

const INLINE_MAX: u32 = 65536;

export class RespParser {
  argc: u32 = 0;
  consumed: u32 = 0;
  need: u32 = 0;
  error: string = "";
  // argument views: pairs of (pointer, length), grown as commands need
  private argv: usize = heap.alloc(64 * 8);
  private argCap: u32 = 64;
  // inline arguments, unquoted
  private inline: usize = heap.alloc(INLINE_MAX);

  @inline argPtr(i: u32): usize { return <usize>load<u32>(this.argv + (<usize>i << 3)); }
  @inline argLen(i: u32): u32 { return load<u32>(this.argv + (<usize>i << 3), 4); }

  private push(p: usize, n: u32): void {
    if (this.argc == this.argCap) {
      this.argCap <<= 1;
      this.argv = heap.realloc(this.argv, <usize>this.argCap * 8);
    }
    store<u32>(this.argv + (<usize>this.argc << 3), <u32>p);
    store<u32>(this.argv + (<usize>this.argc << 3), n, 4);
    this.argc++;
  }

  private fail(text: string): Resp {
    this.error = text;
    return Resp.Error;
  }

  /** One command from [p, p+n). */
  parse(p: usize, n: u32, lim: RespLimits): Resp {
    this.argc = 0;
    this.consumed = 0;
    this.need = 0;
    if (n == 0) return Resp.NeedMore;
    return load<u8>(p) == 42 ? this.multibulk(p, n, lim) : this.inlineCommand(p, n, lim);
  }

  private multibulk(p: usize, n: u32, lim: RespLimits): Resp {
    // "*<count>\r\n"
    const cr = findCR(p, 1, n);
    if (cr < 0) return n > lim.maxInline ? this.fail("ERR Protocol error: too big mbulk count string") : Resp.NeedMore;
    if (!parseLL(p + 1, <u32>cr - 1) || parsedLL > <i64>lim.maxArgs) return this.fail("ERR Protocol error: invalid multibulk length");
    const count = parsedLL;
    let at = <u32>cr + 2;
    if (at > n) return Resp.NeedMore;
    if (count <= 0) {
      this.consumed = at;
      return Resp.Empty;
    }
    for (let i: i64 = 0; i < count; i++) {
      if (at >= n) return Resp.NeedMore;
      const c = load<u8>(p + at);
      if (c != 36) return this.fail("ERR Protocol error: expected '$', got '" + String.fromCharCode(c) + "'");
      const e = findCR(p, at + 1, n);
      if (e < 0) return n - at > lim.maxInline ? this.fail("ERR Protocol error: too big bulk count string") : Resp.NeedMore;
      if (!parseLL(p + at + 1, <u32>e - at - 1) || parsedLL < 0 || parsedLL > <i64>lim.maxBulk) return this.fail("ERR Protocol error: invalid bulk length");
      const len = parsedLL;
      const start = <u32>e + 2;
      // the bytes, then two more Redis skips without looking at them
      const end = <u64>start + <u64>len + 2;
      if (end > <u64>n) {
        this.need = <u32>min<u64>(end, u32.MAX_VALUE);
        this.argc = 0;
        return Resp.NeedMore;
      }
      this.push(p + start, <u32>len);
      at = <u32>end;
    }
    this.consumed = at;
    return Resp.Done;
  }

  // One line, split into words as sdssplitargs does.
  private inlineCommand(p: usize, n: u32, lim: RespLimits): Resp {
    let nl: i32 = -1;
    for (let i: u32 = 0; i < n; i++) if (load<u8>(p + i) == 10) { nl = <i32>i; break; }
    if (nl < 0) return n > lim.maxInline ? this.fail("ERR Protocol error: too big inline request") : Resp.NeedMore;
    let end = <u32>nl;
    if (end > 0 && load<u8>(p + end - 1) == 13) end--;
    if (end > INLINE_MAX) return this.fail("ERR Protocol error: too big inline request");
    this.consumed = <u32>nl + 1;
    let i: u32 = 0;
    let o: usize = this.inline;
    while (true) {
      while (i < end && isSpace(load<u8>(p + i))) i++;
      if (i >= end) break;
      const start = o;
      let inDq = false;
      let inSq = false;
      let done = false;
      while (!done) {
        if (i >= end) {
          if (inDq || inSq) return this.fail("ERR Protocol error: unbalanced quotes in request");
          done = true;
          break;
        }
        const c = load<u8>(p + i);
        if (inDq) {
          if (c == 92 && i + 3 < end && load<u8>(p + i + 1) == 120 && isHex(load<u8>(p + i + 2)) && isHex(load<u8>(p + i + 3))) {
            store<u8>(o++, <u8>((hexVal(load<u8>(p + i + 2)) << 4) | hexVal(load<u8>(p + i + 3))));
            i += 4;
            continue;
          }
          if (c == 92 && i + 1 < end) {
            const d = load<u8>(p + i + 1);
            store<u8>(o++, d == 110 ? 10 : d == 114 ? 13 : d == 116 ? 9 : d == 98 ? 8 : d == 97 ? 7 : d);
            i += 2;
            continue;
          }
          if (c == 34) break; // the closing quote
          store<u8>(o++, c);
          i++;
        } else if (inSq) {
          if (c == 92 && i + 1 < end && load<u8>(p + i + 1) == 39) {
            store<u8>(o++, 39);
            i += 2;
            continue;
          }
          if (c == 39) break; // the closing quote
          store<u8>(o++, c);
          i++;
        } else {
          if (isSpace(c)) { done = true; break; }
          if (c == 34) inDq = true;
          else if (c == 39) inSq = true;
          else store<u8>(o++, c);
          i++;
        }
      }
      if (inDq || inSq) {
        // at a closing quote, which must be followed by a space or the end
        i++;
        if (i < end && !isSpace(load<u8>(p + i))) return this.fail("ERR Protocol error: unbalanced quotes in request");
      }
      this.push(start, <u32>(o - start));
    }
    return this.argc == 0 ? Resp.Empty : Resp.Done;
  }
}

/** The value `parseLL` read. */
export let parsedLL: i64 = 0;

/**
 * A decimal integer as Redis's string2ll takes it: an optional "-", then
 * digits without a leading zero, no spaces, within 64 bits. The value goes
 * to `parsedLL`.
 */
export function parseLL(p: usize, n: u32): bool {
  if (n == 0 || n > 20) return false;
  let i: u32 = 0;
  let neg = false;
  if (load<u8>(p) == 45) {
    neg = true;
    i = 1;
    if (n == 1) return false;
  }
  const first = load<u8>(p + i);
  if (first == 48) {
    if (n - i > 1 || neg) return false;
    parsedLL = 0;
    return true;
  }
  let v: u64 = 0;
  for (; i < n; i++) {
    const d = <u32>load<u8>(p + i) - 48;
    if (d > 9) return false;
    if (v > (u64.MAX_VALUE - d) / 10) return false;
    v = v * 10 + d;
  }
  if (neg) {
    if (v > <u64>i64.MAX_VALUE + 1) return false;
    parsedLL = <i64>(0 - v);
  } else {
    if (v > <u64>i64.MAX_VALUE) return false;
    parsedLL = <i64>v;
  }
  return true;
}

function findCR(p: usize, from: u32, n: u32): i32 {
  for (let i = from; i < n; i++) {
    if (load<u8>(p + i) == 13) return i + 1 < n ? <i32>i : -1; // the LF may still be coming
  }
  return -1;
}

@inline function isSpace(c: u8): bool {
  return c == 32 || c == 9 || c == 10 || c == 13 || c == 11 || c == 12;
}
@inline function isHex(c: u8): bool {
  return (c >= 48 && c <= 57) || (c >= 97 && c <= 102) || (c >= 65 && c <= 70);
}
@inline function hexVal(c: u8): i32 {
  return c <= 57 ? c - 48 : (c | 32) - 87;
}
