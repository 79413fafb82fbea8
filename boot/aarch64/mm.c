/*
 * Stage-1 translation for EL1: 4 KiB granule, 48-bit virtual addresses (four
 * levels, TTBR0 only), virtual = physical, plus linear memory's own window.
 *
 *  - The image: 4 KiB pages. .text read-only executable; .rodata read-only,
 *    never executable; .data/.uwsyms/.bss/stacks read-write, never
 *    executable; the page below the boot stack unmapped (guard).
 *  - The rest of RAM (from the device tree): Normal write-back memory,
 *    read-write, never executable; 2 MiB blocks where aligned, else 4 KiB.
 *  - Devices: plat_mmio_map, Device-nGnRE, never executable; 2 MiB blocks
 *    for aligned 2 MiB chunks, else 4 KiB.
 * SCTLR_EL1.WXN also makes every writable page non-executable (W^X). Table
 * pages come from a static pool (POOL_PAGES, 256 KiB of .noinit); each is
 * zeroed when taken.
 */
#include "arm64.h"
#include "../common/pt.h"

SHIM_CODE_BEGIN

#define D_VALID 0x1ull
#define D_TABLE 0x2ull /* level 0-2: next-level table; level 3: page */
#define D_ATTR_DEVICE (0ull << 2) /* MAIR index 0: Device-nGnRE */
#define D_ATTR_NORMAL (1ull << 2) /* MAIR index 1: Normal, inner/outer write-back */
#define D_RO (1ull << 7)          /* AP[2]: read-only */
#define D_ISH (3ull << 8)
#define D_AF (1ull << 10)
#define D_XN (3ull << 53)         /* PXN | UXN */
#define D_ADDR 0x0000fffffffff000ull
#define SZ_4K 0x1000ull
#define POOL_PAGES 64

#define NORMAL_RW (D_ATTR_NORMAL | D_ISH | D_AF | D_XN)
#define DEVICE_RW (D_ATTR_DEVICE | D_AF | D_XN)

static uint64_t pool[POOL_PAGES][512] __attribute__((aligned(4096), section(".bss.noinit.ptpool")));
static uint64_t phys_limit;

/* The table walker must see a new table's zeroes before the entry that
 * points to it, and new entries before they are used. */
static void pt_sync(void) { __asm__ volatile("dsb ishst; isb" ::: "memory"); }

/* Levels 0-2: VALID|TABLE is a table, VALID alone a block; level 3: VALID|TABLE is a page. */
static const struct pt_format arm_pt = {D_VALID, D_VALID | D_TABLE, D_VALID | D_TABLE, D_VALID | D_TABLE, D_VALID, D_VALID | D_TABLE, D_ADDR, pt_sync, "POOL_PAGES in boot/aarch64/mm.c"};
static struct pt pt = {&arm_pt, 0, pool, POOL_PAGES, 0};

/* Identity mapping: virtual = physical. */
static int map_range(uint64_t a, uint64_t e, uint64_t f) { return pt_map(&pt, a, e, a, f); }

void mm_init(void) {
  static const uint64_t pa_bits[] = {32, 36, 40, 42, 44, 48, 52};
  uint64_t parange = read_sysreg(id_aa64mmfr0_el1) & 0xf;
  if (parange > 5) parange = 5; /* 48 bits: what 4 KiB pages and four levels reach */
  phys_limit = 1ull << pa_bits[parange];
  pt.root = pt_alloc(&pt);
  uint64_t guard = (uint64_t)(uintptr_t)__stack_guard, img_end = (uint64_t)(uintptr_t)__image_end;
  uint64_t text = (uint64_t)(uintptr_t)__text_start, text_end = (uint64_t)(uintptr_t)__text_end;
  int r = map_range(text, text_end, D_ATTR_NORMAL | D_ISH | D_AF | D_RO) |
          map_range(text_end, (uint64_t)(uintptr_t)__rodata_end, NORMAL_RW | D_RO) |
          map_range((uint64_t)(uintptr_t)__rodata_end, guard, NORMAL_RW) | /* the guard page stays unmapped */
          map_range(guard + SZ_4K, img_end, NORMAL_RW);
  for (unsigned i = 0; i < boot_mem_count; i++) {
    uint64_t b = (boot_mem[i].base + SZ_4K - 1) & ~(SZ_4K - 1), e = (boot_mem[i].base + boot_mem[i].len) & ~(SZ_4K - 1);
    if (b < img_end && e > text) { /* around the image */
      if (b < text) r |= map_range(b, text, NORMAL_RW);
      b = img_end;
    }
    if (e > b) r |= map_range(b, e, NORMAL_RW);
  }
  if (r) plat_exit(RT_EXIT_RUNTIME);
  write_sysreg(mair_el1, 0x04ull | 0xffull << 8);
  write_sysreg(tcr_el1, 16ull /* T0SZ: 48 bits */ | 1ull << 8 | 1ull << 10 | 3ull << 12 /* WB, inner shareable walks */ |
                            1ull << 23 /* EPD1: no TTBR1 */ | parange << 32 /* IPS */);
  write_sysreg(ttbr0_el1, (uint64_t)(uintptr_t)pt.root);
  __asm__ volatile("dsb ish; tlbi vmalle1; dsb ish; isb" ::: "memory");
  /* M (MMU), C (data cache), SA (SP alignment), I (instruction cache), WXN */
  write_sysreg(sctlr_el1, read_sysreg(sctlr_el1) | 1u | 1u << 2 | 1u << 3 | 1u << 12 | 1u << 19);
  isb();
}

/* ---- linear memory's window ----
 * At 128 TiB (level-0 slot 256, far from RAM and from virt's PCIe windows at
 * 256 and 512 GiB): boot/common/pt.h. */
static struct linear_window window = {0x800000000000ull, 0, 0};

uint8_t *plat_linear_map(uint64_t bytes) {
  struct plat_region r = plat_linear_region();
  return pt_linear_map(&pt, &window, r.base, r.size, bytes, NORMAL_RW);
}

bool mm_in_linear_window(uint64_t addr) { return pt_in_linear_window(&window, addr); }

int plat_mmio_map(uint64_t phys, uint64_t len) {
  uint64_t e = phys + len;
  if (e < phys || e > phys_limit) {
    kputs("plat_mmio_map: range ");
    kput_hex(phys);
    kputs("+");
    kput_hex(len);
    kputs(" is outside the physical address space\n");
    return -1;
  }
  return map_range(phys, e, DEVICE_RW);
}

SHIM_CODE_END
