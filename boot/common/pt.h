/*
 * Page tables of the shape both architectures use: four levels of 512
 * 8-byte entries, 4 KiB pages and 2 MiB blocks (x86_64's 4-level paging,
 * AArch64's 48-bit stage 1 with a 4 KiB granule). The descriptor bits differ
 * and come from the architecture's struct pt_format; the walk and the range
 * mapping are here once (boot/common/pt.c).
 */
#ifndef UNIWASM_PT_H
#define UNIWASM_PT_H

#include <stdint.h>

struct pt_format {
  uint64_t valid;                 /* the present/valid bit */
  uint64_t table_mask, table_val; /* (e & table_mask) == table_val: e points to a next-level table */
  uint64_t table_bits;            /* a table entry: its address | table_bits */
  uint64_t block_bits;            /* what a 2 MiB leaf adds to its flags */
  uint64_t page_bits;             /* what a 4 KiB leaf adds to its flags */
  uint64_t addr_mask;             /* the address bits of an entry */
  void (*sync)(void);             /* makes new entries visible to the walker (AArch64: DSB; ISB), or 0 */
  const char *pool_name;          /* named in the out-of-tables message */
};

struct pt {
  const struct pt_format *fmt;
  uint64_t *root;
  uint64_t (*pool)[512]; /* 4 KiB-aligned table pages */
  unsigned pool_pages, used;
};

/* A zeroed table page from the pool, or 0 when it is used up. */
uint64_t *pt_alloc(struct pt *t);

/* Maps virtual [a, e) to physical pa.. with leaf flags f: 2 MiB blocks where
 * a 2 MiB slot is aligned (a and pa congruent modulo 2 MiB), wholly inside
 * and still empty, else 4 KiB pages. Entries already mapped keep their
 * mapping (so no TLB entry goes stale). -1 (after a message) when the pool
 * runs out. */
int pt_map(struct pt *t, uint64_t a, uint64_t e, uint64_t pa, uint64_t f);

/* Linear memory's own virtual window (plat_linear_map): `at` (a 1 GiB
 * aligned address where nothing else is mapped) plus the region's offset
 * within 2 MiB, so 2 MiB blocks line up. Only [0, what is mapped) is; the
 * rest of LINEAR_WINDOW_SPAN, the 8 GiB a wasm address (u32 base + u32
 * offset) can reach, stays unmapped, so an access beyond the memory faults:
 * with wasm2c's guard-page mode that fault *is* the bounds check. */
#define LINEAR_WINDOW_SPAN ((8ull << 30) + 0x200000ull)

struct linear_window {
  uint64_t at;          /* where the architecture puts it */
  uint64_t base, mapped; /* the window's start (0 until first mapped) and its mapped bytes */
};

/* Maps the first `bytes` of physical [region_base, region_base + size) at
 * the window, growing only (no TLB entry goes stale), with leaf flags `f`;
 * the window's base, or 0 when bytes exceed the region or tables run out. */
uint8_t *pt_linear_map(struct pt *t, struct linear_window *w, uint64_t region_base, uint64_t size, uint64_t bytes, uint64_t f);

/* Whether `addr` lies in the window's span (a fault there is a wasm bounds check). */
int pt_in_linear_window(const struct linear_window *w, uint64_t addr);

#endif
