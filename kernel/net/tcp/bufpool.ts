// The memory of every connection's send and receive rings, one pool per
// stack (Linux's tcp_mem, with per-connection buffers that grow with the
// data they hold, as its autotuning does, instead of being reserved whole).
//
// Blocks come in power-of-two sizes from 256 B; a given-back block waits on
// its size's free list (up to `cacheLimit` bytes in all, then it goes back
// to the heap), so a connection that takes and returns its rings per
// request does not churn the allocator. `used` counts the blocks handed out
// and the reservations of half-open connections, against `limit`.
//
// The last `headroom` bytes below the limit are only for first buffers (a
// ring that has none yet, up to FIRST_BUF, and the reservation a SYN
// makes): connections that grow their rings stop short of it, so
// established connections can fill the pool but never starve a new
// handshake of its first request. Receivers offer only the window a ring
// could grow to now (`growable`), so windows shrink as the pool fills,
// before data has to be dropped. A block the heap cannot give now (a small
// machine's heap full of other objects, or no free run that large) is a
// refusal like the limit's, never an out-of-memory abort.

import { heapCanAlloc } from "../../mem/heap";

const MIN_SHIFT: u32 = 8;
const MAX_SHIFT: u32 = 30;

/** A first buffer: one full segment (1460 bytes and options) fits. */
export const FIRST_BUF: u32 = 2048;

export class BufferPool {
  /** Bytes handed out (blocks and reservations). */
  used: u64 = 0;
  /** Bytes waiting on the free lists. */
  cached: u64 = 0;
  /** Most bytes kept on the free lists. */
  cacheLimit: u64 = 512 * 1024;
  /** Connections waiting for memory to be given back (their sends took nothing). */
  waiters: u32 = 0;
  /** Refusals (a block or reservation past the limit, or the heap had none). */
  refused: u64 = 0;
  private lim: u64 = 0;
  private head: u64 = 0;
  /** Free-list heads, one per size class (a free block's first word links the next). */
  private readonly lists: StaticArray<usize> = new StaticArray<usize>(MAX_SHIFT + 1);

  constructor(limit: u64) {
    this.limit = limit;
  }

  get limit(): u64 {
    return this.lim;
  }
  /** Sets the limit; the headroom for first buffers is an eighth of it, at most 256 KiB. */
  set limit(v: u64) {
    this.lim = v;
    this.head = min<u64>(v / 8, 256 * 1024);
  }
  get headroom(): u64 {
    return this.head;
  }

  /** The size of the block `n` bytes get. */
  static sizeFor(n: u32): u32 {
    let s = MIN_SHIFT;
    while (s < MAX_SHIFT && (<u32>1 << s) < n) s++;
    return <u32>1 << s;
  }

  /**
   * The largest block a ring that now has a `cap`-byte block (0: none)
   * could move to without passing the limit less the headroom (a first
   * block, up to FIRST_BUF, may use the headroom too); at least `cap`. What
   * a receiver may offer as window, and a sender may fall back to, without
   * counting on memory the pool does not have.
   */
  growable(cap: u32): u32 {
    const growthCap = this.lim > this.head ? this.lim - this.head : 0;
    const others = this.used - cap;
    let best = cap;
    if (growthCap > others) best = max<u32>(best, pow2Floor(growthCap - others));
    if (cap == 0 && this.lim > this.used) best = max<u32>(best, min<u32>(FIRST_BUF, pow2Floor(this.lim - this.used)));
    return best;
  }

  /**
   * Charges `bytes` without a block (a half-open connection's first buffer).
   * `first`: may use the headroom.
   */
  charge(bytes: u64, first: bool): bool {
    const cap = first ? this.lim : (this.lim > this.head ? this.lim - this.head : 0);
    if (this.used + bytes > cap) {
      this.refused++;
      return false;
    }
    this.used += bytes;
    return true;
  }

  uncharge(bytes: u64): void {
    this.used -= bytes;
  }

  /** Whether the pool is past half of what growing rings may use: rings that hold little move to smaller blocks. */
  pressed(): bool {
    const growthCap = this.lim > this.head ? this.lim - this.head : 0;
    return this.used * 2 > growthCap;
  }

  /**
   * A block of `size` bytes to replace a larger one the caller gives back
   * at once: charged without the limit (the total only goes down), 0 if the
   * heap has none.
   */
  takeSmaller(size: u32): usize {
    const k = ctz(size);
    const p = unchecked(this.lists[k]);
    if (p != 0) {
      unchecked((this.lists[k] = load<usize>(p)));
      this.cached -= size;
      this.used += size;
      return p;
    }
    if (!heapCanAlloc(<usize>size)) {
      this.refused++;
      return 0;
    }
    const q = heap.alloc(<usize>size);
    this.used += size;
    return q;
  }

  /** A block of `size` bytes (a sizeFor value), or 0. `first`: may use the headroom. */
  take(size: u32, first: bool): usize {
    if (!this.charge(size, first)) return 0;
    const k = ctz(size);
    const p = unchecked(this.lists[k]);
    if (p != 0) {
      unchecked((this.lists[k] = load<usize>(p)));
      this.cached -= size;
      return p;
    }
    if (!heapCanAlloc(<usize>size)) {
      this.used -= size;
      this.refused++;
      return 0;
    }
    return heap.alloc(<usize>size);
  }

  /** Gives back a block `take` returned. */
  give(p: usize, size: u32): void {
    this.used -= size;
    if (this.cached + size > this.cacheLimit) {
      heap.free(p);
      return;
    }
    const k = ctz(size);
    store<usize>(p, unchecked(this.lists[k]));
    unchecked((this.lists[k] = p));
    this.cached += size;
  }
}

/** The largest block size not above `n` (0 below the smallest). */
function pow2Floor(n: u64): u32 {
  if (n < (<u64>1 << MIN_SHIFT)) return 0;
  let s: u32 = 63 - <u32>clz(n);
  if (s > MAX_SHIFT) s = MAX_SHIFT;
  return <u32>1 << s;
}
