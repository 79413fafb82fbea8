// A byte ring in manually managed memory: the send and receive buffers of a
// connection. Its block comes from the stack's BufferPool (bufpool.ts) and
// is replaced by a larger one as the data it holds grows, or given back
// when it empties (tcb.ts decides), so no segment ever touches the GC heap
// and an idle connection holds no ring memory at all. Besides FIFO
// append/consume it reads and writes at an offset from the head: the send side
// re-reads unacknowledged bytes for retransmission, the receive side places
// out-of-order data straight where it will be read (reassembly in place, as
// smoltcp does), so nothing is copied twice.

export class Ring {
  buf: usize = 0;
  cap: u32 = 0;
  head: u32 = 0;
  /** Bytes queued (from head). */
  len: u32 = 0;

  /**
   * Moves to the block [p, p+cap): everything from the head on (queued and
   * out-of-order bytes alike, up to the smaller capacity) is copied to its
   * start. Returns the old block (0 if there was none) for the caller to give back.
   */
  move(p: usize, cap: u32): usize {
    const old = this.buf;
    if (old != 0) this.readAt(0, p, min(this.cap, cap));
    this.buf = p;
    this.cap = cap;
    this.head = 0;
    return old;
  }

  /** Empties the ring and returns its block (0 if none). */
  drop(): usize {
    const b = this.buf;
    this.buf = 0;
    this.cap = 0;
    this.head = 0;
    this.len = 0;
    return b;
  }

  @inline get free(): u32 {
    return this.cap - this.len;
  }

  /** Appends up to `n` bytes from `src`; returns how many fit. */
  write(src: usize, n: u32): u32 {
    n = min(n, this.free);
    this.writeAt(this.len, src, n);
    this.len += n;
    return n;
  }

  /** Copies `n` bytes to `off` bytes past the head (the caller checked off + n <= cap). */
  writeAt(off: u32, src: usize, n: u32): void {
    if (n == 0) return;
    let pos = this.head + off;
    if (pos >= this.cap) pos -= this.cap;
    const first = min(n, this.cap - pos);
    memory.copy(this.buf + pos, src, first);
    if (first < n) memory.copy(this.buf, src + first, n - first);
  }

  /** Copies `n` bytes starting `off` past the head to `dst`, consuming nothing. */
  readAt(off: u32, dst: usize, n: u32): void {
    if (n == 0) return;
    let pos = this.head + off;
    if (pos >= this.cap) pos -= this.cap;
    const first = min(n, this.cap - pos);
    memory.copy(dst, this.buf + pos, first);
    if (first < n) memory.copy(dst + first, this.buf, n - first);
  }

  /** Reads and consumes up to `n` bytes. */
  read(dst: usize, n: u32): u32 {
    n = min(n, this.len);
    this.readAt(0, dst, n);
    this.consume(n);
    return n;
  }

  consume(n: u32): void {
    n = min(n, this.len);
    let h = this.head + n;
    if (h >= this.cap) h -= this.cap;
    this.head = h;
    this.len -= n;
    // The head is not reset when empty: out-of-order bytes may sit past it.
  }

  /** Makes `n` more bytes, already written past the end with writeAt, readable. */
  commit(n: u32): void {
    this.len += n;
  }
}
