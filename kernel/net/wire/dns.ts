// DNS messages (RFC 1035) for a stub resolver: one question out, A records
// and CNAME chains in. Names are decoded into fixed buffers as lower-case
// dotted text. Compression pointers must point strictly backwards (before
// the label that holds them), which makes every name decode terminate: a
// loop, a self-pointer or a forward jump is PointerLoop, not a hang.

import { WireError } from "./error";
import { be16, be32, put16 } from "./bytes";

export const DNS_HEADER_LEN: u32 = 12;
export const DNS_PORT: u32 = 53;
export const DNS_MAX_NAME: u32 = 255;
export const DNS_TYPE_A: u32 = 1;
export const DNS_TYPE_CNAME: u32 = 5;
export const DNS_CLASS_IN: u32 = 1;
export const DNS_RCODE_NXDOMAIN: u32 = 3;
/** Most A records kept from one answer. */
export const DNS_MAX_ADDRS: i32 = 4;
/** Most answer records examined; more are ignored. */
export const DNS_MAX_RECORDS: i32 = 32;
/** Most CNAME hops followed. */
export const DNS_MAX_CNAMES: i32 = 8;

/** A domain name in a fixed 256-byte buffer, dotted, lower case, no trailing dot. */
export class DnsName {
  readonly buf: usize = heap.alloc(256);
  len: u32 = 0;
  /** After `read`: the offset just past the name where it was read (not where pointers led). */
  end: u32 = 0;

  /** Sets the name from text (ASCII); false if it is not a valid name. */
  set(s: string): bool {
    const n = s.length;
    if (n == 0 || n > 253) return false;
    let label = 0;
    for (let i = 0; i < n; i++) {
      let c = s.charCodeAt(i);
      if (c > 127) return false;
      if (c == 46) {
        if (label == 0) return false;
        label = 0;
      } else if (++label > 63) return false;
      if (c >= 65 && c <= 90) c += 32;
      store<u8>(this.buf + i, <u8>c);
    }
    if (label == 0) return false;
    this.len = n;
    return true;
  }

  copyFrom(o: DnsName): void {
    memory.copy(this.buf, o.buf, o.len);
    this.len = o.len;
  }

  equals(o: DnsName): bool {
    return this.len == o.len && memory.compare(this.buf, o.buf, this.len) == 0;
  }

  toString(): string {
    return String.UTF8.decodeUnsafe(this.buf, this.len);
  }

  /** Decodes the name at offset `off` of the `len`-byte message at `msg`. */
  read(msg: usize, len: u32, off: u32): WireError {
    let pos = off;
    let out: u32 = 0;
    let wire: u32 = 0;
    let jumped = false;
    // The lowest offset reached so far: a pointer must go below it.
    let floor = off;
    for (;;) {
      if (pos >= len) return WireError.Truncated;
      const b = <u32>load<u8>(msg + pos);
      if ((b & 0xc0) == 0xc0) {
        if (pos + 2 > len) return WireError.Truncated;
        const target = ((b & 0x3f) << 8) | <u32>load<u8>(msg + pos + 1);
        if (!jumped) this.end = pos + 2;
        jumped = true;
        if (target >= len) return WireError.BadPointer;
        if (target >= floor) return WireError.PointerLoop;
        floor = target;
        pos = target;
        continue;
      }
      if (b & 0xc0) return WireError.BadLabel;
      wire += b + 1;
      if (wire > DNS_MAX_NAME) return WireError.NameTooLong;
      if (b == 0) {
        if (!jumped) this.end = pos + 1;
        break;
      }
      if (pos + 1 + b > len) return WireError.Truncated;
      if (out) store<u8>(this.buf + out++, 46);
      for (let i: u32 = 0; i < b; i++) {
        let c = <u32>load<u8>(msg + pos + 1 + i);
        if (c >= 65 && c <= 90) c += 32;
        store<u8>(this.buf + out++, <u8>c);
      }
      pos += 1 + b;
    }
    this.len = out;
    return WireError.Ok;
  }

  /** Writes the name as labels at `p`; returns the bytes written. */
  write(p: usize): u32 {
    let o: u32 = 0;
    let start: u32 = 0;
    for (let i: u32 = 0; i <= this.len; i++) {
      if (i == this.len || load<u8>(this.buf + i) == 46) {
        const n = i - start;
        store<u8>(p + o, <u8>n);
        memory.copy(p + o + 1, this.buf + start, n);
        o += 1 + n;
        start = i + 1;
      }
    }
    store<u8>(p + o, 0);
    return o + 1;
  }
}

/** Writes a recursive query for (`name`, `qtype`, IN) with `id`; returns its length, 0 if `cap` is too small. */
export function emitQuery(p: usize, cap: u32, id: u32, name: DnsName, qtype: u32): u32 {
  const need = DNS_HEADER_LEN + name.len + 2 + 4;
  if (cap < need) return 0;
  put16(p, id);
  put16(p + 2, 0x0100); // RD: recursion desired
  put16(p + 4, 1);
  put16(p + 6, 0);
  put16(p + 8, 0);
  put16(p + 10, 0);
  const n = name.write(p + DNS_HEADER_LEN);
  put16(p + DNS_HEADER_LEN + n, qtype);
  put16(p + DNS_HEADER_LEN + n + 2, DNS_CLASS_IN);
  return DNS_HEADER_LEN + n + 4;
}

/** The answer to one A query, after following CNAMEs. */
export class DnsResponse {
  id: u32 = 0;
  flags: u32 = 0;
  rcode: u32 = 0;
  addrCount: i32 = 0;
  readonly addrs: StaticArray<u32> = new StaticArray<u32>(DNS_MAX_ADDRS);
  /** Smallest TTL along the chain, seconds. */
  ttl: u32 = 0;
  /** CNAME hops followed. */
  cnames: i32 = 0;
  /** The name the addresses belong to (the end of the chain). */
  readonly canonical: DnsName = new DnsName();
  private readonly records: StaticArray<u32> = new StaticArray<u32>(DNS_MAX_RECORDS);
  private readonly owner: DnsName = new DnsName();
  private readonly next: DnsName = new DnsName();

  /**
   * Reads the `len`-byte reply at `msg` to query `id` for (`qname`, `qtype`).
   * Ok with rcode != 0 is a server's negative answer; Ok with addrCount 0 is
   * an answer without addresses (a dangling CNAME chain, say).
   */
  parse(msg: usize, len: u32, id: u32, qname: DnsName, qtype: u32): WireError {
    if (len < DNS_HEADER_LEN) return WireError.Truncated;
    const flags = be16(msg + 2);
    if (be16(msg) != id || (flags & 0x8000) == 0) return WireError.Mismatch;
    // A truncated reply would need TCP, which a stub over UDP does not do.
    if (flags & 0x0200) return WireError.Unsupported;
    if (be16(msg + 4) != 1) return WireError.Mismatch;
    this.id = id;
    this.flags = flags;
    this.rcode = flags & 15;
    this.addrCount = 0;
    this.cnames = 0;
    this.ttl = u32.MAX_VALUE;
    const owner = this.owner;
    let e = owner.read(msg, len, DNS_HEADER_LEN);
    if (e != WireError.Ok) return e;
    let pos = owner.end;
    if (pos + 4 > len) return WireError.Truncated;
    if (!owner.equals(qname) || be16(msg + pos) != qtype || be16(msg + pos + 2) != DNS_CLASS_IN) return WireError.Mismatch;
    pos += 4;
    // Validate every answer record and remember where each starts.
    const an = <i32>be16(msg + 6);
    let kept = 0;
    for (let i = 0; i < an; i++) {
      e = owner.read(msg, len, pos);
      if (e != WireError.Ok) return e;
      const f = owner.end;
      if (f + 10 > len) return WireError.Truncated;
      const rdlen = be16(msg + f + 8);
      if (f + 10 + rdlen > len) return WireError.BadLength;
      if (kept < DNS_MAX_RECORDS) unchecked((this.records[kept++] = pos));
      pos = f + 10 + rdlen;
    }
    if (this.rcode != 0) {
      this.ttl = 0;
      return WireError.Ok;
    }
    const cur = this.canonical;
    cur.copyFrom(qname);
    for (let hop = 0; hop <= DNS_MAX_CNAMES; hop++) {
      let followed = false;
      for (let i = 0; i < kept; i++) {
        const r = unchecked(this.records[i]);
        owner.read(msg, len, r); // validated above
        if (!owner.equals(cur)) continue;
        const f = owner.end;
        const type = be16(msg + f);
        const cls = be16(msg + f + 2);
        const ttl = be32(msg + f + 4);
        const rdlen = be16(msg + f + 8);
        if (cls != DNS_CLASS_IN) continue;
        if (type == DNS_TYPE_A && rdlen == 4) {
          if (this.addrCount < DNS_MAX_ADDRS) unchecked((this.addrs[this.addrCount++] = be32(msg + f + 10)));
          if (ttl < this.ttl) this.ttl = ttl;
        } else if (type == DNS_TYPE_CNAME && !followed) {
          e = this.next.read(msg, len, f + 10);
          if (e != WireError.Ok) return e;
          if (ttl < this.ttl) this.ttl = ttl;
          followed = true;
        }
      }
      if (this.addrCount > 0 || !followed) break;
      if (hop == DNS_MAX_CNAMES) break;
      cur.copyFrom(this.next);
      this.cnames++;
    }
    if (this.addrCount == 0 && this.ttl == u32.MAX_VALUE) this.ttl = 0;
    return WireError.Ok;
  }
}
