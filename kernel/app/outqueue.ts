// A connection's output that TCP's send buffer could not take yet: one
// linear buffer in manually managed memory, grown (doubling) up to the
// bound the connection sets and released when the connection ends, so a
// peer that stops reading costs at most that bound; and at most one
// reference to immutable memory (Connection.writeStatic) waiting at its
// place among those bytes, which costs no memory at all.

let held: u64 = 0;

/** Bytes all output queues hold now (memory, not queued data): 0 once every connection has closed. */
export function outQueueMemory(): u64 {
  return held;
}

export class OutQueue {
  private buf: usize = 0;
  private cap: u32 = 0;
  private head: u32 = 0;
  /** Bytes waiting (copied). */
  len: u32 = 0;
  /** The waiting reference: its address and length (0: none)... */
  refPtr: usize = 0;
  refLen: u32 = 0;
  /** ... and how many of the copied bytes go before it. */
  refAt: u32 = 0;

  /** Nothing waits, copied or referenced. */
  @inline get empty(): bool {
    return this.len == 0 && this.refLen == 0;
  }

  /** Bytes to hand TCP before the reference's turn (all of them without one). */
  @inline get before(): u32 {
    return this.refLen > 0 ? this.refAt : this.len;
  }

  /** Queues the reference [p, p+n) behind the bytes waiting now (the caller checked that none waits). */
  pushRef(p: usize, n: u32): void {
    this.refPtr = p;
    this.refLen = n;
    this.refAt = this.len;
  }

  /** `n` bytes of the reference went into TCP. */
  consumeRef(n: u32): void {
    n = min(n, this.refLen);
    this.refPtr += n;
    this.refLen -= n;
  }

  @inline get ptr(): usize {
    return this.buf + this.head;
  }

  /** Appends [p, p+n); false (nothing taken) if the memory cannot be had. */
  push(p: usize, n: u32): bool {
    if (n == 0) return true;
    if (this.head + this.len + n > this.cap) {
      if (this.len + n <= this.cap) {
        // Room enough once the consumed front is gone.
        memory.copy(this.buf, this.buf + this.head, this.len);
      } else {
        let cap = max<u32>(this.cap, 4096);
        while (cap < this.len + n) cap <<= 1;
        const b = heap.alloc(<usize>cap);
        if (b == 0) return false;
        if (this.buf != 0) {
          memory.copy(b, this.buf + this.head, this.len);
          heap.free(this.buf);
        }
        held += <u64>cap - <u64>this.cap;
        this.buf = b;
        this.cap = cap;
      }
      this.head = 0;
    }
    memory.copy(this.buf + this.head + this.len, p, n);
    this.len += n;
    return true;
  }

  /** Drops `n` copied bytes from the front (at most `before`). */
  consume(n: u32): void {
    n = min(n, this.len);
    if (this.refLen > 0) this.refAt -= min(n, this.refAt);
    this.head += n;
    this.len -= n;
    if (this.len == 0) this.head = 0;
  }

  /** Frees the memory (the queue stays usable). */
  release(): void {
    if (this.buf != 0) heap.free(this.buf);
    held -= <u64>this.cap;
    this.buf = 0;
    this.cap = 0;
    this.head = 0;
    this.len = 0;
    this.refLen = 0;
  }
}
