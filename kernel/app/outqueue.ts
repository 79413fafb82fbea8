// A connection's output that TCP's send buffer could not take yet: one
// linear buffer in manually managed memory, grown (doubling) up to the
// bound the connection sets and released when the connection ends, so a
// peer that stops reading costs at most that bound.

let held: u64 = 0;

/** Bytes all output queues hold now (memory, not queued data): 0 once every connection has closed. */
export function outQueueMemory(): u64 {
  return held;
}

export class OutQueue {
  private buf: usize = 0;
  private cap: u32 = 0;
  private head: u32 = 0;
  /** Bytes waiting. */
  len: u32 = 0;

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

  /** Drops `n` bytes from the front. */
  consume(n: u32): void {
    n = min(n, this.len);
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
  }
}
