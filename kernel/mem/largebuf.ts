// A few large transmit buffers, for frames longer than a packet buffer holds:
// the 64 KiB TCP segments a NIC with segmentation offload (TSO) cuts into
// MTU-sized ones itself. Same layout as a packet buffer (the frame at
// PKT_HEADROOM, a device header just before it), so a driver treats both
// alike; carved out once (dmaAlloc), so DMA addresses stay valid.
//
// Why a separate pool, and a small one: a 64 KiB buffer per packet-pool
// slot would multiply the pool's memory by 32; a device needs only enough
// large buffers to keep its transmit path busy while earlier ones are read.
// When every one is in flight, `alloc` says 0 and the caller sends ordinary
// frames (or waits): the pool's size bounds the memory, never correctness.

import { dmaAlloc, dmaAddr } from "./dma";
import { PKT_HEADROOM } from "./pktbuf";

/** Bytes of one large buffer: headroom, an Ethernet header and the largest IPv4 packet, rounded up. */
export const LARGE_BUF_SIZE: u32 = 65536 + 128;
/** Largest frame a large buffer holds (Ethernet header included). */
export const LARGE_MAX_FRAME: u32 = LARGE_BUF_SIZE - PKT_HEADROOM;
/** Most buffers a pool has (its free set is one 32-bit mask). */
export const LARGE_POOL_MAX: u32 = 32;

export class LargeBufferPool {
  readonly base: usize;
  readonly capacity: u32;
  /** `alloc` calls that found every buffer in use. */
  allocFailures: u64 = 0;
  /** `free` calls with an address that is not a buffer in use: ignored. */
  badFrees: u64 = 0;
  /** Bit i set: buffer i is free. Outside the buffers, so a device writing into one cannot corrupt it. */
  private freeMask: u32;

  /** Carves out `count` (1..32) buffers; aborts at init if memory cannot hold them. */
  constructor(count: u32) {
    assert(count > 0 && count <= LARGE_POOL_MAX, "large buffer pool: 1..32 buffers");
    this.capacity = count;
    this.base = dmaAlloc(<usize>count * LARGE_BUF_SIZE, 4096);
    assert(this.base != 0, "large buffer pool: out of memory at init");
    this.freeMask = count == 32 ? 0xffffffff : (<u32>1 << count) - 1;
  }

  /** A free buffer's address, or 0 when all are in use (counted). */
  alloc(): usize {
    const m = this.freeMask;
    if (m == 0) {
      this.allocFailures++;
      return 0;
    }
    const i = ctz(m);
    this.freeMask = m & (m - 1);
    return this.base + <usize>i * LARGE_BUF_SIZE;
  }

  /** Gives back a buffer from `alloc`; anything else is counted in `badFrees` and ignored. */
  free(buf: usize): void {
    const i = this.indexOf(buf);
    if (i < 0 || (this.freeMask & (<u32>1 << <u32>i)) != 0) {
      this.badFrees++;
      return;
    }
    this.freeMask |= <u32>1 << <u32>i;
  }

  /** Whether `buf` is the start of one of this pool's buffers (in use or not). */
  contains(buf: usize): bool {
    return this.indexOf(buf) >= 0;
  }

  /** Buffers free now. */
  get available(): u32 {
    return <u32>popcnt(this.freeMask);
  }

  /** The device-visible address of byte `off` of buffer `buf`. */
  @inline dma(buf: usize, off: u32 = 0): u64 {
    return dmaAddr(buf + off);
  }

  private indexOf(buf: usize): i32 {
    if (buf < this.base) return -1;
    const off = buf - this.base;
    if (off % LARGE_BUF_SIZE != 0) return -1;
    const i = off / LARGE_BUF_SIZE;
    return i < <usize>this.capacity ? <i32>i : -1;
  }
}
