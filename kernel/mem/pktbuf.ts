// The packet-buffer pool: fixed-size buffers in linear memory, shared by the
// network drivers (receive buffers, transmit completions) and the stack.
//
// Why fixed size: a 2 KiB buffer holds the largest Ethernet frame (1514
// bytes) plus any device header in front of it, so every buffer fits every
// frame and the pool needs no size classes; alloc and free are a push/pop on
// an index stack. The pool's region is carved out once (dmaAlloc), so a
// buffer's DMA address is dma_base() + its offset, and nothing per packet
// touches the GC heap.
//
// Buffer layout: [0, PKT_HEADROOM) is headroom, the frame starts at
// PKT_HEADROOM. Drivers put their device header (virtio_net_hdr: 12 bytes)
// just before the frame, so receive and transmit are zero-copy; a stack may
// also use the headroom to prepend headers.

import { dmaAlloc, dmaAddr } from "./dma";

export const PKT_BUF_SIZE: u32 = 2048;
/** Offset of the frame inside a buffer; bytes before it are free for headers. */
export const PKT_HEADROOM: u32 = 64;
/** Largest frame a buffer holds. */
export const PKT_MAX_FRAME: u32 = PKT_BUF_SIZE - PKT_HEADROOM;

const FREE: u8 = 0;
const USED: u8 = 1;

/**
 * Someone holding buffers it could give back on demand: a driver whose
 * device has finished sending frames it has not yet collected (it collects
 * them lazily, on its next poll). `PacketPool.alloc` asks it once when the
 * pool is empty, before failing: on a small machine the buffers waiting for
 * collection can be the whole spare part of the pool.
 */
export abstract class PoolReclaimer {
  /** Returns to the pool what can be returned now. Called from inside `alloc`: must not allocate from the pool. */
  abstract reclaim(): void;
}

/**
 * Someone that had to hold output back because the pool was empty (the IPv4
 * layer, for the protocols above it). `buffersBack` is called once, from
 * inside `free`, when a buffer returns after `ready` or `alloc` found none:
 * that can be deep in a driver's reclaim, so it must only schedule work
 * (wake a task), never allocate or send.
 */
export abstract class PoolWaiter {
  abstract buffersBack(): void;
}

export class PacketPool {
  /** First byte of buffer 0; buffers are contiguous and PKT_BUF_SIZE apart. */
  readonly base: usize;
  readonly capacity: u32;
  /** Buffers handed out and not yet freed. */
  inUse: u32 = 0;
  /** The most buffers ever in use at once. */
  highWater: u32 = 0;
  /** Times the pool was found empty, the reclaimer asked in vain: by `alloc` (which returned 0) or `ready` (which said no). */
  allocFailures: u64 = 0;
  /** `free` calls with an address that is not a buffer in use (double free, stray pointer): ignored. */
  badFrees: u64 = 0;
  allocs: u64 = 0;
  /** Asked for buffers when the pool is empty (the driver that sends from it). */
  reclaimer: PoolReclaimer | null = null;
  /** Times the pool was found empty and the reclaimer refilled it (`alloc` or `ready`). */
  reclaims: u64 = 0;
  /** Told when buffers return after the pool was found empty. */
  private readonly waiters: Array<PoolWaiter> = new Array<PoolWaiter>();
  /** `ready` or `alloc` found no buffer, and none has returned since. */
  private starved: bool = false;

  // A stack of free buffer indices (u32 each) and one state byte per buffer,
  // both outside the buffers themselves, so a device scribbling on a buffer
  // cannot corrupt the pool's bookkeeping.
  private stack: usize;
  private state: usize;
  private top: u32;

  /** Carves out `count` buffers; aborts at init if memory cannot hold them. */
  constructor(count: u32) {
    assert(count > 0 && count <= 65536, "packet pool: 1..65536 buffers");
    this.capacity = count;
    this.base = dmaAlloc(<usize>count * PKT_BUF_SIZE, 4096);
    this.stack = dmaAlloc(<usize>count * 4);
    this.state = dmaAlloc(<usize>count);
    assert(this.base != 0 && this.stack != 0 && this.state != 0, "packet pool: out of memory at init");
    // Lowest addresses on top, so a lightly used pool touches few pages.
    for (let i: u32 = 0; i < count; i++) store<u32>(this.stack + (<usize>i << 2), count - 1 - i);
    this.top = count;
  }

  /** A free buffer's address (its first byte), or 0 when the pool is empty (counted). */
  alloc(): usize {
    if (this.top == 0 && !this.ready()) return 0;
    const top = this.top;
    const i = load<u32>(this.stack + (<usize>(top - 1) << 2));
    this.top = top - 1;
    store<u8>(this.state + i, USED);
    this.allocs++;
    const n = ++this.inUse;
    if (n > this.highWater) this.highWater = n;
    return this.base + (<usize>i) * PKT_BUF_SIZE;
  }

  /**
   * Whether `alloc` would return a buffer now, asking the reclaimer first if
   * the pool is empty; allocates nothing. When it says no, the waiters hear
   * `buffersBack` as soon as one returns: a sender that holds its output
   * back instead of losing it learns when to try again.
   */
  ready(): bool {
    if (this.top > 0) return true;
    const r = this.reclaimer;
    if (r != null) r.reclaim();
    if (this.top > 0) {
      this.reclaims++;
      return true;
    }
    this.allocFailures++;
    this.starved = true;
    return false;
  }

  /** Adds `w` to those told when buffers return to an empty pool (see PoolWaiter). */
  addWaiter(w: PoolWaiter): void {
    this.waiters.push(w);
  }

  /** Returns a buffer from `alloc`. Anything else is counted in `badFrees` and ignored. */
  free(buf: usize): void {
    const i = this.indexOf(buf);
    if (i < 0 || load<u8>(this.state + <usize>i) != USED) {
      this.badFrees++;
      return;
    }
    store<u8>(this.state + <usize>i, FREE);
    store<u32>(this.stack + (<usize>this.top << 2), <u32>i);
    this.top++;
    this.inUse--;
    if (this.starved) {
      this.starved = false;
      const w = this.waiters;
      for (let k = 0, n = w.length; k < n; k++) unchecked(w[k]).buffersBack();
    }
  }

  /** Buffers available now. */
  @inline get available(): u32 {
    return this.top;
  }

  /** Index of the buffer starting at `buf`, or -1 if `buf` is not a buffer start. */
  indexOf(buf: usize): i32 {
    if (buf < this.base) return -1;
    const off = buf - this.base;
    if (off % PKT_BUF_SIZE != 0) return -1;
    const i = off / PKT_BUF_SIZE;
    return i < <usize>this.capacity ? <i32>i : -1;
  }

  /** Whether `buf` is a buffer of this pool currently allocated. */
  owns(buf: usize): bool {
    const i = this.indexOf(buf);
    return i >= 0 && load<u8>(this.state + <usize>i) == USED;
  }

  /** The device-visible address of byte `off` of buffer `buf`. */
  @inline dma(buf: usize, off: u32 = 0): u64 {
    return dmaAddr(buf + off);
  }
}

let shared: PacketPool | null = null;

/**
 * The kernel's packet pool, created on first use with `count` buffers
 * (later calls ignore `count`). Drivers and the stack share it, so a received
 * buffer can be queued for transmit without a copy.
 */
export function packetPool(count: u32 = 512): PacketPool {
  let p = shared;
  if (!p) {
    p = new PacketPool(count);
    shared = p;
  }
  return p;
}
