/*
 * The clock (TSC), the interrupt controllers (8259 PICs masked, LAPIC,
 * IOAPICs from the ACPI MADT) and plat_wait.
 *
 * Vectors: 0x00-0x1f exceptions; 0x20-0x2f the (masked) PICs; 0x30+n GSI n
 * for n < 64; 0xf0 the LAPIC timer; 0xff spurious. Interrupts are enabled
 * only inside plat_wait's `sti; hlt`, so handlers never interleave with the
 * kernel; they record the line in `pending`, mask it at the IOAPIC and EOI.
 */
#include "x86.h"

SHIM_CODE_BEGIN

#define VEC_IRQ0 0x30
#define VEC_TIMER 0xf0
#define MAX_LINES 64

/* ---- state ---- */

#define MAX_IOAPICS 8
static struct {
  uintptr_t base;
  uint32_t gsi_base, pins;
} ioapics[MAX_IOAPICS];
static unsigned n_ioapics;
static uint32_t redir_lo[MAX_LINES]; /* shadow of each line's low dword */
static uint8_t line_ioapic[MAX_LINES]; /* index + 1; 0: no pin */
static uint16_t line_flags[MAX_LINES]; /* MPS INTI flags from the MADT (0: bus default) */
static uint64_t lapic_phys;

/* ---- clock ---- */

static uint64_t ns_mult;     /* ns = ticks * ns_mult >> 32 */
static uint64_t tsc_mult;    /* tsc ticks = ns * tsc_mult >> 32 */
static uint64_t lapic_mult;  /* lapic ticks = ns * lapic_mult >> 32 */
static bool tsc_deadline;

static uint64_t mulshift32(uint64_t a, uint64_t b, bool *overflow) {
  unsigned __int128 p = (unsigned __int128)a * b >> 32;
  if (overflow) *overflow = (p >> 64) != 0;
  return (uint64_t)p;
}

/* (hz << 32) / 1e9, or (1e9 << 32) / hz: 128/64 division via divq. */
static uint64_t div_shift32(uint64_t n, uint64_t d) {
  uint64_t q, rem;
  __asm__("divq %4" : "=a"(q), "=d"(rem) : "a"(n << 32), "d"(n >> 32), "rm"(d));
  (void)rem;
  return q;
}

uint64_t plat_clock_ns(void) { return mulshift32(rdtsc() - boot_tsc0, ns_mult, 0); }

/* ---- LAPIC ---- */

#define LAPIC_ID 0x20
#define LAPIC_TPR 0x80
#define LAPIC_EOI 0xb0
#define LAPIC_SVR 0xf0
#define LAPIC_LVT_TIMER 0x320
#define LAPIC_LVT_ERROR 0x370
#define LAPIC_TICR 0x380
#define LAPIC_TCCR 0x390
#define LAPIC_TDCR 0x3e0
#define MSR_APIC_BASE 0x1b
#define MSR_TSC_DEADLINE 0x6e0

static uintptr_t lapic;
static uint32_t lapic_rd(uint32_t r) { return *(volatile uint32_t *)(lapic + r); }
static void lapic_wr(uint32_t r, uint32_t v) { *(volatile uint32_t *)(lapic + r) = v; }

/* ---- PIT calibration ---- */

static uint16_t pit_read(void) {
  outb(0x43, 0x00); /* latch channel 0 */
  uint8_t lo = inb(0x40);
  return (uint16_t)(lo | inb(0x40) << 8);
}

/* Counts TSC (and LAPIC timer) ticks over `ticks` PIT periods. Both ends are
 * the first reads that see a new count (reads take ~150 ns under TCG, a PIT
 * period is 838 ns), sampled the same way, so the error is one read. */
static bool pit_measure(uint32_t ticks, uint64_t *tsc, uint32_t *lapic_ticks) {
  uint16_t c0 = pit_read(), c;
  uint64_t t;
  uint32_t n = 0;
  do {
    t = rdtsc();
    c = pit_read();
    if (++n > 100000) return false; /* no PIT */
  } while (c == c0);
  uint64_t t0 = t;
  uint32_t l0 = lapic_rd(LAPIC_TCCR);
  c0 = c;
  do {
    t = rdtsc();
    c = pit_read();
    if (++n > 10000000) return false;
  } while ((uint16_t)(c0 - c) < ticks);
  uint32_t l1 = lapic_rd(LAPIC_TCCR);
  uint32_t el = (uint16_t)(c0 - c);
  *tsc = (t - t0) * 1193182ull / el;
  *lapic_ticks = (uint32_t)((uint64_t)(l0 - l1) * 1193182ull / el);
  return true;
}

/* The TSC and LAPIC-timer (divide 1) frequencies against PIT channel 0
 * (no port 0x61 gate: microvm has none). A first 0.1 ms run warms up the
 * code (under TCG the first run of a block includes its translation, which
 * skews the sampling by ~2%), the second measures 1 ms. */
static bool pit_calibrate(uint64_t *tsc_hz, uint64_t *lapic_hz) {
  uint32_t l;
  outb(0x43, 0x34); /* ch0, lo/hi, mode 2, binary, reload 65536 */
  outb(0x40, 0);
  outb(0x40, 0);
  lapic_wr(LAPIC_TDCR, 0xb);
  lapic_wr(LAPIC_LVT_TIMER, 0x10000 | VEC_TIMER); /* masked one-shot */
  lapic_wr(LAPIC_TICR, 0xffffffff);
  bool ok = pit_measure(120, tsc_hz, &l) && pit_measure(1193, tsc_hz, &l);
  lapic_wr(LAPIC_TICR, 0);
  *lapic_hz = l;
  return ok;
}

static uint64_t cpuid_tsc_hz(void) {
  uint32_t r[4], max;
  cpuid(0, 0, r);
  max = r[0];
  if (max >= 0x15) {
    cpuid(0x15, 0, r);
    if (r[0] && r[1] && r[2]) return (uint64_t)r[2] * r[1] / r[0];
  }
  cpuid(1, 0, r);
  if (r[2] & (1u << 31)) { /* hypervisor: leaf 0x40000010 = TSC kHz */
    cpuid(0x40000000, 0, r);
    if (r[0] >= 0x40000010) {
      cpuid(0x40000010, 0, r);
      if (r[0]) return (uint64_t)r[0] * 1000;
    }
  }
  if (max >= 0x16) {
    cpuid(0x16, 0, r);
    if (r[0] & 0xffff) return (uint64_t)(r[0] & 0xffff) * 1000000;
  }
  return 0;
}

void clock_init(void) {
  uint32_t r[4];
  cpuid(1, 0, r);
  tsc_deadline = (r[2] >> 24) & 1;
  uint64_t tsc_hz = cpuid_tsc_hz(), lapic_hz = 0;
  if (!tsc_hz || !tsc_deadline) {
    uint64_t t, l;
    if (pit_calibrate(&t, &l)) {
      if (!tsc_hz) tsc_hz = t;
      lapic_hz = l;
    }
  }
  if (!tsc_hz) {
    kputs("uniwasm: no TSC frequency (no CPUID leaf, no PIT); assuming 2 GHz\n");
    tsc_hz = 2000000000;
  }
  if (!tsc_deadline && !lapic_hz) { /* TSC from CPUID: time the LAPIC for 100 us */
    lapic_wr(LAPIC_TDCR, 0xb);
    lapic_wr(LAPIC_LVT_TIMER, 0x10000 | VEC_TIMER);
    lapic_wr(LAPIC_TICR, 0xffffffff);
    uint64_t t0 = rdtsc(), span = tsc_hz / 10000, t;
    uint32_t l0 = lapic_rd(LAPIC_TCCR);
    while ((t = rdtsc()) - t0 < span) __asm__ volatile("pause");
    uint32_t l1 = lapic_rd(LAPIC_TCCR);
    lapic_wr(LAPIC_TICR, 0);
    lapic_hz = (uint64_t)(l0 - l1) * tsc_hz / (t - t0);
  }
  ns_mult = div_shift32(1000000000ull, tsc_hz);
  tsc_mult = div_shift32(tsc_hz, 1000000000ull);
  lapic_mult = div_shift32(lapic_hz ? lapic_hz : 1000000000ull, 1000000000ull);
  lapic_wr(LAPIC_TDCR, 0xb);
  lapic_wr(LAPIC_LVT_TIMER, VEC_TIMER | (tsc_deadline ? 2u << 17 : 0));
#ifdef UNIWASM_BOOT_DEBUG
  kputs("tsc_hz "); kput_dec(tsc_hz); kputs(" lapic_hz "); kput_dec(lapic_hz);
  kputs(tsc_deadline ? " tsc-deadline\n" : " one-shot\n");
  kputs("ioapics "); kput_dec(n_ioapics); kputs(" lapic "); kput_hex(lapic_phys); kputs("\n");
  for (unsigned i = 0; i < MAX_LINES; i++) if (line_ioapic[i]) { kput_dec(i); kputs(":"); kput_hex(redir_lo[i]); kputs(" "); }
  kputs("\n");
#endif
}

/* ---- IOAPIC ---- */


static uint32_t ioapic_rd(uintptr_t b, uint32_t r) {
  *(volatile uint32_t *)b = r;
  return *(volatile uint32_t *)(b + 0x10);
}
static void ioapic_wr(uintptr_t b, uint32_t r, uint32_t v) {
  *(volatile uint32_t *)b = r;
  *(volatile uint32_t *)(b + 0x10) = v;
}

static void line_write(uint32_t line) {
  unsigned i = line_ioapic[line] - 1u;
  ioapic_wr(ioapics[i].base, 0x10 + 2 * (line - ioapics[i].gsi_base), redir_lo[line]);
}

void plat_irq_mask(uint32_t line) {
  if (line >= MAX_LINES || !line_ioapic[line]) return;
  redir_lo[line] |= 1u << 16;
  line_write(line);
}

void plat_irq_unmask(uint32_t line) {
  if (line >= MAX_LINES || !line_ioapic[line]) return;
  redir_lo[line] &= ~(1u << 16);
  line_write(line);
}

/* ---- ACPI MADT ---- */


static bool acpi_sum_ok(const uint8_t *p, uint32_t n) {
  uint8_t s = 0;
  while (n--) s = (uint8_t)(s + *p++);
  return s == 0;
}

static const uint8_t *acpi_table(uint64_t pa) {
  if (!pa || plat_mmio_map(pa, 36) < 0) return 0;
  const uint8_t *t = (const uint8_t *)(uintptr_t)pa;
  uint32_t len;
  __builtin_memcpy(&len, t + 4, 4);
  if (len < 36 || len > (1u << 20) || plat_mmio_map(pa, len) < 0 || !acpi_sum_ok(t, len)) return 0;
  return t;
}

static uint64_t find_rsdp(void) {
  if (boot_rsdp) return boot_rsdp;
  uint64_t ranges[2][2] = {{boot_ebda, boot_ebda + 1024}, {0xe0000, 0x100000}};
  for (int r = 0; r < 2; r++) {
    if (ranges[r][0] < 0x400 || ranges[r][1] > 0x100000) continue;
    for (uint64_t a = ranges[r][0]; a + 20 <= ranges[r][1]; a += 16) {
      const uint8_t *p = (const uint8_t *)(uintptr_t)a;
      if (!__builtin_memcmp(p, "RSD PTR ", 8) && acpi_sum_ok(p, 20)) return a;
    }
  }
  return 0;
}

static void add_ioapic(uint64_t addr, uint32_t gsi_base) {
  if (n_ioapics == MAX_IOAPICS || plat_mmio_map(addr, 0x20) < 0) return;
  uintptr_t b = (uintptr_t)addr;
  uint32_t pins = ((ioapic_rd(b, 1) >> 16) & 0xff) + 1;
  ioapics[n_ioapics++] = (typeof(ioapics[0])){b, gsi_base, pins};
}

static void parse_madt(void) {
  uint64_t rsdp = find_rsdp();
  if (!rsdp || plat_mmio_map(rsdp, 36) < 0) return;
  const uint8_t *p = (const uint8_t *)(uintptr_t)rsdp;
  uint32_t rsdt;
  uint64_t xsdt = 0;
  __builtin_memcpy(&rsdt, p + 16, 4);
  if (p[15] >= 2) __builtin_memcpy(&xsdt, p + 24, 8);
  const uint8_t *sdt = acpi_table(xsdt ? xsdt : rsdt);
  if (!sdt && xsdt) sdt = acpi_table(rsdt), xsdt = 0;
  if (!sdt) return;
  uint32_t len, esz = xsdt ? 8 : 4;
  __builtin_memcpy(&len, sdt + 4, 4);
  for (uint32_t off = 36; off + esz <= len; off += esz) {
    uint64_t pa = 0;
    __builtin_memcpy(&pa, sdt + off, esz);
    const uint8_t *t = acpi_table(pa);
    if (!t || __builtin_memcmp(t, "APIC", 4)) continue;
    uint32_t tlen, la;
    __builtin_memcpy(&tlen, t + 4, 4);
    __builtin_memcpy(&la, t + 36, 4);
    lapic_phys = la;
    for (uint32_t o = 44; o + 2 <= tlen && t[o + 1] >= 2 && o + t[o + 1] <= tlen; o += t[o + 1]) {
      const uint8_t *e = t + o;
      uint32_t a, g;
      uint16_t fl;
      switch (e[0]) {
        case 1: /* I/O APIC */
          __builtin_memcpy(&a, e + 4, 4);
          __builtin_memcpy(&g, e + 8, 4);
          add_ioapic(a, g);
          break;
        case 2: /* interrupt source override (ISA IRQ e[3] -> GSI g) */
          __builtin_memcpy(&g, e + 4, 4);
          __builtin_memcpy(&fl, e + 8, 2);
          if (g < MAX_LINES) line_flags[g] = fl | 0x8000; /* 0x8000: set by an override */
          break;
        case 5: /* LAPIC address override */
          __builtin_memcpy(&lapic_phys, e + 4, 8);
          break;
      }
    }
    return;
  }
}

void irq_init(void) {
  /* 8259s: remap to 0x20-0x2f (so spurious IRQs miss the exceptions), mask all. */
  static const uint8_t pic[] = {0x20, 0x11, 0xa0, 0x11, 0x21, 0x20, 0xa1, 0x28,
                                0x21, 0x04, 0xa1, 0x02, 0x21, 0x01, 0xa1, 0x01, 0x21, 0xff, 0xa1, 0xff};
  for (unsigned i = 0; i < sizeof pic; i += 2) outb(pic[i], pic[i + 1]);

  parse_madt();
  uint64_t base = rdmsr(MSR_APIC_BASE);
  wrmsr(MSR_APIC_BASE, base | (1u << 11)); /* xAPIC enable */
  if (!lapic_phys) lapic_phys = base & 0xffffff000ull;
  if (!n_ioapics) add_ioapic(0xfec00000, 0);
  if (plat_mmio_map(lapic_phys, 0x1000) < 0) plat_exit(3);
  lapic = (uintptr_t)lapic_phys;
  lapic_wr(LAPIC_TPR, 0);
  lapic_wr(LAPIC_LVT_ERROR, 0x10000);
  lapic_wr(LAPIC_SVR, 0x100 | 0xff);
  uint32_t dest = lapic_rd(LAPIC_ID) >> 24;

  for (unsigned i = 0; i < n_ioapics; i++) {
    for (uint32_t pin = 0; pin < ioapics[i].pins; pin++) {
      uint32_t gsi = ioapics[i].gsi_base + pin;
      uintptr_t b = ioapics[i].base;
      if (gsi >= MAX_LINES) {
        ioapic_wr(b, 0x10 + 2 * pin, 1u << 16);
        continue;
      }
      /* Polarity (bits 0-1) and trigger (bits 2-3): 1 = high/edge, 3 =
       * low/level, 0 = bus default: ISA (GSI < 16) edge/high, PCI level/low. */
      uint16_t fl = line_flags[gsi];
      bool isa = gsi < 16 || (fl & 0x8000);
      bool low = (fl & 3) == 3 || ((fl & 3) == 0 && !isa);
      bool level = ((fl >> 2) & 3) == 3 || (((fl >> 2) & 3) == 0 && !isa);
      redir_lo[gsi] = (VEC_IRQ0 + gsi) | (low ? 1u << 13 : 0) | (level ? 1u << 15 : 0) | (1u << 16);
      line_ioapic[gsi] = (uint8_t)(i + 1);
      ioapic_wr(b, 0x11 + 2 * pin, dest << 24);
      ioapic_wr(b, 0x10 + 2 * pin, redir_lo[gsi]);
    }
  }
}

/* ---- interrupts and wait ---- */

static volatile uint64_t pending;

void irq_dispatch(uint32_t vector) {
  if (vector >= VEC_IRQ0 && vector < VEC_IRQ0 + MAX_LINES) {
    uint32_t line = vector - VEC_IRQ0;
    pending |= 1ull << line;
    plat_irq_mask(line);
    lapic_wr(LAPIC_EOI, 0);
  } else if (vector == VEC_TIMER) {
    lapic_wr(LAPIC_EOI, 0);
  } else if (vector >= 0x20 && vector < 0x30) { /* stray 8259 interrupt */
    if (vector >= 0x28) outb(0xa0, 0x20);
    outb(0x20, 0x20);
  }
}

static void timer_arm(uint64_t deadline, uint64_t now) {
  if (tsc_deadline) {
    bool ovf;
    uint64_t t = mulshift32(deadline, tsc_mult, &ovf) + boot_tsc0;
    wrmsr(MSR_TSC_DEADLINE, ovf || t < boot_tsc0 ? ~0ull : t);
  } else {
    bool ovf;
    uint64_t n = mulshift32(deadline - now, lapic_mult, &ovf) + 1;
    lapic_wr(LAPIC_TICR, ovf || n > 0xffffffffu ? 0xffffffffu : (uint32_t)n);
  }
}

static void timer_disarm(void) {
  if (tsc_deadline)
    wrmsr(MSR_TSC_DEADLINE, 0);
  else
    lapic_wr(LAPIC_TICR, 0);
}

uint64_t plat_wait(uint64_t deadline) {
  bool armed = false;
  cli();
  while (!pending) {
    if (deadline != UINT64_MAX) {
      uint64_t now = plat_clock_ns();
      if (now >= deadline) break;
      timer_arm(deadline, now);
      armed = true;
    }
    /* sti takes effect after the next instruction: no wakeup is lost
     * between the check above and the halt. */
    __asm__ volatile("sti; hlt; cli" ::: "memory");
  }
  if (armed) timer_disarm();
  uint64_t r = pending;
  pending = 0;
  return r;
}

SHIM_CODE_END
