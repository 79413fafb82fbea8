// RESP2 replies, encoded into one buffer shared by every connection (a
// connection's commands run to completion before another's) and handed to
// the connection's output in one write per batch: pipelined commands cost
// one write, and nothing is allocated per reply. Large values bypass the
// buffer and go to the output straight from the store.

/** Where a connection's reply bytes go. */
export abstract class KvOutput {
  /** Bytes the output takes now within the connection's queue bound. */
  abstract room(): u32;
  /** Queues [p, p+n). */
  abstract write(p: usize, n: u32): void;
  /** Ends the connection once what was written has gone out. */
  abstract close(): void;
}

const CAP: u32 = 65536;
/** A bulk value at least this long is written from where it lies, not copied here. */
const DIRECT: u32 = 4096;

export class Reply {
  private buf: usize = heap.alloc(CAP);
  private len: u32 = 0;
  out: KvOutput | null = null;
  /** Bytes handed to outputs, for INFO. */
  written: u64 = 0;

  /** Sends what is buffered to the current output. */
  flush(): void {
    if (this.len > 0 && this.out != null) {
      this.out!.write(this.buf, this.len);
      this.written += this.len;
    }
    this.len = 0;
  }

  private room(n: u32): void {
    if (this.len + n > CAP) this.flush();
  }

  text(s: string): Reply {
    const n = <u32>s.length;
    if (n > CAP) { for (let i: u32 = 0; i < n; i += CAP) this.text(s.substring(i, i + CAP)); return this; }
    this.room(n);
    // replies are ASCII except where bytes are passed as bytes
    for (let i: u32 = 0; i < n; i++) store<u8>(this.buf + this.len + i, <u8>s.charCodeAt(i));
    this.len += n;
    return this;
  }

  bytes(p: usize, n: u32): Reply {
    if (n >= DIRECT) {
      this.flush();
      if (this.out != null) this.out!.write(p, n);
      this.written += n;
      return this;
    }
    this.room(n);
    memory.copy(this.buf + this.len, p, n);
    this.len += n;
    return this;
  }

  crlf(): Reply {
    this.room(2);
    store<u16>(this.buf + this.len, 0x0a0d);
    this.len += 2;
    return this;
  }

  number(v: i64): Reply {
    this.room(21);
    let u: u64 = v < 0 ? <u64>(0 - v) : <u64>v;
    let digits: u32 = 1;
    for (let t = u; t >= 10; t /= 10) digits++;
    if (v < 0) store<u8>(this.buf + this.len++, 45);
    let q = this.buf + this.len + digits;
    do {
      store<u8>(--q, <u8>(48 + u % 10));
      u /= 10;
    } while (u > 0);
    this.len += digits;
    return this;
  }

  ok(): void { this.text("+OK\r\n"); }
  simple(s: string): void { this.text("+").text(s).crlf(); }
  /** An error reply: `s` is Redis's text without the leading "-" ("ERR syntax error"). */
  error(s: string): void { this.text("-").text(s).crlf(); }
  integer(v: i64): void { this.text(":").number(v).crlf(); }
  nil(): void { this.text("$-1\r\n"); }
  bulk(p: usize, n: u32): void { this.text("$").number(n).crlf().bytes(p, n).crlf(); }
  bulkText(s: string): void { this.text("$").number(s.length).crlf().text(s).crlf(); }
  array(n: i64): void { this.text("*").number(n).crlf(); }
}
