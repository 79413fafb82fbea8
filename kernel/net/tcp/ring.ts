// A byte ring in manually managed memory: the send and receive buffers of a
// connection. Allocated once when the connection gets its buffers and freed
// when it closes, so no segment ever touches the GC heap. Besides FIFO
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

  /** Takes `cap` bytes from the allocator; false if it could not. */
  allocate(cap: u32): bool {
    if (this.buf != 0) return true;
    const p = heap.alloc(<usize>cap);
    if (p == 0) return false;
    this.buf = p;
    this.cap = cap;
    this.head = 0;
    this.len = 0;
    return true;
  }

  release(): void {
    if (this.buf != 0) heap.free(this.buf);
    this.buf = 0;
    this.cap = 0;
    this.head = 0;
    this.len = 0;
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
