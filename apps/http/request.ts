// The HTTP/1.1 request head (RFC 9112 sections 2-5, RFC 9110 for the
// fields): one parse over bytes the connection received, in place. The result
// is a view of the input (offsets, no copies) plus the few fields the server
// acts on. Malformed input is a status value (400, 414, 431, 501, 505), never
// a trap; a head not complete yet is NeedMore.

/** What `parse` found. */
export const enum Parse {
  /** The head is complete: `headLen` bytes, then the body (if any). */
  Done = 0,
  /** No end of head yet and the limits allow more. */
  NeedMore = 1,
  /** Malformed or over a limit: answer `status` and close. */
  Error = 2,
}

export const enum Method { Other = 0, Get = 1, Head = 2, Known = 3 }

export class Limits {
  /** Bytes of request line + header fields (431 beyond; 414 if the request line alone is longer). */
  headerBytes: u32 = 8192;
  /** Header fields (431 beyond). */
  headerCount: u32 = 100;
  /** Bytes of the request target (414 beyond). */
  uriBytes: u32 = 4096;
  /** A request body the server reads past (GET with a body); 413 beyond. */
  bodyBytes: u32 = 65536;
}

// tchar (RFC 9110 5.6.2) as a 128-bit table: digits, letters and !#$%&'*+-.^_`|~
const TCHAR_LO: u64 = 0x03ff6cfa00000000; // chars 0..63
const TCHAR_HI: u64 = 0x57ffffffc7fffffe; // chars 64..127

@inline export function isTchar(c: u32): bool {
  if (c >= 128) return false;
  return c < 64 ? ((TCHAR_LO >> c) & 1) != 0 : ((TCHAR_HI >> (c - 64)) & 1) != 0;
}

@inline function lower(c: u32): u32 {
  return c - 65 < 26 ? c | 32 : c;
}

/** Whether bytes [p, p+n) are `s` (ASCII), ignoring case. */
export function eqIgnoreCase(p: usize, n: u32, s: string): bool {
  if (<i32>n != s.length) return false;
  for (let i: u32 = 0; i < n; i++) if (lower(load<u8>(p + i)) != lower(s.charCodeAt(i))) return false;
  return true;
}

/** Whether bytes [p, p+n) are exactly `s` (ASCII). */
export function eqBytes(p: usize, n: u32, s: string): bool {
  if (<i32>n != s.length) return false;
  for (let i: u32 = 0; i < n; i++) if (<i32>load<u8>(p + i) != s.charCodeAt(i)) return false;
  return true;
}

export class Request {
  status: u32 = 0; // the error status when parse returns Error
  headLen: u32 = 0;
  method: Method = Method.Other;
  methodPtr: usize = 0;
  methodLen: u32 = 0;
  targetPtr: usize = 0;
  targetLen: u32 = 0;
  /** 10 or 11 (HTTP/1.x with x > 1 is answered as 1.1, RFC 9110 6.2). */
  version: u32 = 11;
  /** Persistent after this exchange: 1.1 unless "close", 1.0 only with "keep-alive". */
  keepAlive: bool = true;
  hosts: u32 = 0;
  inmPtr: usize = 0; // If-None-Match value, 0 when absent
  inmLen: u32 = 0;
  rangePtr: usize = 0; // Range value, 0 when absent
  rangeLen: u32 = 0;
  ifRangePtr: usize = 0;
  ifRangeLen: u32 = 0;
  contentLength: u64 = 0;
  private lengths: u32 = 0;

  reset(): void {
    this.status = 0; this.headLen = 0; this.method = Method.Other; this.methodPtr = 0; this.methodLen = 0;
    this.targetPtr = 0; this.targetLen = 0; this.version = 11; this.keepAlive = true; this.hosts = 0;
    this.inmPtr = 0; this.inmLen = 0; this.rangePtr = 0; this.rangeLen = 0; this.ifRangePtr = 0; this.ifRangeLen = 0;
    this.contentLength = 0; this.lengths = 0;
  }

  private fail(status: u32): Parse {
    this.status = status;
    return Parse.Error;
  }

  /**
   * Parses the head at [p, p+n). Leading empty lines are skipped (RFC 9112
   * 2.2); lines end in CRLF or a bare LF.
   */
  parse(p: usize, n: u32, lim: Limits): Parse {
    this.reset();
    let i: u32 = 0;
    while (i < n && (load<u8>(p + i) == 13 || load<u8>(p + i) == 10)) i++;
    const start = i;
    // the end of the head: an empty line
    let end: u32 = 0;
    let lineEnd: i32 = -1;
    for (let j = start; j < n; j++) {
      if (load<u8>(p + j) != 10) continue;
      if (lineEnd < 0) lineEnd = <i32>j;
      if (j + 1 < n && load<u8>(p + j + 1) == 10) { end = j + 2; break; }
      if (j + 2 < n && load<u8>(p + j + 1) == 13 && load<u8>(p + j + 2) == 10) { end = j + 3; break; }
    }
    if (end == 0) {
      // no end yet: over a limit now, or wait
      if (lineEnd < 0 && n - start > lim.uriBytes + 32) return this.fail(firstLineStatus(p + start, n - start, lim));
      if (n - start >= lim.headerBytes) return this.fail(lineEnd < 0 ? firstLineStatus(p + start, n - start, lim) : 431);
      if (lineEnd >= 0 && !this.lineOk(p + start, <u32>lineEnd - start, lim)) return Parse.Error;
      return Parse.NeedMore;
    }
    if (end - start > lim.headerBytes + 4) return this.fail(<u32>lineEnd - start > lim.uriBytes ? 414 : 431);
    this.headLen = end;
    // request line
    const rl = <u32>lineEnd;
    if (!this.requestLine(p + start, rl - start - (rl > start && load<u8>(p + rl - 1) == 13 ? 1 : 0), lim.uriBytes)) return Parse.Error;
    // header fields
    let q = rl + 1;
    let count: u32 = 0;
    while (q < end) {
      let e = q;
      while (load<u8>(p + e) != 10) e++;
      let len = e - q;
      if (len > 0 && load<u8>(p + e - 1) == 13) len--;
      if (len == 0) break; // the empty line
      if (++count > lim.headerCount) return this.fail(431);
      if (!this.field(p + q, len)) return Parse.Error;
      q = e + 1;
    }
    if (this.version == 11 && this.hosts != 1) return this.fail(400); // RFC 9112 3.2
    if (this.hosts > 1) return this.fail(400);
    if (this.contentLength > <u64>lim.bodyBytes) return this.fail(413);
    return Parse.Done;
  }

  /** A request line arrived before its head ended: refuse a bad one at once. */
  private lineOk(p: usize, n: u32, lim: Limits): bool {
    if (n > 0 && load<u8>(p + n - 1) == 13) n--;
    return this.requestLine(p, n, lim.uriBytes);
  }

  // method SP request-target SP HTTP-version (RFC 9112 3)
  private requestLine(p: usize, n: u32, uriBytes: u32): bool {
    let i: u32 = 0;
    while (i < n && isTchar(load<u8>(p + i))) i++;
    if (i == 0 || i >= n || load<u8>(p + i) != 32) { this.fail(400); return false; }
    this.methodPtr = p;
    this.methodLen = i;
    this.method = methodOf(p, i);
    const t = ++i;
    while (i < n && load<u8>(p + i) > 32 && load<u8>(p + i) != 127) i++;
    if (i == t || i >= n || load<u8>(p + i) != 32) { this.fail(i - t > uriBytes ? 414 : 400); return false; }
    this.targetPtr = p + t;
    this.targetLen = i - t;
    if (this.targetLen > uriBytes) { this.fail(414); return false; }
    i++;
    // HTTP-version = "HTTP/" DIGIT "." DIGIT
    if (n - i != 8 || !eqBytes(p + i, 5, "HTTP/") || load<u8>(p + i + 6) != 46) { this.fail(400); return false; }
    const major = <u32>load<u8>(p + i + 5) - 48;
    const minor = <u32>load<u8>(p + i + 7) - 48;
    if (major > 9 || minor > 9) { this.fail(400); return false; }
    if (major != 1) { this.fail(major == 0 ? 400 : 505); return false; }
    this.version = minor == 0 ? 10 : 11;
    this.keepAlive = this.version == 11;
    return true;
  }

  // field-name ":" OWS field-value OWS (RFC 9112 5)
  private field(p: usize, n: u32): bool {
    let i: u32 = 0;
    const first = load<u8>(p);
    if (first == 32 || first == 9) { this.fail(400); return false; } // obs-fold
    while (i < n && isTchar(load<u8>(p + i))) i++;
    if (i == 0 || i >= n || load<u8>(p + i) != 58) { this.fail(400); return false; } // no space before ':'
    const name = p;
    const nameLen = i;
    i++;
    while (i < n && (load<u8>(p + i) == 32 || load<u8>(p + i) == 9)) i++;
    let e = n;
    while (e > i && (load<u8>(p + e - 1) == 32 || load<u8>(p + e - 1) == 9)) e--;
    const v = p + i;
    const vl = e - i;
    for (let k: u32 = 0; k < vl; k++) {
      const c = load<u8>(v + k);
      if ((c < 32 && c != 9) || c == 127) { this.fail(400); return false; } // NUL, CR, controls
    }
    if (eqIgnoreCase(name, nameLen, "host")) this.hosts++;
    else if (eqIgnoreCase(name, nameLen, "connection")) this.connection(v, vl);
    else if (eqIgnoreCase(name, nameLen, "if-none-match")) { this.inmPtr = v; this.inmLen = vl; }
    else if (eqIgnoreCase(name, nameLen, "range")) { this.rangePtr = v; this.rangeLen = vl; }
    else if (eqIgnoreCase(name, nameLen, "if-range")) { this.ifRangePtr = v; this.ifRangeLen = vl; }
    else if (eqIgnoreCase(name, nameLen, "transfer-encoding")) { this.fail(501); return false; } // no request bodies to decode
    else if (eqIgnoreCase(name, nameLen, "content-length")) {
      // digits only; repeated values must agree (RFC 9112 6.3)
      if (vl == 0 || vl > 18) { this.fail(vl > 18 ? 413 : 400); return false; }
      let len: u64 = 0;
      for (let k: u32 = 0; k < vl; k++) {
        const d = <u32>load<u8>(v + k) - 48;
        if (d > 9) { this.fail(400); return false; }
        len = len * 10 + d;
      }
      if (this.lengths++ > 0 && len != this.contentLength) { this.fail(400); return false; }
      this.contentLength = len;
    }
    return true;
  }

  // Connection = #connection-option: "close" wins, "keep-alive" keeps an HTTP/1.0 exchange open
  private connection(v: usize, n: u32): void {
    let i: u32 = 0;
    while (i < n) {
      while (i < n && (load<u8>(v + i) == 32 || load<u8>(v + i) == 9 || load<u8>(v + i) == 44)) i++;
      const s = i;
      while (i < n && load<u8>(v + i) != 44 && load<u8>(v + i) != 32 && load<u8>(v + i) != 9) i++;
      if (eqIgnoreCase(v + s, i - s, "close")) { this.keepAlive = false; return; }
      if (eqIgnoreCase(v + s, i - s, "keep-alive") && this.version == 10) this.keepAlive = true;
    }
  }
}

/** The status for a first line that never ended within the limits. */
function firstLineStatus(p: usize, n: u32, lim: Limits): u32 {
  // a method token then a space: the target is what is too long
  let i: u32 = 0;
  while (i < n && isTchar(load<u8>(p + i))) i++;
  if (i == 0 || i >= n || load<u8>(p + i) != 32) return 400;
  return n - i > lim.uriBytes ? 414 : 431;
}

function methodOf(p: usize, n: u32): Method {
  if (eqBytes(p, n, "GET")) return Method.Get;
  if (eqBytes(p, n, "HEAD")) return Method.Head;
  if (eqBytes(p, n, "POST") || eqBytes(p, n, "PUT") || eqBytes(p, n, "DELETE") || eqBytes(p, n, "OPTIONS") ||
      eqBytes(p, n, "PATCH") || eqBytes(p, n, "TRACE") || eqBytes(p, n, "CONNECT")) return Method.Known;
  return Method.Other;
}
