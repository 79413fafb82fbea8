/*
 * The clock (TSC), the interrupt controllers (8259 PICs masked, LAPIC,
 * IOAPICs from the ACPI MADT) and plat_wait.
 *
 * Vectors: 0x00-0x1f exceptions; 0x20-0x2f the (masked) PICs; 0x30+n GSI n
 * for n < 63 (line 63 is the stop request, PLAT_STOP_LINE: acpi.c); 0xf0 the LAPIC timer; 0xff spurious. Interrupts are enabled
 * only inside plat_wait's `sti; hlt`, so handlers never interleave with the
 * kernel; they record the line in `pending`, mask it at the IOAPIC if it is
 * level-triggered, and EOI.
 *
 * Boot time: under QEMU's TCG, first executing a piece of guest code costs
 * ~1-2 us per instruction (translation), far more than running it. So only
 * the start of the TSC calibration runs at boot (clock_init); the rest is
 * done on first use: the end of the calibration on the first plat_clock_ns()
 * or plat_wait(), the PICs and the LAPIC on the first plat_wait(), the ACPI
 * MADT (or, without one, the ELCR) and the IOAPICs on the first
 * plat_irq_mask/unmask(). Until then interrupts are off (IF=0 outside
 * plat_wait), and the IOAPICs are as the firmware left them: all entries
 * masked (their reset state; SeaBIOS and qboot do not use them).
 */
#include "x86.h"

SHIM_CODE_BEGIN

#define VEC_IRQ0 0x30
#define VEC_TIMER 0xf0
#define MAX_LINES 64
#define PIT_HZ 1193182ull

/* ---- clock ---- */

static uint64_t tsc_hz;
static uint64_t ns_mult;    /* ns = tsc ticks * ns_mult >> 32 */
static uint64_t tsc_mult;   /* tsc ticks = ns * tsc_mult >> 32 */
static uint64_t lapic_mult; /* lapic ticks = ns * lapic_mult >> 32 */
static bool tsc_deadline;

static uint64_t mulshift32(uint64_t a, uint64_t b, bool *overflow) {
  unsigned __int128 p = (unsigned __int128)a * b >> 32;
  if (overflow) *overflow = (p >> 64) != 0;
  return (uint64_t)p;
}

/* (n << 32) / d as a 128/64 division (divq); needs n < d << 32. */
static uint64_t div_shift32(uint64_t n, uint64_t d) {
  uint64_t q, rem;
  __asm__("divq %4" : "=a"(q), "=d"(rem) : "a"(n << 32), "d"(n >> 32), "rm"(d));
  (void)rem;
  return q;
}

static void set_tsc_hz(uint64_t hz) {
  tsc_hz = hz;
  ns_mult = div_shift32(1000000000ull, hz);
  tsc_mult = div_shift32(hz, 1000000000ull);
}

/* ---- TSC frequency ----
 *
 * CPUID leaf 0x15, the hypervisor leaf 0x40000010 or leaf 0x16 give it where
 * present (not under TCG). Otherwise it is measured against PIT channel 0
 * (no port 0x61 gate: microvm has none), overlapping the rest of the boot:
 * clock_init() takes a start sample and a rough 27 us estimate (enough to
 * count PIT wraps, one every 54.9 ms, for 1 s; after that, or if the result
 * is implausible, a new 1 ms measurement), and the first plat_clock_ns() or
 * plat_wait() takes the end sample -- waiting only if less than 1 ms has
 * passed. Both samples are PIT reads that see a new count (a read costs
 * ~150 ns under TCG, a PIT tick is 838 ns) without a stall, so the error is
 * ~0.03% over 1 ms, far less over the usual longer window. */

static bool clock_pending; /* end sample not taken yet */
static uint64_t cal_t0, cal_rough_hz;
static uint16_t cal_c0;

static uint16_t pit_read(void) {
  outb(0x43, 0x00); /* latch channel 0 */
  uint8_t lo = inb(0x40);
  return (uint16_t)(lo | inb(0x40) << 8);
}

/* Reads the PIT until a read sees the count change, at least `ticks`
 * periods after count c0, and that read and the one before it ran without
 * a stall: at most twice the shortest read seen. A stall between reading
 * the TSC and latching the PIT -- a preempted vCPU, or under TCG the first
 * run of the loop, which includes its translation -- would skew the sample
 * by its length. *t: the TSC just before that read; *c: its count. The count
 * edge lies within one read of *t. false: the PIT does not count. */
static bool pit_span(uint16_t c0, uint32_t ticks, uint64_t *t, uint16_t *c) {
  uint64_t pa = rdtsc(), best = ~0ull;
  uint16_t pv = pit_read();
  for (uint32_t n = 0; n < 1000000; n++) {
    uint64_t a = rdtsc();
    uint16_t v = pit_read();
    uint64_t iv = rdtsc() - pa;
    if (iv < best) best = iv;
    if (v != pv && (uint16_t)(c0 - v) >= ticks && n > 2 && iv <= 2 * best) {
      *t = a;
      *c = v;
      return true;
    }
    pa = a;
    pv = v;
  }
  return false;
}

static bool pit_edge(uint64_t *t, uint16_t *c) { return pit_span(pit_read(), 1, t, c); }

static uint64_t pit_hz(uint64_t t0, uint64_t t1, uint64_t ticks) { return (t1 - t0) * PIT_HZ / ticks; }

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
  uint64_t hz = cpuid_tsc_hz(), t;
  uint16_t c;
  if (hz) {
    set_tsc_hz(hz);
    return;
  }
  outb(0x43, 0x34); /* ch0, lo/hi, mode 2 (rate generator), binary, reload 65536 */
  outb(0x40, 0);
  outb(0x40, 0);
  if (!pit_edge(&cal_t0, &cal_c0)) {
    kputs("uniwasm: no TSC frequency (no CPUID leaf, no PIT): assuming 2 GHz\n");
    set_tsc_hz(2000000000);
    return;
  }
  pit_span(cal_c0, 32, &t, &c);
  cal_rough_hz = pit_hz(cal_t0, t, (uint16_t)(cal_c0 - c));
  set_tsc_hz(cal_rough_hz);
  clock_pending = true;
}

static void clock_finish(void) {
  uint64_t t;
  uint16_t c;
  clock_pending = false;
  if (!pit_edge(&t, &c)) return; /* keep the rough value */
  uint64_t expect = (t - cal_t0) * PIT_HZ / cal_rough_hz; /* PIT ticks, roughly */
  uint64_t el = (uint16_t)(cal_c0 - c);
  if (expect > PIT_HZ) { /* too long to count wraps (rough error ~1%): measure 1 ms now */
    uint64_t t0;
    uint16_t c0;
    pit_edge(&t0, &c0);
    pit_span(c0, 1193, &t, &c);
    set_tsc_hz(pit_hz(t0, t, (uint16_t)(c0 - c)));
  } else {
    if (expect + 32768 > el) el += (expect + 32768 - el) / 65536 * 65536; /* wraps */
    if (el < 1193) { /* less than 1 ms so far: extend the window */
      pit_span(cal_c0, 1193, &t, &c);
      el = (uint16_t)(cal_c0 - c);
    }
    uint64_t hz = pit_hz(cal_t0, t, el);
    if (hz > cal_rough_hz + cal_rough_hz / 8 || hz < cal_rough_hz - cal_rough_hz / 8) { /* cannot be */
      uint64_t t0;
      uint16_t c0;
      pit_edge(&t0, &c0);
      pit_span(c0, 1193, &t, &c);
      hz = pit_hz(t0, t, (uint16_t)(c0 - c));
    }
    set_tsc_hz(hz);
  }
#ifdef UNIWASM_BOOT_DEBUG
  kputs("[clock: tsc_hz ");
  kput_dec(tsc_hz);
  kputs(" rough ");
  kput_dec(cal_rough_hz);
  kputs(" window ");
  kput_dec(el);
  kputs(" PIT ticks]\n");
#endif
}

uint64_t plat_clock_ns(void) {
  if (__builtin_expect(clock_pending, 0)) clock_finish();
  return mulshift32(rdtsc() - boot_tsc0, ns_mult, 0);
}

/* ---- LAPIC (set up by the first plat_wait) ---- */

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

/* LAPIC timer ticks (divide 1) per TSC tick over ~200 us, sampling the TSC
 * on both sides of each counter read. */
static void lapic_calibrate(void) {
  lapic_wr(LAPIC_TDCR, 0xb);                      /* divide by 1 */
  lapic_wr(LAPIC_LVT_TIMER, 0x10000 | VEC_TIMER); /* masked one-shot */
  lapic_wr(LAPIC_TICR, 0xffffffff);
  uint64_t a0 = rdtsc();
  uint32_t l0 = lapic_rd(LAPIC_TCCR);
  uint64_t b0 = rdtsc(), span = tsc_hz / 5000, a1, b1;
  uint32_t l1;
  do {
    a1 = rdtsc();
    l1 = lapic_rd(LAPIC_TCCR);
    b1 = rdtsc();
  } while (a1 - a0 < span);
  uint64_t dt = (a1 + b1) / 2 - (a0 + b0) / 2;
  lapic_mult = div_shift32((uint64_t)(l0 - l1) * tsc_hz / dt, 1000000000ull);
}

static bool wait_ready;

static void wait_setup(void) {
  /* 8259s: remap to 0x20-0x2f (so spurious IRQs miss the exceptions), mask all. */
  static const uint8_t pic[] = {0x20, 0x11, 0xa0, 0x11, 0x21, 0x20, 0xa1, 0x28,
                                0x21, 0x04, 0xa1, 0x02, 0x21, 0x01, 0xa1, 0x01, 0x21, 0xff, 0xa1, 0xff};
  for (unsigned i = 0; i < sizeof pic; i += 2) outb(pic[i], pic[i + 1]);
  uint64_t base = rdmsr(MSR_APIC_BASE);
  wrmsr(MSR_APIC_BASE, base | (1u << 11)); /* xAPIC enable */
  base &= 0xffffff000ull;
  if (plat_mmio_map(base, 0x1000) < 0) plat_exit(RT_EXIT_RUNTIME);
  lapic = (uintptr_t)base;
  lapic_wr(LAPIC_TPR, 0);
  lapic_wr(LAPIC_LVT_ERROR, 0x10000);
  lapic_wr(LAPIC_SVR, 0x100 | 0xff);
  uint32_t r[4];
  cpuid(1, 0, r);
  tsc_deadline = (r[2] >> 24) & 1;
  if (!tsc_deadline) lapic_calibrate();
  lapic_wr(LAPIC_TICR, 0);
  lapic_wr(LAPIC_LVT_TIMER, VEC_TIMER | (tsc_deadline ? 2u << 17 : 0));
  wait_ready = true;
#ifdef UNIWASM_BOOT_DEBUG
  kputs(tsc_deadline ? "[timer: TSC-deadline]\n" : "[timer: LAPIC one-shot, ticks/s ");
  if (!tsc_deadline) {
    kput_dec(mulshift32(1000000000ull, lapic_mult, 0));
    kputs("]\n");
  }
#endif
}

/* ---- IOAPICs (set up by the first plat_irq_mask/unmask) ---- */

#define MAX_IOAPICS 8
static struct {
  uintptr_t base;
  uint32_t gsi_base, pins;
} ioapics[MAX_IOAPICS];
static unsigned n_ioapics;
static bool ioapic_ready;
static uint32_t lapic_id;
static uint32_t redir_lo[MAX_LINES];   /* each line's low dword (vector, polarity, trigger, mask) */
static uint8_t line_ioapic[MAX_LINES]; /* index + 1; 0: no pin */
static uint16_t line_flags[MAX_LINES]; /* MADT INTI flags; 0x8000: from an override */

static uint32_t ioapic_rd(uintptr_t b, uint32_t r) {
  *(volatile uint32_t *)b = r;
  return *(volatile uint32_t *)(b + 0x10);
}
static void ioapic_wr(uintptr_t b, uint32_t r, uint32_t v) {
  *(volatile uint32_t *)b = r;
  *(volatile uint32_t *)(b + 0x10) = v;
}

static void add_ioapic(uint64_t addr, uint32_t gsi_base) {
  if (n_ioapics == MAX_IOAPICS || plat_mmio_map(addr, 0x20) < 0) return;
  uintptr_t b = (uintptr_t)addr;
  uint32_t pins = ((ioapic_rd(b, 1) >> 16) & 0xff) + 1;
  ioapics[n_ioapics++] = (typeof(ioapics[0])){b, gsi_base, pins};
}

/* MADT: IOAPICs (type 1) and interrupt source overrides (type 2). */
static void parse_madt(void) {
  const uint8_t *t = acpi_find("APIC");
  if (!t) return;
  uint32_t tlen;
  __builtin_memcpy(&tlen, t + 4, 4);
  for (uint32_t o = 44; o + 2 <= tlen && t[o + 1] >= 2 && o + t[o + 1] <= tlen; o += t[o + 1]) {
    const uint8_t *e = t + o;
    uint32_t a, g;
    uint16_t fl;
    if (e[0] == 1) { /* I/O APIC */
      __builtin_memcpy(&a, e + 4, 4);
      __builtin_memcpy(&g, e + 8, 4);
      add_ioapic(a, g);
    } else if (e[0] == 2) { /* interrupt source override: ISA IRQ e[3] -> GSI g */
      __builtin_memcpy(&g, e + 4, 4);
      __builtin_memcpy(&fl, e + 8, 2);
      if (g < MAX_LINES) line_flags[g] = fl | 0x8000;
    }
  }
}

/* Without a MADT nothing says which ISA IRQs carry PCI INTx, which is
 * level-triggered: the firmware that routed them (SeaBIOS on pc and q35)
 * marked them in the ELCR, the 8259s' edge/level control registers at ports
 * 0x4d0/0x4d1 (bit n: IRQ n level). The IOAPIC pin of such an IRQ is then
 * level-triggered, active high (what QEMU's own MADT says for the same
 * lines: its PIRQ router drives the ISA line high). IRQs 0, 1, 2, 8 and 13
 * cannot be level on a PC, so an ELCR with one of those bits set is absent
 * (reads as all ones) and ignored. microvm's ELCR reads 0: its virtio-mmio
 * lines stay edge-triggered, which irq_dispatch copes with (see there). */
static void read_elcr(void) {
  uint32_t elcr = inb(0x4d0) | (uint32_t)inb(0x4d1) << 8;
  if (elcr & 0x2107) return;
  for (uint32_t irq = 3; irq < 16; irq++)
    if ((elcr >> irq & 1) && !(line_flags[irq] & 0x8000)) line_flags[irq] = 0x000d; /* level, high */
}

static void ioapic_setup(void) {
  /* Have the LAPIC accepting before any IOAPIC entry is unmasked. */
  if (!wait_ready) wait_setup();
  ioapic_ready = true;
  uint32_t r[4];
  cpuid(1, 0, r);
  lapic_id = r[1] >> 24;
  parse_madt();
  if (!n_ioapics) { /* no MADT: the PC default */
    add_ioapic(0xfec00000, 0);
    if (!line_flags[2]) line_flags[2] = 0x8000; /* IRQ 0 -> GSI 2 */
    read_elcr();
  }
  for (unsigned i = 0; i < n_ioapics; i++) {
    uintptr_t b = ioapics[i].base;
    for (uint32_t pin = 0; pin < ioapics[i].pins; pin++) {
      uint32_t gsi = ioapics[i].gsi_base + pin, reg = 0x10 + 2 * pin;
      if (!(ioapic_rd(b, reg) & (1u << 16))) ioapic_wr(b, reg, 1u << 16);
      if (gsi >= PLAT_STOP_LINE) continue; /* line 63 is the stop request's */
      /* Polarity (bits 0-1) and trigger (bits 2-3): 1 = high/edge, 3 =
       * low/level, 0 = bus default: ISA (GSI < 16, or named by an override)
       * edge/high, PCI level/low. */
      uint16_t fl = line_flags[gsi];
      bool isa = gsi < 16 || (fl & 0x8000);
      bool low = (fl & 3) == 3 || ((fl & 3) == 0 && !isa);
      bool level = ((fl >> 2) & 3) == 3 || (((fl >> 2) & 3) == 0 && !isa);
      redir_lo[gsi] = (VEC_IRQ0 + gsi) | (low ? 1u << 13 : 0) | (level ? 1u << 15 : 0) | (1u << 16);
      line_ioapic[gsi] = (uint8_t)(i + 1);
    }
  }
#ifdef UNIWASM_BOOT_DEBUG
  kputs("[ioapics ");
  kput_dec(n_ioapics);
  for (unsigned i = 0; i < MAX_LINES; i++)
    if (line_ioapic[i]) {
      kputs(" ");
      kput_dec(i);
      kputs(":");
      kput_hex(redir_lo[i]);
    }
  kputs("]\n");
#endif
}

static void line_write(uint32_t line) {
  unsigned i = line_ioapic[line] - 1u;
  uint32_t reg = 0x10 + 2 * (line - ioapics[i].gsi_base);
  if (!(redir_lo[line] & (1u << 16))) ioapic_wr(ioapics[i].base, reg + 1, lapic_id << 24);
  ioapic_wr(ioapics[i].base, reg, redir_lo[line]);
}

void plat_irq_mask(uint32_t line) {
  if (!ioapic_ready) ioapic_setup();
  if (line >= MAX_LINES || !line_ioapic[line]) return;
  redir_lo[line] |= 1u << 16;
  line_write(line);
}

void plat_irq_unmask(uint32_t line) {
  if (!ioapic_ready) ioapic_setup();
  if (line >= MAX_LINES || !line_ioapic[line] || !(redir_lo[line] & (1u << 16))) return;
  redir_lo[line] &= ~(1u << 16);
  line_write(line);
}

/* ---- interrupts and wait ---- */

static volatile uint64_t pending;
static uint64_t shim_lines;   /* lines the shim services itself (the ACPI SCI) */
static uint32_t sci_spurious; /* SCIs in a row with no power button press */

void irq_line_service(uint32_t gsi) {
  if (gsi >= PLAT_STOP_LINE) return;
  shim_lines |= 1ull << gsi;
  plat_irq_unmask(gsi);
}

void irq_dispatch(uint32_t vector) {
  if (vector >= VEC_IRQ0 && vector < VEC_IRQ0 + MAX_LINES) {
    uint32_t line = vector - VEC_IRQ0;
    if (shim_lines & (1ull << line)) {
      /* The SCI: acpi_sci acknowledges it; a power button press becomes
       * the stop request. An SCI nobody here enabled that keeps coming
       * (a level line some other event holds) is masked for good. */
      if (acpi_sci(line) == 2) {
        pending |= 1ull << PLAT_STOP_LINE;
        sci_spurious = 0;
      } else if (++sci_spurious > 1000) {
        kputs("uniwasm: ACPI SCI keeps firing without a power button event: masked\n");
        plat_irq_mask(line);
      }
      lapic_wr(LAPIC_EOI, 0);
      return;
    }
    pending |= 1ull << line;
    /* A level-triggered line stays masked until its driver has serviced the
     * device (plat_irq_unmask), or it would fire again at once. An edge-
     * triggered one is left open: an edge that arrived while it was masked
     * would be lost for good (the IOAPIC ignores it), and a device that
     * raised its line meanwhile would never give another edge. */
    if (redir_lo[line] & (1u << 15)) plat_irq_mask(line);
    lapic_wr(LAPIC_EOI, 0);
  } else if (vector == VEC_TIMER) {
    lapic_wr(LAPIC_EOI, 0);
  } else if (vector >= 0x20 && vector < 0x30) { /* stray 8259 interrupt */
    if (vector >= 0x28) outb(0xa0, 0x20);
    outb(0x20, 0x20);
  }
}

static void timer_arm(uint64_t deadline, uint64_t now) {
  bool ovf;
  if (tsc_deadline) {
    uint64_t t = mulshift32(deadline, tsc_mult, &ovf) + boot_tsc0;
    wrmsr(MSR_TSC_DEADLINE, ovf || t < boot_tsc0 ? ~0ull : t);
  } else {
    /* Aim ~0.2% early (calibration error): an early wakeup re-arms for the rest. */
    uint64_t n = mulshift32(deadline - now, lapic_mult, &ovf);
    n -= n >> 9;
    lapic_wr(LAPIC_TICR, ovf || n >= 0xffffffffu ? 0xffffffffu : (uint32_t)n + 1);
  }
}

uint64_t plat_wait(uint64_t deadline) {
  bool armed = false;
  cli();
  if (clock_pending) clock_finish();
  if (!wait_ready) wait_setup();
  /* Interrupts are off outside this function, so a poll (a deadline already
   * past) must open a window for lines that fired since the last wait;
   * otherwise a kernel busy with ready work would never see them. */
  __asm__ volatile("sti; nop; cli" ::: "memory");
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
  if (armed) {
    if (tsc_deadline)
      wrmsr(MSR_TSC_DEADLINE, 0);
    else
      lapic_wr(LAPIC_TICR, 0);
  }
  uint64_t r = pending;
  pending = 0;
  return r;
}

SHIM_CODE_END
