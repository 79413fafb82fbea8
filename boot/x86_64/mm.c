/*
 * Page tables. Identity mapping (virtual = physical) throughout.
 *
 *  - [0, 2 MiB-aligned end of the image): 4 KiB pages. Page 0 unmapped (null
 *    pointers fault); low memory RW NX (VGA window uncached); .text RX,
 *    .rodata R NX, .data/.uwsyms/.bss/stacks RW NX; the page below the boot
 *    stack unmapped (guard); usable RAM after the image RW NX.
 *  - The rest of usable RAM: 2 MiB pages where aligned, else 4 KiB; RW NX.
 *  - Devices: plat_mmio_map, uncached (PCD|PWT) NX, 2 MiB pages for aligned
 *    2 MiB chunks, else 4 KiB.
 * Table pages come from a static pool (POOL_PAGES, 256 KiB of .noinit: RAM
 * up to ~50 GiB plus devices); each is zeroed when taken.
 */
#include "x86.h"

SHIM_CODE_BEGIN

#define PTE_P 0x1ull
#define PTE_W 0x2ull
#define PTE_PWT 0x8ull
#define PTE_PCD 0x10ull
#define PTE_PS 0x80ull
#define PTE_ADDR 0x000ffffffffff000ull
#define SZ_4K 0x1000ull
#define SZ_2M 0x200000ull
#define POOL_PAGES 64

static uint64_t pool[POOL_PAGES][512] __attribute__((aligned(4096), section(".bss.noinit.ptpool")));
static unsigned pool_used;
static uint64_t *pml4;
static uint64_t nx, phys_limit;

static uint64_t *alloc_table(void) {
  if (pool_used == POOL_PAGES) return 0;
  uint64_t *t = pool[pool_used++];
  for (int i = 0; i < 512; i++) t[i] = 0;
  return t;
}

/* Finds the entry for `a` at `level` (1: 4 KiB PTE, 2: 2 MiB PDE), creating
 * tables on the way. 1: a larger page already maps a; -1: pool exhausted. */
static int walk(uint64_t a, int level, uint64_t **out) {
  uint64_t *t = pml4;
  for (int l = 4; l > level; l--) {
    uint64_t *e = &t[(a >> (12 + 9 * (l - 1))) & 511];
    if (!(*e & PTE_P)) {
      uint64_t *n = alloc_table();
      if (!n) return -1;
      *e = (uint64_t)(uintptr_t)n | PTE_P | PTE_W;
    } else if (*e & PTE_PS) {
      return 1;
    }
    t = (uint64_t *)(uintptr_t)(*e & PTE_ADDR);
  }
  *out = &t[(a >> (12 + 9 * (level - 1))) & 511];
  return 0;
}

static void out_of_tables(void) {
  kputs("uniwasm: out of page-table pages (POOL_PAGES in boot/x86_64/mm.c)\n");
}

static void map(uint64_t a, int level, uint64_t flags) {
  uint64_t *e;
  int r = walk(a, level, &e);
  if (r < 0) {
    out_of_tables();
    plat_exit(3);
  }
  if (r == 0) *e = a | flags | (level == 2 ? PTE_PS : 0);
}

bool mm_is_ram(uint64_t a) {
  for (unsigned i = 0; i < boot_mem_count; i++)
    if (boot_mem[i].type == 1 && a >= boot_mem[i].base && a - boot_mem[i].base < boot_mem[i].len) return true;
  return false;
}

void mm_init(void) {
  uint32_t r[4];
  cpuid(0x80000000, 0, r);
  phys_limit = 1ull << 36;
  if (r[0] >= 0x80000008) {
    cpuid(0x80000008, 0, r);
    phys_limit = 1ull << (r[0] & 0xff);
  }
  nx = boot_has_nx ? 1ull << 63 : 0;
  pml4 = alloc_table();

  uint64_t text = (uint64_t)(uintptr_t)__text_start, text_end = (uint64_t)(uintptr_t)__text_end;
  uint64_t ro_end = (uint64_t)(uintptr_t)__rodata_end, img_end = (uint64_t)(uintptr_t)__image_end;
  uint64_t guard = (uint64_t)(uintptr_t)__stack_guard;
  uint64_t low_end = (img_end + SZ_2M - 1) & ~(SZ_2M - 1);
  const uint64_t rw = PTE_P | PTE_W | nx;
  for (uint64_t a = SZ_4K; a < low_end; a += SZ_4K) {
    uint64_t f;
    if (a == guard)
      continue;
    else if (a >= text && a < text_end)
      f = PTE_P;
    else if (a >= text_end && a < ro_end)
      f = PTE_P | nx;
    else if (a >= ro_end && a < img_end)
      f = rw;
    else if (a < 0x100000)
      f = rw | (a >= 0xa0000 && a < 0xc0000 ? PTE_PCD | PTE_PWT : 0);
    else if (mm_is_ram(a))
      f = rw;
    else
      continue;
    map(a, 1, f);
  }
  for (unsigned i = 0; i < boot_mem_count; i++) {
    if (boot_mem[i].type != 1) continue;
    uint64_t s = (boot_mem[i].base + SZ_4K - 1) & ~(SZ_4K - 1);
    uint64_t e = (boot_mem[i].base + boot_mem[i].len) & ~(SZ_4K - 1);
    if (s < low_end) s = low_end;
    if (e > phys_limit) e = phys_limit;
    while (s < e) {
      if (!(s & (SZ_2M - 1)) && e - s >= SZ_2M) {
        map(s, 2, rw);
        s += SZ_2M;
      } else {
        map(s, 1, rw);
        s += SZ_4K;
      }
    }
  }
  write_cr3((uint64_t)(uintptr_t)pml4);
}

int plat_mmio_map(uint64_t phys, uint64_t len) {
  if (!len) return 0;
  uint64_t s = phys & ~(SZ_4K - 1), e = phys + len;
  if (e < phys || e > phys_limit) {
    kputs("plat_mmio_map: range ");
    kput_hex(phys);
    kputs("+");
    kput_hex(len);
    kputs(" is outside the physical address space\n");
    return -1;
  }
  e = (e + SZ_4K - 1) & ~(SZ_4K - 1);
  const uint64_t f = PTE_P | PTE_W | PTE_PCD | PTE_PWT | nx;
  while (s < e) {
    int level = !(s & (SZ_2M - 1)) && e - s >= SZ_2M ? 2 : 1;
    uint64_t *pte;
    int r = walk(s, level, &pte);
    if (r < 0) {
      out_of_tables();
      return -1;
    }
    /* Already mapped (RAM, or an earlier request): keep that mapping. A 2 MiB
     * slot that already holds a table is filled page by page instead. */
    if (r == 0 && !(*pte & PTE_P)) {
      *pte = s | f | (level == 2 ? PTE_PS : 0);
    } else if (r == 0 && level == 2 && !(*pte & PTE_PS)) {
      for (uint64_t a = s; a < s + SZ_2M; a += SZ_4K) {
        if (walk(a, 1, &pte) < 0) {
          out_of_tables();
          return -1;
        }
        if (!(*pte & PTE_P)) *pte = a | f;
      }
      s += SZ_2M;
      continue;
    }
    s += level == 2 ? SZ_2M : SZ_4K;
  }
  return 0;
}

SHIM_CODE_END
