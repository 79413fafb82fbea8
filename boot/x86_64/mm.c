/*
 * Page tables. Identity mapping (virtual = physical), plus linear memory's
 * own window (below).
 *
 *  - [0, end of the image): 4 KiB pages. Page 0 unmapped (null pointers
 *    fault); low memory RW NX (VGA window uncached); .text RX, .rodata R NX,
 *    .data/.uwsyms/.bss/stacks RW NX; the page below the boot stack unmapped
 *    (guard).
 *  - Usable RAM above the image: RW NX, 2 MiB pages where aligned, else 4 KiB.
 *  - Devices: plat_mmio_map, uncached (PCD|PWT) NX, 2 MiB pages for aligned
 *    2 MiB chunks, else 4 KiB.
 * Table pages come from a static pool (POOL_PAGES, 256 KiB of .noinit: RAM
 * up to ~50 GiB plus devices); each is zeroed when taken.
 */
#include "x86.h"
#include "../common/pt.h"

SHIM_CODE_BEGIN

#define PTE_P 0x1ull
#define PTE_W 0x2ull
#define PTE_PWT 0x8ull
#define PTE_PCD 0x10ull
#define PTE_PS 0x80ull
#define PTE_ADDR 0x000ffffffffff000ull
#define SZ_4K 0x1000ull
#define POOL_PAGES 64

static uint64_t pool[POOL_PAGES][512] __attribute__((aligned(4096), section(".bss.noinit.ptpool")));
static uint64_t nx, phys_limit;

/* Table entries: P|W (a larger page: PS); leaves carry P in their flags. */
static const struct pt_format x86_pt = {PTE_P, PTE_P | PTE_PS, PTE_P, PTE_P | PTE_W, PTE_PS, 0, PTE_ADDR, 0, "POOL_PAGES in boot/x86_64/mm.c"};
static struct pt pt = {&x86_pt, 0, pool, POOL_PAGES, 0};

/* Identity mapping: virtual = physical. */
static int map_range(uint64_t a, uint64_t e, uint64_t f) { return pt_map(&pt, a, e, a, f); }

void mm_init(void) {
  nx = boot_has_nx ? 1ull << 63 : 0;
  pt.root = pt_alloc(&pt);
  const uint64_t rw = PTE_P | PTE_W | nx;
  uint64_t guard = (uint64_t)(uintptr_t)__stack_guard, img_end = (uint64_t)(uintptr_t)__image_end;
  int r = map_range(SZ_4K, 0xa0000, rw) | /* page 0 stays unmapped: null pointers fault */
          map_range(0xa0000, 0xc0000, rw | PTE_PCD | PTE_PWT) | /* VGA window */
          map_range(0xc0000, (uint64_t)(uintptr_t)__text_start, rw) |
          map_range((uint64_t)(uintptr_t)__text_start, (uint64_t)(uintptr_t)__text_end, PTE_P) |
          map_range((uint64_t)(uintptr_t)__text_end, (uint64_t)(uintptr_t)__rodata_end, PTE_P | nx) |
          map_range((uint64_t)(uintptr_t)__rodata_end, guard, rw) | /* the guard page stays unmapped */
          map_range(guard + SZ_4K, img_end, rw);
  for (unsigned i = 0; i < boot_mem_count; i++) {
    uint64_t b = boot_mem[i].base, e = b + boot_mem[i].len;
    if (boot_mem[i].type == 1 && e > img_end) r |= map_range(b < img_end ? img_end : (b + SZ_4K - 1) & ~(SZ_4K - 1), e & ~(SZ_4K - 1), rw);
  }
  if (r) plat_exit(RT_EXIT_RUNTIME);
  write_cr3((uint64_t)(uintptr_t)pt.root);
}

/* ---- linear memory's window ----
 * At 512 GiB (PML4 slot 1, where nothing else lives): boot/common/pt.h. */
static struct linear_window window = {0x8000000000ull, 0, 0};

uint8_t *plat_linear_map(uint64_t bytes) {
  struct plat_region r = plat_linear_region();
  return pt_linear_map(&pt, &window, r.base, r.size, bytes, PTE_P | PTE_W | nx);
}

bool mm_in_linear_window(uint64_t addr) { return pt_in_linear_window(&window, addr); }

int plat_mmio_map(uint64_t phys, uint64_t len) {
  if (!phys_limit) {
    uint32_t r[4];
    cpuid(0x80000000, 0, r);
    phys_limit = 1ull << 36;
    if (r[0] >= 0x80000008) {
      cpuid(0x80000008, 0, r);
      phys_limit = 1ull << (r[0] & 0xff);
    }
  }
  uint64_t e = phys + len;
  if (e < phys || e > phys_limit) {
    kputs("plat_mmio_map: range ");
    kput_hex(phys);
    kputs("+");
    kput_hex(len);
    kputs(" is outside the physical address space\n");
    return -1;
  }
  return map_range(phys, e, PTE_P | PTE_W | PTE_PCD | PTE_PWT | nx);
}

SHIM_CODE_END
