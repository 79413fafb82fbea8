// Where the kernel's memory goes, for leak tests, `INFO memory`-style reports
// and the counters snapshot: a walk over the blocks of AssemblyScript's
// allocator (TLSF), which serves GC objects and heap.alloc alike. The walk
// costs one load per block, so it is for reports, never for a hot path.
//
// It relies on the allocator's layout in AssemblyScript 0.28 (the version
// package.json pins): the root structure at ROOT, HL_END bytes up to its tail
// pointer, blocks from just past it to the tail, each a usize header (size |
// FREE | LEFTFREE) and its payload. The walk checks that it ends exactly at
// the tail; if the layout ever differs, `valid` is false rather than the
// figures being wrong.
import { ROOT } from "rt/tlsf";
import { mem_limit } from "../hal";

const BLOCK_OVERHEAD: usize = sizeof<usize>();
const AL_MASK: usize = 15;
const FREE: usize = 1;
const TAGS: usize = 3;
// AssemblyScript 0.28 on wasm32: FL_BITS 23, SL_SIZE 16, heads after the
// first-level map and 23 second-level maps.
const SL_START: usize = sizeof<usize>();
const SL_BITS: u32 = 4;
const SB_BITS: u32 = SL_BITS + 4;
const SB_SIZE: usize = 1 << SB_BITS;
const BLOCK_MINSIZE: usize = 12; // ((3 * 4 + 4 + 15) & ~15) - 4
const HL_END: usize = 96 + 23 * 16 * sizeof<usize>();
const ROOT_SIZE: usize = HL_END + sizeof<usize>();

export class HeapUsage {
  /** Bytes in blocks handed out (GC objects and manual allocations), headers included. */
  usedBytes: u64 = 0;
  usedBlocks: u32 = 0;
  /** Bytes in free blocks, headers included. */
  freeBytes: u64 = 0;
  freeBlocks: u32 = 0;
  largestFree: u64 = 0;
  /** Linear memory's size now (pages x 64 KiB), and the most it may grow to. */
  linearBytes: u64 = 0;
  /** False when the allocator's layout was not the one this file knows. */
  valid: bool = false;
}

/** Walks the allocator's blocks into `out` (reused: no allocation here). */
export function heapUsage(out: HeapUsage): HeapUsage {
  out.usedBytes = 0;
  out.usedBlocks = 0;
  out.freeBytes = 0;
  out.freeBlocks = 0;
  out.largestFree = 0;
  out.linearBytes = <u64>memory.size() << 16;
  out.valid = false;
  const root = changetype<usize>(ROOT);
  if (root == 0) return out; // nothing allocated yet
  const end = <usize>out.linearBytes;
  const tail = load<usize>(root + HL_END);
  let b = ((root + ROOT_SIZE + BLOCK_OVERHEAD + AL_MASK) & ~AL_MASK) - BLOCK_OVERHEAD;
  while (b < end && b != tail) {
    const info = load<usize>(b);
    const size = info & ~TAGS;
    if (size == 0) return out; // a zero-size block before the tail: not the layout assumed
    if (info & FREE) {
      out.freeBytes += size + BLOCK_OVERHEAD;
      out.freeBlocks++;
      if (<u64>size > out.largestFree) out.largestFree = size;
    } else {
      out.usedBytes += size + BLOCK_OVERHEAD;
      out.usedBlocks++;
    }
    b += BLOCK_OVERHEAD + size;
  }
  out.valid = b == tail && (load<usize>(tail) & ~TAGS) == 0;
  return out;
}

/**
 * Whether `heap.alloc(size)` would succeed now without growing linear memory
 * past its limit: a free block of the size exists (the allocator's own
 * search, on its bitmaps), or memory can still grow by enough. The manual
 * allocator aborts rather than return 0 when memory cannot grow, so a caller
 * that can do without (a TCP ring that may stay small) asks first. Cheap: a
 * few loads. Conservative when the layout is not the one this file knows
 * (nothing allocated yet): it answers by the room to grow alone.
 */
export function heapCanAlloc(size: usize): bool {
  if (size > (<usize>1 << 30) - 64) return false;
  // the block size the allocator would search for (tlsf.ts computeSize, roundSize)
  let s: usize = size <= BLOCK_MINSIZE ? BLOCK_MINSIZE : ((size + BLOCK_OVERHEAD + AL_MASK) & ~AL_MASK) - BLOCK_OVERHEAD;
  const limit = mem_limit();
  const have = <u64>memory.size() << 16;
  // growing adds the block, a header and the tail's, rounded to pages
  if (have + ((<u64>s + 2 * BLOCK_OVERHEAD + 0xffff) & ~0xffff) <= limit) return true;
  const root = changetype<usize>(ROOT);
  if (root == 0) return false;
  let fl: usize, sl: u32;
  if (s < SB_SIZE) {
    fl = 0;
    sl = <u32>(s >> 4);
  } else {
    if (s < ((<usize>1 << 30) >> 1)) s = s + (<usize>1 << (31 - SL_BITS - <usize>clz<usize>(s))) - 1;
    fl = 31 - <usize>clz<usize>(s);
    sl = <u32>((s >> (fl - SL_BITS)) ^ (1 << SL_BITS));
    fl -= SB_BITS - 1;
  }
  if (fl >= 23) return false;
  if ((load<u32>(root + (fl << 2), SL_START) & (<u32>0xffffffff << sl)) != 0) return true;
  return (load<usize>(root) & (~(<usize>0) << (fl + 1))) != 0;
}
