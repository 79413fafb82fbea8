// Request target -> the path of a file in the site (RFC 9112 3.2, RFC 3986
// 5.2.4): origin-form "/a/b?q" or absolute-form "http://host/a/b"; the query
// is dropped, %XX decoded, then "." and ".." segments resolved and empty
// segments ("//") merged. A ".." above the root, a decoded NUL, a bad %
// escape or a target of another form is a 400 (what nginx answers): the site
// is the only thing addressable, and the answers stay the right ones.

import { eqIgnoreCase } from "./request";

/** Bytes of a normalised path, "/index.html" appended for a directory. */
export const PATH_MAX: u32 = 8192;

export class SitePath {
  /** The normalised path: "/" then segments joined by "/". */
  readonly buf: usize = heap.alloc(PATH_MAX + 16);
  len: u32 = 0;
  /** The target named a directory ("/" or a trailing "/"). */
  directory: bool = false;
  /** Where the query string began in the target (for a redirect), or the target's length. */
  queryAt: u32 = 0;

  /** Decodes and normalises [p, p+n); 0 when done, else the status to answer (400). */
  resolve(p: usize, n: u32): u32 {
    this.len = 0;
    this.directory = false;
    let i: u32 = 0;
    // absolute-form: scheme "://" authority, then the path
    if (n > 0 && load<u8>(p) != 47) {
      let s: u32 = 0;
      if (n >= 7 && eqIgnoreCase(p, 7, "http://")) s = 7;
      else if (n >= 8 && eqIgnoreCase(p, 8, "https://")) s = 8;
      else return 400; // "*" and authority-form are for OPTIONS and CONNECT, refused earlier
      i = s;
      while (i < n && load<u8>(p + i) != 47 && load<u8>(p + i) != 63) i++;
      if (i == s) return 400;
    }
    let end = i;
    while (end < n && load<u8>(p + end) != 63 && load<u8>(p + end) != 35) end++;
    this.queryAt = end;
    if (i == end) { // "http://host" alone is "/"
      store<u8>(this.buf, 47);
      this.len = 1;
      this.directory = true;
      return 0;
    }
    const out = this.buf;
    store<u8>(out, 47);
    let o: u32 = 1; // out holds "/" and each kept segment followed by "/"
    let seg = o;
    while (i <= end) {
      let c: u32 = i < end ? load<u8>(p + i) : 47; // the end closes the last segment
      i++;
      if (c == 37) {
        if (i + 2 > end) return 400;
        const h = hexDigit(load<u8>(p + i));
        const l = hexDigit(load<u8>(p + i + 1));
        if (h < 0 || l < 0) return 400;
        c = <u32>((h << 4) | l);
        i += 2;
        if (c == 0) return 400;
      }
      if (c == 47) { // a literal or encoded "/" ends a segment
        o = this.closeSegment(seg, o);
        if (o == 0) return 400;
        seg = o;
        continue;
      }
      if (o >= PATH_MAX) return 414;
      store<u8>(out + o++, <u8>c);
    }
    this.directory = !this.named;
    this.len = o > 1 ? o - 1 : 1; // without the trailing "/" (the directory flag keeps it)
    return 0;
  }

  private named: bool = false;

  /**
   * The segment [start, o) is complete: "." and "" vanish, ".." removes the
   * one before (0 when there is none: above the root), a name stays and
   * gets its "/". Returns the new end, 0 for an escape above the root.
   */
  private closeSegment(start: u32, o: u32): u32 {
    const out = this.buf;
    const n = o - start;
    this.named = false;
    if (n == 0) return o;
    if (n == 1 && load<u8>(out + start) == 46) return start;
    if (n == 2 && load<u8>(out + start) == 46 && load<u8>(out + start + 1) == 46) {
      if (start <= 1) return 0;
      let s = start - 1; // the "/" ending the previous segment
      while (s > 0 && load<u8>(out + s - 1) != 47) s--;
      return s;
    }
    if (o >= PATH_MAX) return 0;
    this.named = true;
    store<u8>(out + o, 47);
    return o + 1;
  }
}

@inline function hexDigit(c: u8): i32 {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}
