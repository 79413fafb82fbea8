/* The page-table walk and range mapping both shims use (pt.h). */
#include "pt.h"
#include "shim.h"

SHIM_CODE_BEGIN

#define SZ_4K 0x1000ull
#define SZ_2M 0x200000ull

uint64_t *pt_alloc(struct pt *t) {
  if (t->used == t->pool_pages) return 0;
  uint64_t *p = t->pool[t->used++];
  for (int i = 0; i < 512; i++) p[i] = 0;
  return p;
}

static int is_table(const struct pt_format *f, uint64_t e) { return (e & f->table_mask) == f->table_val; }

/* Finds the entry for `a` at `level` (1: 4 KiB page, 2: 2 MiB block; 4 is
 * the top), creating tables on the way. 1: a larger leaf already maps a;
 * -1: pool exhausted. */
static int walk(struct pt *t, uint64_t a, int level, uint64_t **out) {
  const struct pt_format *f = t->fmt;
  uint64_t *tab = t->root;
  for (int l = 4; l > level; l--) {
    uint64_t *e = &tab[(a >> (12 + 9 * (l - 1))) & 511];
    if (!(*e & f->valid)) {
      uint64_t *n = pt_alloc(t);
      if (!n) return -1;
      if (f->sync) f->sync(); /* the zeroed table before the entry that points to it */
      *e = (uint64_t)(uintptr_t)n | f->table_bits;
    } else if (!is_table(f, *e)) {
      return 1;
    }
    tab = (uint64_t *)(uintptr_t)(*e & f->addr_mask);
  }
  *out = &tab[(a >> (12 + 9 * (level - 1))) & 511];
  return 0;
}

int pt_map(struct pt *t, uint64_t a, uint64_t e, uint64_t pa, uint64_t flags) {
  const struct pt_format *f = t->fmt;
  pa -= a & (SZ_4K - 1);
  for (a &= ~(SZ_4K - 1); a < e;) {
    uint64_t *d;
    int level = !(a & (SZ_2M - 1)) && !(pa & (SZ_2M - 1)) && e - a >= SZ_2M ? 2 : 1;
    int r = walk(t, a, level, &d);
    if (r == 0 && level == 2 && (*d & f->valid) && is_table(f, *d)) r = walk(t, a, level = 1, &d);
    if (r < 0) {
      rt_puts("uniwasm: out of page-table pages (");
      rt_puts(f->pool_name);
      rt_puts(")\n");
      return -1;
    }
    if (r == 0 && !(*d & f->valid)) *d = pa | flags | (level == 2 ? f->block_bits : f->page_bits);
    uint64_t step = r == 1 ? ((a | (SZ_2M - 1)) + 1) - a : (level == 2 ? SZ_2M : SZ_4K);
    a += step;
    pa += step;
  }
  if (f->sync) f->sync();
  return 0;
}

uint8_t *pt_linear_map(struct pt *t, struct linear_window *w, uint64_t region_base, uint64_t size, uint64_t bytes, uint64_t f) {
  if (!w->base) w->base = w->at + (region_base & (SZ_2M - 1));
  if (bytes > size) return 0;
  if (bytes > w->mapped) {
    if (pt_map(t, w->base + w->mapped, w->base + bytes, region_base + w->mapped, f)) return 0;
    w->mapped = bytes;
  }
  return (uint8_t *)(uintptr_t)w->base;
}

int pt_in_linear_window(const struct linear_window *w, uint64_t addr) {
  return w->base && addr >= w->base && addr - w->base < LINEAR_WINDOW_SPAN;
}

SHIM_CODE_END
