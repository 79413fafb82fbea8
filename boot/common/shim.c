/*
 * The architecture-neutral parts of the boot shims: MMIO accessors, the
 * frame-pointer backtrace (x86_64 and AArch64 frame records have the same
 * layout: [fp] = the caller's fp, [fp + 8] = the return address), symbols
 * in reports, and the entropy mixer.
 */
#include "shim.h"

SHIM_CODE_BEGIN

uint64_t plat_mmio_read(uint64_t phys, unsigned width) {
  switch (width) {
    case 1: return *(volatile uint8_t *)(uintptr_t)phys;
    case 2: return *(volatile uint16_t *)(uintptr_t)phys;
    case 4: return *(volatile uint32_t *)(uintptr_t)phys;
    case 8: return *(volatile uint64_t *)(uintptr_t)phys;
  }
  return ~0ull;
}

void plat_mmio_write(uint64_t phys, unsigned width, uint64_t v) {
  switch (width) {
    case 1: *(volatile uint8_t *)(uintptr_t)phys = (uint8_t)v; break;
    case 2: *(volatile uint16_t *)(uintptr_t)phys = (uint16_t)v; break;
    case 4: *(volatile uint32_t *)(uintptr_t)phys = (uint32_t)v; break;
    case 8: *(volatile uint64_t *)(uintptr_t)phys = v; break;
  }
}

void shim_put_symbol(uint64_t addr, uint64_t lookup) {
  uintptr_t off = 0;
  const char *name = runtime_symbolize((uintptr_t)lookup, &off);
  if (name) {
    rt_puts(" ");
    rt_puts(name);
    rt_puts("+");
    rt_put_hex(off + (addr - lookup));
    rt_put_source(name);
  }
}

static void say_repeats(uint64_t reps) {
  rt_puts("  ... repeated ");
  rt_put_dec(reps);
  rt_puts(" more times\n");
}

/* At most 32 lines; a run of identical return addresses (recursion) is
 * printed once with its count, so the walk can go on to the outer frames.
 * Only 8-aligned, readable frames that move towards the stack top. */
void plat_backtrace(uintptr_t fp) {
  uint64_t prev = 0, reps = 0;
  for (int lines = 0, frames = 0; lines < 32 && frames < 100000 && fp; frames++) {
    if ((fp & 7) || !trap_addr_readable(fp, 16)) break;
    const uint64_t *f = (const uint64_t *)fp;
    uint64_t ret = f[1];
    if (!ret) break;
    if (ret == prev) {
      reps++;
    } else {
      if (reps) {
        say_repeats(reps);
        lines++;
      }
      reps = 0;
      rt_puts("  ");
      rt_put_hex(ret);
      shim_put_symbol(ret, ret - 1); /* a return address may be just past its function */
      rt_puts("\n");
      lines++;
      prev = ret;
    }
    if (f[0] <= fp) break;
    fp = f[0];
  }
  if (reps) say_repeats(reps);
}

uint64_t shim_mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

struct plat_region shim_choose_linear(const struct memrange *m, unsigned n, uint64_t reserved_end) {
  const uint64_t A = 64 * 1024;
  struct plat_region best = {0, 0};
  for (unsigned i = 0; i < n; i++) {
    if (m[i].type != 1) continue;
    uint64_t s = m[i].base, e = s + m[i].len;
    if (s < reserved_end) s = reserved_end;
    s = (s + A - 1) & ~(A - 1);
    e &= ~(A - 1);
    if (e > s && e - s > best.size) best = (struct plat_region){s, e - s};
  }
  return best;
}

_Noreturn void shim_run(const struct memrange *m, unsigned n, struct plat_region linear) {
#ifdef UNIWASM_BOOT_DEBUG
  for (unsigned i = 0; i < n; i++) {
    rt_puts("[mem ");
    rt_put_hex(m[i].base);
    rt_puts(" +");
    rt_put_hex(m[i].len);
    rt_puts(" type ");
    rt_put_dec(m[i].type);
    rt_puts("]\n");
  }
  rt_puts("[linear ");
  rt_put_hex(linear.base);
  rt_puts(" +");
  rt_put_hex(linear.size);
  rt_puts("]\n");
#else
  (void)m;
  (void)n;
#endif
  if (!linear.size) {
    rt_puts("uniwasm: no usable RAM for linear memory\n");
    plat_exit(RT_EXIT_RUNTIME);
  }
  runtime_main();
}

uint32_t shim_entropy(uint8_t *buf, uint32_t len, bool (*hw)(uint64_t *out), uint64_t (*sample)(void)) {
  static uint64_t jitter_state;
  uint32_t got = 0;
  for (uint32_t off = 0; off < len; off += 8) {
    uint64_t v;
    uint32_t n = len - off < 8 ? len - off : 8;
    if (hw && hw(&v)) {
      got += n;
    } else {
      uint64_t acc = jitter_state;
      for (int i = 0; i < 16; i++) acc = shim_mix64(acc ^ sample());
      jitter_state = acc;
      v = acc;
    }
    __builtin_memcpy(buf + off, &v, n);
  }
  return got;
}

void shim_say_exit_code(int code) {
  rt_puts("exit code ");
  if (code < 0) {
    rt_puts("-");
    rt_put_dec((uint64_t)-(int64_t)code);
  } else {
    rt_put_dec((uint64_t)code);
  }
  rt_puts("\n");
}

SHIM_CODE_END
