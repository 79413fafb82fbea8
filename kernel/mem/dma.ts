// Long-lived, device-visible memory: virtqueue rings, packet-buffer pools.
//
// Why not the GC heap: a GC object may be moved or freed behind a device's
// back, and its header sits right before the data. These regions come from
// the runtime's manual allocator (`heap.alloc`, TLSF) once, at init, and are
// never freed, so their linear-memory offsets (and so their DMA addresses,
// dma_base() + offset) stay valid for the kernel's whole life. Linear memory
// itself never moves (the platforms reserve its maximum up front).

import { dma_base } from "../hal";

/** Bytes handed out by `dmaAlloc` so far (for reports). */
export let dmaBytes: usize = 0;

/**
 * Returns `size` zeroed bytes aligned to `align` (a power of two), or 0 when
 * the allocator has no room (the caller fails its init cleanly).
 */
export function dmaAlloc(size: usize, align: usize = 16): usize {
  if (align < 16) align = 16;
  if ((align & (align - 1)) != 0 || size == 0) return 0;
  // heap.alloc aborts rather than returning 0 when memory cannot grow;
  // the check below keeps a bad request from getting that far.
  if (size > (<usize>1 << 30)) return 0;
  const raw = heap.alloc(size + align);
  if (raw == 0) return 0;
  const p = (raw + align - 1) & ~(align - 1);
  memory.fill(p, 0, size);
  dmaBytes += size + align;
  return p;
}

/** The address a device uses for the linear-memory offset `p`. */
// @ts-ignore: decorator
@inline export function dmaAddr(p: usize): u64 {
  return dma_base() + <u64>p;
}
